"""The unified rep scorecard (DOMAIN §9): for one month, per rep, the contact-plan work, the
referral quota, CVP, saves and losses, and the rewards and penalties of the referral policy.

Each column is the figure of the page that owns it, read through that page's selector:

- tasks: ``followups.compliance.plan_compliance`` for the tasks due in the month;
- quota, credited referrals, reward and penalty: ``referrals.insights.scorecard`` for the month
  (sales whose quota deadline falls in it; reward and penalty by ``ReferralPolicy``);
- CVP: ``feedback.measures.cvp_by_rep`` for surveys about the month's events;
- saves: ``analytics.risk_selectors.saves_by_rep_month`` (win-backs saved in the month);
- lost: customers recorded lost in the month, credited to the loss's rep.

Rows: the people the viewer reviews (``followups.compliance.people_scope``: a rep themselves, a
manager their teams and, by policy, store, the owner everyone), narrowed by store, team and rep;
every active rep shows even with nothing to count, anyone else when they have a figure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count
from django.utils import timezone

from huitou.accounts import permissions
from huitou.core.months import month_first, month_last

if TYPE_CHECKING:
    from huitou.accounts.models import User
    from huitou.accounts.policy import ReferralPolicy

COUNTS = (
    "tasks_due",
    "tasks_on_time",
    "tasks_late",
    "tasks_missed",
    "tasks_overdue",
    "sold",
    "quota_met",
    "quota_pending",
    "quota_missed",
    "verified",
    "won",
    "faked",
    "cvp_answers",
    "cvp_top",
    "saved",
    "lost",
)


@dataclass(frozen=True)
class RepScore:
    user_id: int
    username: str
    name: str
    store: str
    team: str
    tasks_due: int = 0  # due by today or already done (compliance's "due")
    tasks_on_time: int = 0
    tasks_late: int = 0
    tasks_missed: int = 0
    tasks_overdue: int = 0
    sold: int = 0
    quota_met: int = 0
    quota_pending: int = 0
    quota_missed: int = 0
    verified: int = 0
    won: int = 0
    faked: int = 0
    cvp_answers: int = 0
    cvp_top: int = 0
    saved: int = 0
    lost: int = 0
    reward: Decimal = Decimal("0")
    penalty: Decimal = Decimal("0")

    @property
    def on_time_rate(self) -> float | None:
        return self.tasks_on_time / self.tasks_due if self.tasks_due else None

    @property
    def cvp(self) -> float | None:
        return self.cvp_top / self.cvp_answers if self.cvp_answers else None

    @property
    def net(self) -> Decimal:
        return self.reward - self.penalty


@dataclass(frozen=True)
class RepScorecard:
    month: dt.date
    start: dt.date
    end: dt.date
    rows: list[RepScore]
    totals: RepScore
    policy: ReferralPolicy


def can_view_scorecard(viewer: User) -> bool:
    """Reps see their own row, managers their people's, the owner everyone's."""
    from huitou.referrals import insights

    return insights.can_view_scorecard(viewer)


def people(viewer: User, *, store_id: int | None = None, team_id: int | None = None) -> list[dict[str, Any]]:
    """The people whose rows ``viewer`` may see, narrowed by store and team (one query)."""
    from huitou.accounts.models import User as UserModel
    from huitou.followups.compliance import people_scope

    if not permissions.is_active_member(viewer):
        return []
    qs = UserModel.objects.filter(people_scope(viewer), organisation_id=permissions.org_id(viewer))
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    rows = qs.values(
        "pk", "username", "display_name", "role", "is_active", "left_at", "store__name", "team__name"
    ).order_by("store__name", "username")
    return [dict(r) for r in rows]


def _losses(viewer: User, start: dt.date, end: dt.date) -> dict[int, int]:
    """Customers in the viewer's scope recorded lost from ``start`` to ``end``, per credited rep."""
    from huitou.analytics.models import CustomerLoss

    rows = (
        CustomerLoss.objects.filter(
            permissions.customer_scope(viewer, "customer__"),
            organisation_id=permissions.org_id(viewer),
            lost_on__gte=start,
            lost_on__lte=end,
            rep_id__isnull=False,
        )
        .values("rep_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("rep_id", "n")
    )
    return {int(r): int(n) for r, n in rows}


def rep_scorecard(
    viewer: User,
    *,
    month: dt.date,
    store_id: int | None = None,
    team_id: int | None = None,
    rep_id: int | None = None,
    today: dt.date | None = None,
) -> RepScorecard:
    from huitou.analytics import risk_selectors
    from huitou.feedback import measures
    from huitou.followups import compliance
    from huitou.referrals import insights

    today = today or timezone.localdate()
    first, last = month_first(month), month_last(month)
    policy = viewer.organisation.policy.referrals  # type: ignore[union-attr]
    persons = people(viewer, store_id=store_id, team_id=team_id)
    if rep_id is not None:
        persons = [p for p in persons if p["pk"] == rep_id]
    per: dict[int, dict[str, Any]] = {p["pk"]: {} for p in persons}

    def put(user_id: int | None, **values: Any) -> None:
        if user_id in per:
            per[user_id].update(values)

    for c in compliance.plan_compliance(
        viewer, start=first, end=last, store_id=store_id, team_id=team_id, today=today
    ):
        put(
            c.user_id,
            tasks_due=c.due,
            tasks_on_time=c.on_time,
            tasks_late=c.late,
            tasks_missed=c.missed,
            tasks_overdue=c.open_overdue,
        )
    card = insights.scorecard(viewer, month=first, store_id=store_id, team_id=team_id, today=today)
    for s in card.rows:
        put(
            s.user_id,
            sold=s.sold,
            quota_met=s.met,
            quota_pending=s.pending,
            quota_missed=s.missed,
            verified=s.verified,
            won=s.won,
            faked=s.faked,
            reward=s.reward,
            penalty=s.penalty,
        )
    for v in measures.cvp_by_rep(viewer, start=first, end=first):
        put(v.key, cvp_answers=v.answers, cvp_top=v.top)
    for w in risk_selectors.saves_by_rep_month(viewer, start=first, end=last):
        if w.rep_id in per:
            per[w.rep_id]["saved"] = per[w.rep_id].get("saved", 0) + w.saves
    for user_id, n in _losses(viewer, first, last).items():
        put(user_id, lost=n)

    rows = []
    for p in persons:
        values = per[p["pk"]]
        active_rep = p["role"] == permissions.REP and p["is_active"] and p["left_at"] is None
        if not active_rep and not any(values.get(k) for k in COUNTS):
            continue
        rows.append(
            RepScore(
                user_id=p["pk"],
                username=p["username"],
                name=p["display_name"] or p["username"],
                store=p["store__name"] or "",
                team=p["team__name"] or "",
                **values,
            )
        )
    return RepScorecard(month=first, start=first, end=last, rows=rows, totals=totals_of(rows), policy=policy)


def totals_of(rows: list[RepScore]) -> RepScore:
    sums: dict[str, Any] = {k: sum(getattr(r, k) for r in rows) for k in COUNTS}
    sums["reward"] = sum((r.reward for r in rows), Decimal("0"))
    sums["penalty"] = sum((r.penalty for r in rows), Decimal("0"))
    return RepScore(user_id=0, username="", name="", store="", team="", **sums)


def row_dict(row: RepScore) -> dict[str, Any]:
    """A row with its derived figures, for the API and the export."""
    out = {f.name: getattr(row, f.name) for f in fields(row)}
    out.update(on_time_rate=row.on_time_rate, cvp=row.cvp, net=row.net)
    return out
