"""Quotas, the rep scorecard and the referral insights (DOMAIN §5). Reads only.

Definitions used throughout (the pages repeat them in words):

- **Sale**: a purchase whose kind is not ``service``. Its **delivery day** is the first of promised
  delivery, expected arrival and order date that is set. For quotas a sale is one customer, one
  delivery day and one rep: two purchases of one customer delivered the same day by the same rep
  are one sale.
- **A viewer's sales** (viral coefficient, referral-rate curve, quota periods, totals): the sales
  whose own rep and store are in the viewer's scope, as their referrals are by the credited rep
  and store — a rep's are the sales they made; a manager's those made by their team's reps or, by
  policy, at their store, whoever owns the customer today; the owner's every sale.
- **Counted referral**: stage verified, contacted, quoted, won or lost, and review not pending or
  rejected (``Referral.counts``). **Won**: stage won, review not pending or rejected.
- A referral **counts toward** the sale of its referrer whose delivery day is the latest one on or
  before the referral's submission day (local date), when it was submitted within ``quota_days``
  of that day (day D itself up to day D + ``quota_days`` inclusive). A later sale to the same
  customer starts a new window, whoever made it.
- **Quota** N of a sale: policy ``quota``; for a delivery day covered by ``quota_periods``, the
  quota of the period with the latest ``starts_on`` on or before that day. The **deadline** is the
  delivery day + ``quota_days``. Status: *met* when the counted referrals reach N (whenever the
  audit confirmed them); otherwise *pending* up to and including the deadline, *missed* after it.

Aggregates are GROUP BY queries; the attribution of referrals to sales (which needs "the latest
sale on or before") is done on the grouped rows with numpy, never one query per row. To decide
where a window ends, the sales of the same customers made by anyone are read (a later sale by a
colleague still ends it); only counts come out of that read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import ExtractDay, ExtractMonth, ExtractYear, TruncDate, TruncMonth
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from huitou.accounts import permissions
from huitou.core.errors import ValidationFailed
from huitou.core.months import month_first, month_last
from huitou.core.months import month_start_after as add_months
from huitou.customers.models import Purchase
from huitou.followups.compliance import people_scope

from .models import COUNTED_STAGES, Referral, ReferrerStats, ReferrerType, Review, Stage
from .selectors import referral_queryset

if TYPE_CHECKING:
    from huitou.accounts.models import User
    from huitou.accounts.policy import ReferralPolicy

MAX_MONTHS = 36
CURVE_MONTHS = 12
_SHIFT = 20  # days since 1970 fit in 20 bits until the year 4840
_MASK = (1 << _SHIFT) - 1
REVIEW_OK = ("", Review.APPROVED)
COUNTED = Q(stage__in=COUNTED_STAGES, review__in=REVIEW_OK)
WON = Q(stage=Stage.WON, review__in=REVIEW_OK)
FUNNEL_STAGES = ("submitted", "verified", "contacted", "quoted", "won")
SCORECARD_ROLES = {permissions.OWNER, permissions.MANAGER, permissions.REP}


def can_view_scorecard(user: User) -> bool:
    """Reps see their own scorecard, managers their people's, the owner everyone's."""
    return permissions.is_active_member(user) and user.role in SCORECARD_ROLES


def sale_day() -> F:
    """A sale's delivery day: ``Purchase.sale_day``, the database's own
    ``COALESCE(promised_on, arrives_on, ordered_on)`` (stored, with statistics and an index)."""
    return F("sale_day")


def _start_of(day: dt.date) -> dt.datetime:
    """Local midnight at the start of ``day``, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time()), timezone.get_current_timezone())


def _columns(rows: list[Any], n: int) -> list[list[Any]]:
    """Rows of ``n`` values as ``n`` columns (empty columns for no rows)."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _i in range(n)]


def _epoch_days(values: list[Any]) -> np.ndarray:
    if not values:
        return np.zeros(0, dtype=np.int64)
    return np.array(values, dtype="datetime64[D]").astype(np.int64)


def _ints(values: list[Any]) -> np.ndarray:
    return np.array([v or 0 for v in values], dtype=np.int64) if values else np.zeros(0, dtype=np.int64)


def _policy(viewer: User) -> ReferralPolicy:
    return viewer.organisation.policy.referrals  # type: ignore[union-attr]


def _check_period(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise ValidationFailed({"end": ["must not be before the start"]})
    if (end.year * 12 + end.month) - (start.year * 12 + start.month) >= MAX_MONTHS:
        raise ValidationFailed({"end": [f"a period covers at most {MAX_MONTHS} months"]})


def _sales(org_id: int) -> QuerySet[Any]:
    return (
        Purchase.objects.filter(organisation_id=org_id)
        .exclude(kind=Purchase.Kind.SERVICE)
        .annotate(day=sale_day())
    )


def _sales_between(qs: QuerySet[Any], first: dt.date, last: dt.date) -> QuerySet[Any]:
    # The delivery day alone (``purchase_sale_day_idx``): an order-date range beside it is
    # correlated with it, and the planner, multiplying the two, misjudges the rows by 10×.
    return qs.filter(day__gte=first, day__lte=last)


def _whole_organisation(viewer: User) -> bool:
    """Viewers whose scope is every row of their organisation (no join to the customers)."""
    if viewer.role == permissions.OWNER:
        return True
    if viewer.role == permissions.DCRC:
        policy = viewer.organisation.policy  # type: ignore[union-attr]
        return bool(policy.people.dcrc_sees_whole_organisation or not viewer.store_id)
    return False


# ---------------------------------------------------------------------------------------------
# Attribution of referrals to sales


@dataclass(frozen=True)
class Units:
    """Sales (customer, delivery day, rep) as parallel arrays; days are days since 1970-01-01."""

    customer: np.ndarray
    day: np.ndarray
    rep: np.ndarray
    store: np.ndarray

    def __len__(self) -> int:
        return len(self.customer)

    @property
    def keys(self) -> np.ndarray:
        return (self.customer << _SHIFT) | self.day


def _units(qs: QuerySet[Any]) -> Units:
    rows = list(
        qs.values("customer_id", "day", "rep_id")
        .annotate(store=Max("store_id"))
        .order_by()
        .values_list("customer_id", "day", "rep_id", "store")
    )
    cols = _columns(rows, 4)
    return Units(
        customer=_ints(cols[0]),
        day=_epoch_days(cols[1]),
        rep=_ints(cols[2]),
        store=_ints(cols[3]),
    )


def _counted_per_sale(
    org_id: int,
    *,
    first: dt.date,
    last: dt.date,
    quota_days: int,
    referrers: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Counted referrals per sale key (``Units.keys``) for sales delivered from ``first`` to
    ``last``: the referrals whose stored sale (``Referral.sale_day``) is that key's, submitted
    within ``quota_days`` of it. Returns sorted unique keys and their counts."""
    qs = Referral.objects.filter(COUNTED, organisation_id=org_id, sale_day__gte=first, sale_day__lte=last)
    if referrers is not None:
        qs = qs.filter(referrer_id__in=referrers)
    rows = list(
        qs.annotate(d=TruncDate("submitted_at"))
        .values("referrer_id", "sale_day", "d")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("referrer_id", "sale_day", "d", "n")
    )
    cols = _columns(rows, 4)
    customer, day, ref_day, n = _ints(cols[0]), _epoch_days(cols[1]), _epoch_days(cols[2]), _ints(cols[3])
    keep = ref_day - day <= quota_days
    keys, inverse = np.unique((customer[keep] << _SHIFT) | day[keep], return_inverse=True)
    per_key = np.bincount(inverse.ravel(), weights=n[keep], minlength=len(keys)).astype(np.int64)
    return keys, per_key


def quota_for_days(policy: ReferralPolicy, days: np.ndarray) -> np.ndarray:
    """The quota N of sales delivered on ``days`` (days since 1970)."""
    periods = sorted(policy.quota_periods, key=lambda p: p.starts_on)
    if not periods:
        return np.full(len(days), policy.quota, dtype=np.int64)
    starts = _epoch_days([p.starts_on for p in periods])
    quotas = np.array([p.quota for p in periods], dtype=np.int64)
    idx = np.searchsorted(starts, days, side="right") - 1
    return np.where(idx >= 0, quotas[np.maximum(idx, 0)], policy.quota)


@dataclass(frozen=True)
class QuotaResult:
    units: Units
    counted: np.ndarray
    quota: np.ndarray
    deadline: np.ndarray
    status: np.ndarray  # "met" | "pending" | "missed"


# Below this many customers the counted referrals are read by referrer (``ref_referrer_idx``),
# above it by the organisation's sale days (``ref_org_sale_day_idx``).
_BY_REFERRER = 1000


def _quota(
    units: Units,
    unit_sales: QuerySet[Any],
    org_id: int,
    policy: ReferralPolicy,
    *,
    first: dt.date,
    last: dt.date,
    today: dt.date,
) -> QuotaResult:
    qd = policy.quota_days
    customers = np.unique(units.customer) if len(units) else _ints([])
    keys, per_key = _counted_per_sale(
        org_id,
        first=first,
        last=last,
        quota_days=qd,
        referrers=customers.tolist() if len(customers) <= _BY_REFERRER else None,
    )
    counted = _ints([])
    if len(units):
        pos = np.minimum(np.searchsorted(keys, units.keys), max(len(keys) - 1, 0))
        hit = keys[pos] == units.keys if len(keys) else np.zeros(len(units), dtype=bool)
        counted = np.where(hit, per_key[pos] if len(keys) else 0, 0).astype(np.int64)
    quota = quota_for_days(policy, units.day)
    deadline = units.day + qd
    today_d = int(_epoch_days([today])[0])
    status = np.where(counted >= quota, "met", np.where(deadline >= today_d, "pending", "missed"))
    return QuotaResult(units, counted, quota, deadline, status)


@dataclass(frozen=True)
class QuotaStatus:
    delivered_on: dt.date
    deadline: dt.date
    quota: int
    counted: int
    status: str
    days_left: int


def customer_quota(viewer: User, customer_id: int, *, today: dt.date | None = None) -> QuotaStatus | None:
    """The quota of the customer's latest sale (the customer must already be in the viewer's scope)."""
    today = today or timezone.localdate()
    if not permissions.is_active_member(viewer):
        return None
    org = permissions.org_id(viewer)
    mine = _sales(org).filter(customer_id=customer_id)
    latest = mine.order_by("-day").values_list("day", flat=True).first()
    if latest is None:
        return None
    policy = _policy(viewer)
    unit_sales = mine.filter(day=latest)
    units = _units(unit_sales)
    result = _quota(units, unit_sales, org, policy, first=latest, last=latest, today=today)
    deadline = latest + dt.timedelta(days=policy.quota_days)
    # Several reps on one day are one customer's sale here: the best count decides.
    best = int(np.argmax(result.counted))
    return QuotaStatus(
        delivered_on=latest,
        deadline=deadline,
        quota=int(result.quota[best]),
        counted=int(result.counted[best]),
        status=str(result.status[best]),
        days_left=(deadline - today).days,
    )


# ---------------------------------------------------------------------------------------------
# Rep scorecard


@dataclass(frozen=True)
class ScoreRow:
    user_id: int
    username: str
    name: str
    store: str
    team: str
    sold: int = 0
    met: int = 0
    pending: int = 0
    missed: int = 0
    verified: int = 0
    won: int = 0
    faked: int = 0
    reward: Decimal = Decimal("0")
    penalty: Decimal = Decimal("0")

    @property
    def net(self) -> Decimal:
        return self.reward - self.penalty


SCORE_COUNTS = ("sold", "met", "pending", "missed", "verified", "won", "faked")


@dataclass(frozen=True)
class Scorecard:
    month: dt.date
    rows: list[ScoreRow]
    totals: ScoreRow
    policy: ReferralPolicy
    deadline_from: dt.date
    deadline_to: dt.date
    delivered_from: dt.date
    delivered_to: dt.date


def faked_found_at() -> Case:
    """When a faked referral was found: the fake audit, or else the review that rejected it."""
    return Case(
        When(audit_outcome="fake", then=F("audited_at")),
        default=F("reviewed_at"),
        output_field=DateTimeField(),
    )


def scorecard(
    viewer: User,
    *,
    month: dt.date,
    store_id: int | None = None,
    team_id: int | None = None,
    today: dt.date | None = None,
) -> Scorecard:
    """One row per person whose scorecard ``viewer`` may see (themselves; a manager's team and,
    by policy, store; the owner everyone), for the calendar month of ``month``:

    - ``sold``: sales (see the module) by this rep whose quota deadline falls in the month;
      ``met`` / ``pending`` / ``missed`` split them by quota status today;
    - ``verified``: referrals credited to the rep (``Referral.rep``) verified in the month that
      still count; ``won``: credited referrals won (closed) in the month; ``faked``: credited
      referrals found faked in the month (fake audit, or rejected review);
    - reward = verified × ``rep_reward_verified`` + won × ``rep_reward_won``;
      penalty = missed × ``rep_penalty_missed`` + faked × ``rep_penalty_fake``; net = reward − penalty.
    """
    from huitou.accounts.models import User as UserModel

    today = today or timezone.localdate()
    first, last = month_first(month), month_last(month)
    if not permissions.is_active_member(viewer):
        raise ValidationFailed({"__all__": ["no organisation"]})
    org = permissions.org_id(viewer)
    policy = _policy(viewer)
    qd = policy.quota_days
    d_first, d_last = first - dt.timedelta(days=qd), last - dt.timedelta(days=qd)

    people = UserModel.objects.filter(people_scope(viewer), organisation_id=org)
    rep_filter = Q()
    if store_id is not None:
        rep_filter &= Q(rep__store_id=store_id)
        people = people.filter(store_id=store_id)
    if team_id is not None:
        rep_filter &= Q(rep__team_id=team_id)
        people = people.filter(team_id=team_id)
    scope = people_scope(viewer, "rep__") & rep_filter

    unit_sales = _sales_between(_sales(org).filter(scope, rep__isnull=False), d_first, d_last)
    units = _units(unit_sales)
    result = _quota(units, unit_sales, org, policy, first=d_first, last=d_last, today=today)
    per: dict[int, dict[str, int]] = {}
    if len(units):
        for status in ("met", "pending", "missed"):
            reps, counts = np.unique(units.rep[result.status == status], return_counts=True)
            for r, c in zip(reps.tolist(), counts.tolist(), strict=True):
                per.setdefault(r, {})[status] = c
        reps, counts = np.unique(units.rep, return_counts=True)
        for r, c in zip(reps.tolist(), counts.tolist(), strict=True):
            per.setdefault(r, {})["sold"] = c

    start, stop = _start_of(first), _start_of(last + dt.timedelta(days=1))
    # Three reads, each on its own index, instead of one OR of three date ranges (which only a
    # scan of every referral can answer): verified in the month, won (closed) in it, and faked
    # ones found in it (by the fake audit, or else by the review that rejected them).
    credited = referral_queryset(viewer).filter(scope, organisation_id=org, rep__isnull=False)
    found_faked = Q(audit_outcome="fake", audited_at__gte=start, audited_at__lt=stop) | (
        ~Q(audit_outcome="fake") & Q(reviewed_at__gte=start, reviewed_at__lt=stop)
    )
    branches = [
        credited.filter(COUNTED, faked=False, verified_at__gte=start, verified_at__lt=stop),
        credited.filter(WON, closed_at__gte=start, closed_at__lt=stop),
        credited.filter(found_faked, faked=True),
    ]
    parts = [
        qs.values("rep_id")
        .annotate(what=Value(i), n=Count("pk"))
        .order_by()
        .values_list("rep_id", "what", "n")
        for i, qs in enumerate(branches)
    ]
    for rep_id, what, n in parts[0].union(*parts[1:], all=True):
        per.setdefault(rep_id, {})[("verified", "won", "faked")[int(what)]] = n

    shown = people.filter(Q(pk__in=list(per)) | Q(role=permissions.REP, is_active=True, left_at__isnull=True))
    rows = []
    for u in shown.values("pk", "username", "display_name", "store__name", "team__name").order_by(
        "store__name", "username"
    ):
        rows.append(_score_row(u, per.get(u["pk"], {}), policy))
    totals = _score_row(
        {"pk": 0, "username": "", "display_name": "", "store__name": "", "team__name": ""},
        {k: sum(getattr(r, k) for r in rows) for k in SCORE_COUNTS},
        policy,
    )
    return Scorecard(
        month=first,
        rows=rows,
        totals=totals,
        policy=policy,
        deadline_from=first,
        deadline_to=last,
        delivered_from=d_first,
        delivered_to=d_last,
    )


def _score_row(u: Any, counts: dict[str, int], policy: ReferralPolicy) -> ScoreRow:
    c = {k: int(counts.get(k, 0)) for k in SCORE_COUNTS}
    reward = c["verified"] * policy.rep_reward_verified + c["won"] * policy.rep_reward_won
    penalty = c["missed"] * policy.rep_penalty_missed + c["faked"] * policy.rep_penalty_fake
    return ScoreRow(
        user_id=u["pk"],
        username=u["username"],
        name=u["display_name"] or u["username"],
        store=u["store__name"] or "",
        team=u["team__name"] or "",
        reward=Decimal(reward),
        penalty=Decimal(penalty),
        **c,
    )


# ---------------------------------------------------------------------------------------------
# Insights: viral coefficient, referral-rate curve, funnel, quota periods, reference figures


def _scoped_sales(viewer: User, store_id: int | None) -> QuerySet[Any]:
    """The sales the viewer's insights count, scoped like their referrals on the sale's own
    columns (``referrals.selectors._own_scope``): the sale's rep in the owner's place, and the
    store it was made at. A rep counts the sales they made; a manager those made by their team's
    reps and, by policy, at their store, whoever owns the customer today; the owner (and a DCRC
    agent who sees the organisation) every sale. A sale is credited where it was made, as a
    referral is, so both sides of a ratio count the same people's work and a reassignment of
    customers does not move past sales between teams.

    No join to the customers: at 1M customers a manager's six months of sales (390,000 of the
    organisation's) joined to their ~100,000 customers took 0.3–0.4 s a statement, three of them
    in the home page's referrals section. On the sale's own columns it is one index-only read of
    ``purchase_sale_day_idx`` (six months 62 ms, one month 6 ms). Indexes leading with the rep
    and with the store would halve the six months, but only with the scope split into two
    queries (PostgreSQL answers the OR from the day index) and at 2 × 340 MB on 10M sales: not
    worth it yet."""
    qs = _sales(permissions.org_id(viewer))
    if not _whole_organisation(viewer):
        qs = qs.filter(permissions.customer_scope(viewer, owner="rep"))
    return qs.filter(store_id=store_id) if store_id is not None else qs


def _scoped_referrals(viewer: User, store_id: int | None) -> QuerySet[Referral]:
    qs = referral_queryset(viewer).filter(organisation_id=permissions.org_id(viewer))
    return qs.filter(store_id=store_id) if store_id is not None else qs


def _as_month(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return month_first(value)


@dataclass(frozen=True)
class ViralRow:
    store_id: int | None
    store: str
    month: dt.date
    sold: int
    won: int

    @property
    def coefficient(self) -> float | None:
        return self.won / self.sold if self.sold else None


def _won_cells(viewer: User, first: dt.date, last: dt.date, store_id: int | None) -> QuerySet[Any]:
    """The viewer's referrals won (closed) from ``first`` to ``last``: rows of store, month, n."""
    return (
        _scoped_referrals(viewer, store_id)
        .filter(WON, closed_at__gte=_start_of(first), closed_at__lt=_start_of(last + dt.timedelta(days=1)))
        .annotate(month=TruncMonth("closed_at"))
        .values("store_id", "month")
        .annotate(n=Count("pk"))
        .order_by()
    )


def won_per_month(
    viewer: User, *, start: dt.date, end: dt.date, store_id: int | None = None
) -> dict[dt.date, int]:
    """The viewer's referrals won per month (first day) from ``start`` to ``end``: the numerators
    of ``viral_coefficient`` over every store, without counting the sales (the home page's trend)."""
    first, last = month_first(start), month_last(end)
    _check_period(first, last)
    if not permissions.is_active_member(viewer):
        return {}
    out: dict[dt.date, int] = {}
    for r in _won_cells(viewer, first, last, store_id):
        month = _as_month(r["month"])
        out[month] = out.get(month, 0) + r["n"]
    return out


def viral_coefficient(
    viewer: User, *, start: dt.date, end: dt.date, store_id: int | None = None
) -> list[ViralRow]:
    """Per store and month: referrals won in the month ÷ customers with a sale delivered in the
    month (store of the referral and of the sale). Months from ``start`` to ``end``. The viewer's
    sales (``_scoped_sales``: made by their reps or at their store) and referrals (credited to
    their reps or their store): a customer is counted in the cells of the stores that sold them."""
    from huitou.accounts.models import Store

    first, last = month_first(start), month_last(end)
    _check_period(first, last)
    if not permissions.is_active_member(viewer):
        return []
    sold = (
        _sales_between(_scoped_sales(viewer, store_id), first, last)
        .annotate(month=TruncMonth("day", output_field=DateField()))
        .values("store_id", "month")
        .annotate(n=Count("customer_id", distinct=True))
        .order_by()
    )
    won = _won_cells(viewer, first, last, store_id)
    cells: dict[tuple[int | None, dt.date], list[int]] = {}
    for r in sold:
        cells.setdefault((r["store_id"], _as_month(r["month"])), [0, 0])[0] += r["n"]
    for r in won:
        cells.setdefault((r["store_id"], _as_month(r["month"])), [0, 0])[1] += r["n"]
    names = dict(
        Store.objects.filter(pk__in=[s for s, _m in cells if s is not None]).values_list("pk", "name")
    )
    rows = [
        ViralRow(store_id=s, store=names.get(s, "") if s is not None else "", month=m, sold=v[0], won=v[1])
        for (s, m), v in cells.items()
    ]
    rows.sort(key=lambda r: (r.month, r.store, r.store_id or 0))
    return rows


@dataclass(frozen=True)
class CurveBin:
    month: int
    eligible: int
    referred: int

    @property
    def share(self) -> float | None:
        return self.referred / self.eligible if self.eligible else None


def _month_index(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    dom = (d - months.astype("datetime64[D]")).astype(np.int64)
    return months.astype(np.int64), dom


def months_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whole months from days ``a`` to days ``b`` (calendar months, as people count them)."""
    ma, da = _month_index(a)
    mb, db = _month_index(b)
    return (mb - ma) - (db < da)


def referral_curve(
    viewer: User,
    *,
    start: dt.date,
    end: dt.date,
    store_id: int | None = None,
    today: dt.date | None = None,
) -> list[CurveBin]:
    """For sales delivered from ``start`` to ``end``: in month k after delivery (k = 0..12, whole
    calendar months), the share of sales whose customer made a counted referral counting toward
    that sale (the latest sale on or before it). Only sales whose month k is over by ``today``
    are counted in bin k, so young sales do not pull the later months down. The cohort is the
    viewer's sales (``_scoped_sales``: made by their reps or at their store); a referral counts
    for the sale it counts toward, whoever it was credited to."""
    today = today or timezone.localdate()
    first, last = month_first(start), month_last(end)
    _check_period(first, last)
    if not permissions.is_active_member(viewer):
        return [CurveBin(k, 0, 0) for k in range(CURVE_MONTHS + 1)]
    org = permissions.org_id(viewer)
    sales = _sales_between(_scoped_sales(viewer, store_id), first, last)
    # Sale keys (customer, delivery day) per delivery day: eligibility depends on the day alone.
    per_day = list(
        sales.values("day").annotate(n=Count("customer_id", distinct=True)).order_by().values_list("day", "n")
    )
    d_cols = _columns(per_day, 2)
    days, keys_per_day = _epoch_days(d_cols[0]), _ints(d_cols[1])
    today_d = _epoch_days([today])
    age = months_between(days, np.repeat(today_d, len(days)))
    eligible = [int(keys_per_day[age >= k + 1].sum()) for k in range(CURVE_MONTHS + 1)]

    # Counted referrals by the sale they count toward (``Referral.sale_day``), in whole months
    # after its delivery: distinct referrers per (delivery day, month k) are the distinct
    # (sale key, k) pairs.
    window_end = add_months(last, CURVE_MONTHS + 1)
    refs = Referral.objects.filter(
        COUNTED,
        organisation_id=org,
        sale_day__gte=first,
        sale_day__lte=last,
        submitted_at__lt=_start_of(window_end + dt.timedelta(days=1)),
    )
    if not _whole_organisation(viewer) or store_id is not None:
        # Only sales the viewer sees (and of the store) are in the cohort.
        refs = refs.filter(
            Exists(sales.filter(customer_id=OuterRef("referrer_id"), sale_day=OuterRef("sale_day")))
        )
    k_expr = (
        (ExtractYear("submitted_at") - ExtractYear("sale_day")) * 12
        + ExtractMonth("submitted_at")
        - ExtractMonth("sale_day")
        - Case(When(GreaterThan(ExtractDay("sale_day"), ExtractDay("submitted_at")), then=1), default=0)
    )
    rows = list(
        refs.annotate(k=k_expr)
        .values("sale_day", "k")
        .annotate(n=Count("referrer_id", distinct=True))
        .order_by()
        .values_list("sale_day", "k", "n")
    )
    r_cols = _columns(rows, 3)
    r_day, r_k, r_n = _epoch_days(r_cols[0]), _ints(r_cols[1]), _ints(r_cols[2])
    r_age = months_between(r_day, np.repeat(today_d, len(r_day)))
    referred = [int(r_n[(r_k == k) & (r_age >= k + 1)].sum()) for k in range(CURVE_MONTHS + 1)]
    return [CurveBin(k, eligible[k], referred[k]) for k in range(CURVE_MONTHS + 1)]


def _reached() -> dict[str, Q]:
    won = Q(stage=Stage.WON)
    quoted = Q(quoted_at__isnull=False) | won
    contacted = Q(contacted_at__isnull=False) | quoted
    verified = Q(verified_at__isnull=False) | contacted
    return {"verified": verified, "contacted": contacted, "quoted": quoted, "won": won}


@dataclass(frozen=True)
class FunnelRow:
    key: int | None
    name: str
    submitted: int
    verified: int
    contacted: int
    quoted: int
    won: int

    def count(self, stage: str) -> int:
        return int(getattr(self, stage))

    def rate(self, stage: str) -> float | None:
        """Share of the previous stage that reached ``stage``."""
        i = FUNNEL_STAGES.index(stage)
        if i == 0:
            return None
        before = self.count(FUNNEL_STAGES[i - 1])
        return self.count(stage) / before if before else None

    @property
    def overall(self) -> float | None:
        return self.won / self.submitted if self.submitted else None


@dataclass(frozen=True)
class Funnel:
    by_rep: list[FunnelRow]
    by_store: list[FunnelRow]
    total: FunnelRow


def referral_funnel(viewer: User, *, start: dt.date, end: dt.date, store_id: int | None = None) -> Funnel:
    """Referrals submitted from ``start`` to ``end`` and how many reached each later stage (a stage
    is reached when its timestamp is set or a later stage was reached; won is the stage itself).
    Per credited rep and per store."""
    from huitou.accounts.models import Store
    from huitou.accounts.models import User as UserModel

    first, last = month_first(start), month_last(end)
    _check_period(first, last)
    reached = _reached()
    counts = {"submitted": Count("pk"), **{k: Count("pk", filter=q) for k, q in reached.items()}}
    if not permissions.is_active_member(viewer):
        empty = FunnelRow(None, "", 0, 0, 0, 0, 0)
        return Funnel([], [], empty)
    qs = _scoped_referrals(viewer, store_id).filter(
        submitted_at__gte=_start_of(first), submitted_at__lt=_start_of(last + dt.timedelta(days=1))
    )
    # One GROUP BY (rep, store), rolled up per rep and per store here; names from two lookups.
    cells: list[dict[str, Any]] = [
        dict(r) for r in qs.values("rep_id", "store_id").annotate(**counts).order_by()
    ]
    rep_sum: dict[int | None, dict[str, int]] = {}
    store_sum: dict[int | None, dict[str, int]] = {}
    for c in cells:
        for key, into in ((c["rep_id"], rep_sum), (c["store_id"], store_sum)):
            acc = into.setdefault(key, dict.fromkeys(FUNNEL_STAGES, 0))
            for stage in FUNNEL_STAGES:
                acc[stage] += int(c[stage])
    usernames: dict[int | None, str] = {}
    names: dict[int | None, str] = {}
    for pk, username, display in UserModel.objects.filter(
        pk__in=[k for k in rep_sum if k is not None]
    ).values_list("pk", "username", "display_name"):
        usernames[pk], names[pk] = username, display or username
    stores: dict[int | None, str] = dict(
        Store.objects.filter(pk__in=[k for k in store_sum if k is not None]).values_list("pk", "name")
    )
    by_rep = [FunnelRow(key=k, name=names.get(k, ""), **v) for k, v in rep_sum.items()]
    by_rep.sort(key=lambda r: (r.key is None, usernames.get(r.key, ""), r.key or 0))
    by_store = [FunnelRow(key=k, name=stores.get(k, ""), **v) for k, v in store_sum.items()]
    by_store.sort(key=lambda r: (r.key is None, r.name, r.key or 0))
    total = FunnelRow(None, "", **{s: sum(r.count(s) for r in by_store) for s in FUNNEL_STAGES})
    return Funnel(by_rep, by_store, total)


@dataclass(frozen=True)
class PeriodRow:
    label: str
    quota: int
    starts_on: dt.date
    ends_on: dt.date
    sales: int
    referrals: int
    counted: int
    won: int

    @property
    def referrals_per_sale(self) -> float | None:
        return self.referrals / self.sales if self.sales else None

    @property
    def verified_share(self) -> float | None:
        return self.counted / self.referrals if self.referrals else None

    @property
    def won_per_sale(self) -> float | None:
        return self.won / self.sales if self.sales else None


def quota_periods_compare(
    viewer: User, *, store_id: int | None = None, today: dt.date | None = None
) -> list[PeriodRow]:
    """One row per policy quota period (e.g. 一拓五 then 一拓一), each running until the next one
    starts (the last until today): customers sold (a sale in the viewer's scope, see
    ``_scoped_sales``, delivered in the period), referrals submitted in it (all, in the viewer's
    scope), of which counted, and won — so referrals per sale, verified share and won per sale
    compare side by side."""
    today = today or timezone.localdate()
    policy = _policy(viewer) if permissions.is_active_member(viewer) else None
    if policy is None or not policy.quota_periods:
        return []
    periods = sorted(policy.quota_periods, key=lambda p: p.starts_on)
    bounds = []
    for i, p in enumerate(periods):
        end = periods[i + 1].starts_on - dt.timedelta(days=1) if i + 1 < len(periods) else today
        if end >= p.starts_on:
            bounds.append((p, p.starts_on, end))
    if not bounds:
        return []
    first, last = bounds[0][1], bounds[-1][2]
    # One COUNT(DISTINCT) per period over the index-only read of the sales by delivery day
    # (``purchase_sale_day_idx``). A one-pass GROUP BY customer was tried: its million groups
    # spill to disk at PostgreSQL's default work_mem (5 s against 1.5 s).
    sold = _sales_between(_scoped_sales(viewer, store_id), first, last).aggregate(
        **{
            f"sold_p{i}": Count("customer_id", distinct=True, filter=Q(day__gte=a, day__lte=b))
            for i, (_p, a, b) in enumerate(bounds)
        }
    )
    refs = _scoped_referrals(viewer, store_id).filter(
        submitted_at__gte=_start_of(first), submitted_at__lt=_start_of(last + dt.timedelta(days=1))
    )
    aggs: dict[str, Any] = {}
    for i, (_p, a, b) in enumerate(bounds):
        in_p = Q(submitted_at__gte=_start_of(a), submitted_at__lt=_start_of(b + dt.timedelta(days=1)))
        aggs[f"r{i}"] = Count("pk", filter=in_p)
        aggs[f"c{i}"] = Count("pk", filter=in_p & COUNTED)
        aggs[f"w{i}"] = Count("pk", filter=in_p & WON)
    got = refs.aggregate(**aggs)
    return [
        PeriodRow(
            label=p.label or f"1:{p.quota}",
            quota=p.quota,
            starts_on=a,
            ends_on=b,
            sales=sold[f"sold_p{i}"] or 0,
            referrals=got[f"r{i}"] or 0,
            counted=got[f"c{i}"] or 0,
            won=got[f"w{i}"] or 0,
        )
        for i, (p, a, b) in enumerate(bounds)
    ]


@dataclass(frozen=True)
class Reference:
    key: str
    reference: float
    ours: float | None


@dataclass(frozen=True)
class Totals:
    sold_customers: int
    referrals: int
    counted: int
    won: int
    referrers: int


def referral_totals(viewer: User, *, start: dt.date, end: dt.date, store_id: int | None = None) -> Totals:
    """For the months from ``start`` to ``end``: customers sold (distinct customers of the viewer's
    sales delivered in them, see ``_scoped_sales``), and the viewer's referrals submitted in them,
    counted, won, and their distinct referrers."""
    first, last = month_first(start), month_last(end)
    _check_period(first, last)
    if not permissions.is_active_member(viewer):
        return Totals(0, 0, 0, 0, 0)
    sold = _sales_between(_scoped_sales(viewer, store_id), first, last).aggregate(
        n=Count("customer_id", distinct=True)
    )["n"]
    got = _submitted(viewer, first, last, store_id)
    return Totals(
        sold or 0, got["referrals"] or 0, got["counted"] or 0, got["won"] or 0, got["referrers"] or 0
    )


def _submitted(viewer: User, first: dt.date, last: dt.date, store_id: int | None) -> dict[str, Any]:
    return (
        _scoped_referrals(viewer, store_id)
        .filter(submitted_at__gte=_start_of(first), submitted_at__lt=_start_of(last + dt.timedelta(days=1)))
        .aggregate(
            referrals=Count("pk"),
            counted=Count("pk", filter=COUNTED),
            won=Count("pk", filter=WON),
            referrers=Count("referrer_id", distinct=True),
        )
    )


def referrals_submitted(viewer: User, *, start: dt.date, end: dt.date, store_id: int | None = None) -> int:
    """The viewer's referrals submitted in the months from ``start`` to ``end``, as in
    ``referral_totals`` but without counting the customers sold (the home page's figure)."""
    first, last = month_first(start), month_last(end)
    _check_period(first, last)
    if not permissions.is_active_member(viewer):
        return 0
    return int(_submitted(viewer, first, last, store_id)["referrals"] or 0)


def reference_figures(totals: Totals) -> list[Reference]:
    """DOMAIN §5's reference figures beside ours for the same period.

    - ``deals_per_customer``: 1 satisfied customer → 8 potential deals; ours: referrals submitted
      per customer sold;
    - ``closed_per_customer``: of which at least 1 closes; ours: referrals won per customer sold;
    - ``new_per_100``: 100 very satisfied customers → 25 new ones (AMA); ours: won per 100 sold;
    - ``people_behind``: about 250 people behind each customer (Girard); ours: people named per
      referring customer (the part of those 250 we reached).
    """
    sold, referrers = totals.sold_customers, totals.referrers
    return [
        Reference("deals_per_customer", 8.0, totals.referrals / sold if sold else None),
        Reference("closed_per_customer", 1.0, totals.won / sold if sold else None),
        Reference("new_per_100", 25.0, 100 * totals.won / sold if sold else None),
        Reference("people_behind", 250.0, totals.referrals / referrers if referrers else None),
    ]


# ---------------------------------------------------------------------------------------------
# Base customers (基盘客户)


def base_customer_queryset(
    viewer: User, *, store_id: int | None = None, referrer_type: str = ""
) -> QuerySet[Any]:
    """Referring customers in the viewer's scope, ranked by referrals won, then counted referrals,
    then the latest referral. Rows: ``referrer_id``, ``won``, ``counted``, ``made``, ``last_at``."""
    if not permissions.is_active_member(viewer):
        return ReferrerStats.objects.none()
    # The per-referrer summary kept by the services (``stats``), ranked from ``refstats_rank_idx``:
    # no aggregate of every referral before the first row.
    qs = ReferrerStats.objects.filter(organisation_id=permissions.org_id(viewer), counted__gt=0)
    if not _whole_organisation(viewer):
        qs = qs.filter(permissions.customer_scope(viewer, "customer__"))
    if store_id is not None:
        qs = qs.filter(customer__store_id=store_id)
    if referrer_type:
        qs = qs.filter(customer__referrer_profile__referrer_type=referrer_type)
    return qs.values(
        "won", "counted", "made", referrer_id=F("customer_id"), last_at=F("last_referral_at")
    ).order_by("-won", "-counted", F("last_referral_at").desc(), "customer_id")


def revenue_of_referred(customer_ids: list[int]) -> dict[int, Decimal]:
    """Sum of the sales (non-service purchases) of the customers each of ``customer_ids`` brought
    (their first generation, through ``Customer.referred_by``)."""
    if not customer_ids:
        return {}
    rows = (
        Purchase.objects.filter(customer__referred_by_id__in=customer_ids)
        .exclude(kind=Purchase.Kind.SERVICE)
        .values("customer__referred_by_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {int(r["customer__referred_by_id"] or 0): r["total"] or Decimal("0") for r in rows}


def base_customer_rows(viewer: User, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ranked rows of one page of ``base_customer_queryset`` with names, type (or, where none
    is set, the suggestion) and revenue brought: a fixed number of queries for the whole page."""
    from huitou.customers.models import Customer

    from . import referrers

    ids = [r["referrer_id"] for r in items]
    people: dict[int, dict[str, Any]] = {
        c["pk"]: dict(c)
        for c in Customer.objects.filter(pk__in=ids).values(
            "pk",
            "name",
            "store__name",
            "owner__username",
            "owner__display_name",
            "referrer_profile__referrer_type",
        )
    }
    evidence = referrers.referrer_evidence(viewer, ids)
    suggestions = referrers.suggestions_for([evidence[i] for i in ids])
    revenue = revenue_of_referred(ids)
    types = dict(ReferrerType.choices)
    rows = []
    for r, suggestion in zip(items, suggestions, strict=True):
        c = people.get(r["referrer_id"], {})
        kind = c.get("referrer_profile__referrer_type") or ""
        rows.append(
            {
                **r,
                "name": c.get("name", ""),
                "store": c.get("store__name") or "",
                "owner": c.get("owner__display_name") or c.get("owner__username") or "",
                "referrer_type": kind,
                "type_label": str(types.get(kind, "")) if kind else "",
                "suggestion": suggestion if not kind else None,
                "revenue": revenue.get(r["referrer_id"], Decimal("0")),
            }
        )
    return rows


@dataclass
class ChainNode:
    customer_id: int
    parent_id: int | None
    depth: int
    name: str
    visible: bool
    revenue: Decimal = Decimal("0")
    subtree_revenue: Decimal = Decimal("0")
    descendants: int = 0
    children: list[ChainNode] = field(default_factory=list)


@dataclass(frozen=True)
class Chain:
    root: ChainNode
    nodes: list[ChainNode]  # pre-order, for a flat rendering
    upward: list[ChainNode]  # from the top ancestor down to the customer's referrer
    truncated: bool
    depth_limited: bool

    @property
    def brought_revenue(self) -> Decimal:
        return self.root.subtree_revenue - self.root.revenue


CHAIN_DEPTH = 10
CHAIN_MAX_NODES = 500


def referral_chain(
    viewer: User, customer_id: int, *, depth: int = CHAIN_DEPTH, max_nodes: int = CHAIN_MAX_NODES
) -> Chain:
    """Who this customer brought, generation by generation (``Customer.referred_by``), with the
    revenue of each subtree, and the path upward to the first referrer. One query per generation.
    People outside the viewer's scope keep their place in the tree but no name."""
    from huitou.customers.models import Customer
    from huitou.customers.selectors import customer_get, customer_queryset

    me = customer_get(viewer, customer_id)
    org = permissions.org_id(viewer)
    people = Customer.objects.filter(organisation_id=org, merged_into__isnull=True)
    root = ChainNode(me.pk, me.referred_by_id, 0, me.name, True)
    nodes: dict[int, ChainNode] = {me.pk: root}
    level = [me.pk]
    truncated = False
    for gen in range(1, depth + 1):
        if not level:
            break
        children = list(
            people.filter(referred_by_id__in=level)
            .order_by("referred_by_id", "id")
            .values_list("pk", "referred_by_id", "name")[: max_nodes - len(nodes) + 1]
        )
        next_level = []
        for pk, parent, name in children:
            if pk in nodes:
                continue  # a loop in the records: each person once
            if len(nodes) >= max_nodes:
                truncated = True
                break
            node = ChainNode(pk, parent, gen, name, False)
            nodes[pk] = node
            nodes[parent].children.append(node)
            next_level.append(pk)
        level = next_level
        if truncated:
            break
    depth_limited = not truncated and bool(level) and people.filter(referred_by_id__in=level).exists()

    upward: list[ChainNode] = []
    parent_id = me.referred_by_id
    seen = set(nodes)
    for _ in range(depth):
        if parent_id is None or parent_id in seen:
            break
        row = people.filter(pk=parent_id).values_list("pk", "referred_by_id", "name").first()
        if row is None:
            break
        seen.add(row[0])
        upward.append(ChainNode(row[0], row[1], -len(upward) - 1, row[2], False))
        parent_id = row[1]
    upward.reverse()

    ids = list(nodes) + [n.customer_id for n in upward]
    visible = set(customer_queryset(viewer).filter(pk__in=ids).values_list("pk", flat=True))
    revenue = dict(
        Purchase.objects.filter(customer_id__in=list(nodes))
        .exclude(kind=Purchase.Kind.SERVICE)
        .values("customer_id")
        .annotate(total=Sum("amount"))
        .order_by()
        .values_list("customer_id", "total")
    )
    for n in [*nodes.values(), *upward]:
        n.visible = n.customer_id in visible
        if not n.visible:
            n.name = ""
    for n in nodes.values():
        n.revenue = n.subtree_revenue = revenue.get(n.customer_id) or Decimal("0")
    flat = _preorder(root)
    for node in sorted(flat, key=lambda x: -x.depth):
        if node.parent_id is not None and node is not root and node.parent_id in nodes:
            up = nodes[node.parent_id]
            up.subtree_revenue += node.subtree_revenue
            up.descendants += 1 + node.descendants
    return Chain(root=root, nodes=flat, upward=upward, truncated=truncated, depth_limited=depth_limited)


def _preorder(root: ChainNode) -> list[ChainNode]:
    out: list[ChainNode] = []
    stack = [root]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(n.children))
    return out
