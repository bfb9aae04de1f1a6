"""The figures of each role's home page, each with the list behind it (issue 6, DOMAIN §9).

Nothing is counted here twice: every figure comes from the selector that already serves the list
or report it links to (plan compliance, today's tasks, the referral scorecard, CVP, the risk
snapshots, the retention calculator, the value snapshots, the work queues), so the number on the
card is the number the list shows. Those selectors apply the viewer's scope; this module only
picks the viewer's own row where a selector returns the rows of everyone the viewer reviews.

A page is made of sections. Sections that read the whole organisation (or a whole team) are
loaded after the page by htmx and kept for ``CACHE_SECONDS``; a rep's own figures are never
cached, so a task done shows at once. Counts of long lists stop at ``COUNT_CAP`` ("1,000+"),
like the lists themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from huitou.accounts import permissions
from huitou.accounts.permissions import AFTERSALES, DCRC, MANAGER, OWNER, REP
from huitou.core.months import month_first, month_last, month_start_after
from huitou.core.pagination import COUNT_CAP

if TYPE_CHECKING:
    from huitou.accounts.models import User

CACHE_SECONDS = 120
TREND_MONTHS = 6
CHART_MAX_PEOPLE = 40


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: int | float | Decimal | None
    url: str = ""
    filters: dict[str, str] = field(default_factory=dict)  # the filter the linked list applies
    kind: str = "count"  # count | percent (0..1) | money | number
    capped: bool = False  # the count stopped at COUNT_CAP
    tone: str = ""  # bootstrap colour of the figure when it asks for attention


@dataclass(frozen=True)
class Chart:
    kind: str  # "bar" | "line"
    labels: list[str]
    datasets: list[dict[str, Any]]  # {"label": str, "data": [number | None]}
    percent: bool = False

    @property
    def data(self) -> dict[str, Any]:
        return {"kind": self.kind, "labels": self.labels, "datasets": self.datasets, "percent": self.percent}


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    figures: list[Figure]
    chart: Chart | None = None
    note: str = ""

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)


def link(name: str, **params: Any) -> tuple[str, dict[str, str]]:
    """The URL of a named list with its filters, and the filters as strings."""
    query = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    url = reverse(name)
    return (url + "?" + urlencode(query) if query else url), query


def _figure(key: str, label: str, value: Any, target: tuple[str, dict[str, str]], **kw: Any) -> Figure:
    url, filters = target
    return Figure(key=key, label=label, value=value, url=url, filters=filters, **kw)


def capped_count(qs: QuerySet[Any]) -> tuple[int, bool]:
    """Rows of ``qs`` up to ``COUNT_CAP`` (the lists behind these figures stop counting there too)."""
    n = int(qs.order_by().values("pk")[: COUNT_CAP + 1].count())
    return min(n, COUNT_CAP), n > COUNT_CAP


def _ym(day: dt.date) -> str:
    return f"{day:%Y-%m}"


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ---------------------------------------------------------------------------------------------
# Sections


def section_tasks(viewer: User, today: dt.date) -> Section:
    """The viewer's own plan: open tasks due by today, overdue, missed and on time this month."""
    from huitou.followups import compliance
    from huitou.followups import selectors as plan

    counts = plan.today_counts(viewer, day=today)
    missed_after = viewer.organisation.policy.contact.missed_after_days  # type: ignore[union-attr]
    # Every open task past due but not yet missed is due in this window (compliance's definition).
    window = (today - dt.timedelta(days=missed_after), today - dt.timedelta(days=1))
    recent = compliance.plan_compliance(viewer, start=window[0], end=window[1], today=today)
    overdue = next((r.open_overdue for r in recent if r.user_id == viewer.pk), 0)
    first, last = month_first(today), month_last(today)
    month = next(
        (
            r
            for r in compliance.plan_compliance(viewer, start=first, end=last, today=today)
            if r.user_id == viewer.pk
        ),
        None,
    )

    def report(state: str, start: dt.date, end: dt.date) -> tuple[str, dict[str, str]]:
        return link(
            "followups:task_report",
            start=start.isoformat(),
            end=end.isoformat(),
            state=state,
            assignee=viewer.pk,
        )

    labels = _state_labels()
    return Section(
        key="tasks",
        title=_("My tasks"),
        figures=[
            _figure("due_now", _("Open tasks due by today"), sum(counts.values()), link("followups:today")),
            _figure(
                "overdue",
                _("Overdue (open, past due)"),
                overdue,
                report("open_overdue", *window),
                tone="danger" if overdue else "",
            ),
            _figure(
                "missed_month",
                _("Missed this month"),
                month.missed if month else 0,
                report("missed", first, last),
                tone="danger" if month and month.missed else "",
            ),
            _figure(
                "on_time_rate",
                _("Done on time this month"),
                month.on_time_rate if month else None,
                link("followups:compliance", start=first.isoformat(), end=last.isoformat()),
                kind="percent",
            ),
        ],
        chart=Chart(
            kind="bar",
            labels=[labels[s] for s in compliance.STATES],
            datasets=[
                {
                    "label": _("Tasks this month"),
                    "data": [month.count(s) if month else 0 for s in compliance.STATES],
                }
            ],
        ),
    )


def _state_labels() -> dict[str, str]:
    return {
        "on_time": _("On time"),
        "late": _("Late"),
        "missed": _("Missed"),
        "open_overdue": _("Overdue"),
        "open_upcoming": _("Upcoming"),
    }


def section_compliance(viewer: User, today: dt.date) -> Section:
    """Contact-plan compliance of everyone the viewer reviews (the team; the owner everyone)."""
    from huitou.followups import compliance

    first, last = month_first(today), month_last(today)
    rows = compliance.plan_compliance(viewer, start=first, end=last, today=today)
    missed_after = viewer.organisation.policy.contact.missed_after_days  # type: ignore[union-attr]
    w_start, w_end = today - dt.timedelta(days=missed_after), today - dt.timedelta(days=1)
    overdue = sum(
        r.open_overdue for r in compliance.plan_compliance(viewer, start=w_start, end=w_end, today=today)
    )
    on_time = sum(r.on_time for r in rows)
    due = sum(r.due for r in rows)

    def report(state: str, start: dt.date = first, end: dt.date = last) -> tuple[str, dict[str, str]]:
        return link("followups:task_report", start=start.isoformat(), end=end.isoformat(), state=state)

    shown = sorted(rows, key=lambda r: (r.on_time_rate if r.on_time_rate is not None else 2.0, r.username))
    shown = [r for r in shown if r.due][:CHART_MAX_PEOPLE]
    return Section(
        key="compliance",
        title=_("Team contact-plan compliance") if viewer.role == MANAGER else _("Contact-plan compliance"),
        figures=[
            _figure(
                "on_time_rate",
                _("Done on time this month"),
                _ratio(on_time, due),
                link("followups:compliance", start=first.isoformat(), end=last.isoformat()),
                kind="percent",
            ),
            _figure("on_time", _("On time"), on_time, report("on_time")),
            _figure("late", _("Late"), sum(r.late for r in rows), report("late")),
            _figure(
                "overdue",
                _("Overdue (open, past due)"),
                overdue,
                report("open_overdue", w_start, w_end),
                tone="danger" if overdue else "",
            ),
            _figure(
                "missed",
                _("Missed this month"),
                sum(r.missed for r in rows),
                report("missed"),
                tone="danger" if any(r.missed for r in rows) else "",
            ),
        ],
        chart=Chart(
            kind="bar",
            labels=[r.name for r in shown],
            datasets=[
                {
                    "label": _("On time (%)"),
                    "data": [round((r.on_time_rate or 0.0) * 100, 1) for r in shown],
                }
            ],
            percent=True,
        )
        if shown
        else None,
    )


def section_quota(viewer: User, today: dt.date) -> Section:
    """The rep's own referral quota this month (the scorecard row) with rewards and penalties."""
    from huitou.referrals import insights

    card = insights.scorecard(viewer, month=today, today=today)
    row = next((r for r in card.rows if r.user_id == viewer.pk), None)
    target = link("referrals:scorecard", month=_ym(today))

    def value(name: str) -> Any:
        return getattr(row, name) if row else 0

    return Section(
        key="quota",
        title=_("My referral quota this month"),
        figures=[
            _figure("sold", _("Sold customers (deadline this month)"), value("sold"), target),
            _figure("met", _("Quota met"), value("met"), target, tone="success" if value("met") else ""),
            _figure("pending", _("Quota pending"), value("pending"), target),
            _figure(
                "missed", _("Quota missed"), value("missed"), target, tone="danger" if value("missed") else ""
            ),
            _figure("net", _("Reward − penalty (¥)"), row.net if row else Decimal("0"), target, kind="money"),
        ],
        note=_("Each sale must bring %(n)s verified referral(s) within %(days)s days of delivery.")
        % {"n": card.policy.quota, "days": card.policy.quota_days},
    )


def section_referrals(viewer: User, today: dt.date) -> Section:
    """Referrals of the team (manager) or the organisation (owner): quota this month, referrals
    submitted this month against last month, and won referrals per month."""
    from huitou.referrals import insights

    card = insights.scorecard(viewer, month=today, today=today)
    t = card.totals
    target = link("referrals:scorecard", month=_ym(today))
    first, last_month = month_first(today), month_start_after(today, -1)
    # Referrals only: the insights' sales counts (the ratios' denominators) are not shown here.
    now = insights.referrals_submitted(viewer, start=first, end=first)
    before = insights.referrals_submitted(viewer, start=last_month, end=last_month)
    growth = (now - before) / before if before else None
    figures = [
        _figure("met", _("Quota met"), t.met, target, tone="success" if t.met else ""),
        _figure("pending", _("Quota pending"), t.pending, target),
        _figure("missed", _("Quota missed"), t.missed, target, tone="danger" if t.missed else ""),
        _figure(
            "referrals",
            _("Referrals this month"),
            now,
            link("referrals:pipeline", start=first.isoformat(), end=today.isoformat()),
        ),
        _figure(
            "growth",
            _("Growth on last month"),
            growth,
            link("referrals:insights", start=_ym(month_start_after(today, -11)), end=_ym(today)),
            kind="percent",
        ),
        _figure("net", _("Rewards − penalties (¥)"), t.net, target, kind="money"),
    ]
    start = month_start_after(today, -(TREND_MONTHS - 1))
    won = insights.won_per_month(viewer, start=start, end=first)
    months = [month_start_after(start, i) for i in range(TREND_MONTHS)]
    return Section(
        key="referrals",
        title=_("Team referrals") if viewer.role == MANAGER else _("Referrals"),
        figures=figures,
        chart=Chart(
            kind="line",
            labels=[_ym(m) for m in months],
            datasets=[{"label": _("Referrals won"), "data": [won.get(m, 0) for m in months]}],
        ),
    )


def section_cvp(viewer: User, today: dt.date) -> Section:
    """CVP (top-box share of the overall question) of the viewer, or of the people they review,
    per month; the headline is last month, the latest complete one."""
    from huitou.feedback import measures

    start, end = month_start_after(today, -(TREND_MONTHS - 1)), month_first(today)
    rows = measures.cvp_by_rep(viewer, start=start, end=end)
    if viewer.role == REP:
        rows = [r for r in rows if r.key == viewer.pk]
    answers: dict[dt.date, int] = {}
    top: dict[dt.date, int] = {}
    for r in rows:
        answers[r.period] = answers.get(r.period, 0) + r.answers
        top[r.period] = top.get(r.period, 0) + r.top
    months = measures.months(start, end)
    last = month_start_after(today, -1)
    target = link("feedback:cvp", start=_ym(start), end=_ym(end))
    trend = [_ratio(top.get(m, 0), answers.get(m, 0)) for m in months]
    return Section(
        key="cvp",
        title=_("My CVP") if viewer.role == REP else _("Team CVP"),
        figures=[
            _figure(
                "cvp_last_month",
                _("CVP last month"),
                _ratio(top.get(last, 0), answers.get(last, 0)),
                target,
                kind="percent",
            ),
            _figure("answers_last_month", _("Survey answers last month"), answers.get(last, 0), target),
            _figure("cvp_this_month", _("CVP this month so far"), trend[-1], target, kind="percent"),
        ],
        chart=Chart(
            kind="line",
            labels=[_ym(m) for m in months],
            datasets=[
                {"label": _("CVP (%)"), "data": [None if v is None else round(v * 100, 1) for v in trend]}
            ],
            percent=True,
        ),
    )


def section_risk(viewer: User, today: dt.date) -> Section:
    """At-risk customers in the newest nightly snapshot, saves and losses this month."""
    from huitou.analytics import risk_selectors as risk

    as_of, qs = risk.at_risk_list(viewer, risk.RiskFilters())
    at_risk, capped = capped_count(qs)
    first = month_first(today)
    start = month_start_after(today, -(TREND_MONTHS - 1))
    saves_rows = risk.saves_by_rep_month(viewer, start=start, end=today)
    per_month: dict[dt.date, int] = {}
    for s in saves_rows:
        per_month[s.month] = per_month.get(s.month, 0) + s.saves
    lost = sum(risk.losses_by_reason(viewer, start=first, end=today).values())
    months = [month_start_after(start, i) for i in range(TREND_MONTHS)]
    mine = viewer.role == REP
    return Section(
        key="risk",
        title=_("My at-risk customers") if mine else _("At-risk customers and saves"),
        figures=[
            _figure(
                "at_risk",
                _("At-risk customers"),
                at_risk,
                link("analytics:risk_list"),
                capped=capped,
                tone="warning" if at_risk else "",
            ),
            _figure(
                "saved_month",
                _("Saved this month"),
                per_month.get(first, 0),
                link("analytics:risk_list"),
                tone="success" if per_month.get(first) else "",
            ),
            _figure("lost_month", _("Lost this month"), lost, link("dashboards:scorecard", month=_ym(today))),
        ],
        chart=Chart(
            kind="bar",
            labels=[_ym(m) for m in months],
            datasets=[{"label": _("Saves"), "data": [per_month.get(m, 0) for m in months]}],
        ),
        note=_("Snapshot of %(day)s.") % {"day": as_of.isoformat()} if as_of else _("No risk snapshot yet."),
    )


def section_retention(viewer: User, today: dt.date) -> Section:
    """Retention and churn over the last twelve months (the retention calculator's figures)."""
    from huitou.analytics import retention as rt
    from huitou.analytics.retention_data import retention_observed

    start, end = month_start_after(today, -11), month_first(today)
    observed = retention_observed(viewer, start=start, end=end)
    result = rt.retention_figures(observed, rt.Inputs())
    target = link("analytics:retention", start=_ym(start), end=_ym(end))
    return Section(
        key="retention",
        title=_("Retention"),
        figures=[
            _figure(
                "retention_rate",
                _("Retention rate (a year)"),
                result.yearly_retention,
                target,
                kind="percent",
            ),
            _figure(
                "churn",
                _("Churn (a year)"),
                result.yearly_churn,
                target,
                kind="percent",
                tone="danger" if result.yearly_churn else "",
            ),
            _figure(
                "active", _("Customers who bought in the last 12 months"), observed.active_in_period, target
            ),
            _figure("new", _("New customers in the last 12 months"), observed.new_customers, target),
        ],
        note=_("Retention: customers who bought in the 12 months before the period and again within it."),
    )


def section_value(viewer: User, today: dt.date) -> Section:
    """Customer lifetime value by tier, from the newest nightly value snapshot."""
    from huitou.analytics.value_selectors import value_by_tier
    from huitou.customers.models import Customer

    labels = dict(Customer.Tier.choices)
    rows = value_by_tier(viewer.organisation)  # type: ignore[arg-type]  # members have one
    figures = []
    for r in rows:
        tier = str(r["tier"] or "")
        figures.append(
            _figure(
                f"clv_{tier or 'none'}",
                str(labels.get(tier, _("No tier"))),
                r["clv_total"],
                # Untiered customers have no list of their own to open.
                link("customers:list", tier=tier) if tier else ("", {}),
                kind="money",
            )
        )
    return Section(
        key="value",
        title=_("Lifetime value by segment"),
        figures=figures,
        chart=Chart(
            kind="bar",
            labels=[f.label for f in figures],
            datasets=[
                {"label": _("Mean lifetime value (¥)"), "data": [_number(r["clv_mean"]) for r in rows]}
            ],
        )
        if rows
        else None,
        note=_(
            "Figures: the total expected lifetime value of each tier's customers; "
            "chart: the mean per customer."
        ),
    )


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def section_queues(viewer: User, today: dt.date) -> Section:
    """The work queues of the customer-relations centre and of after-sales."""
    from huitou.feedback import selectors as feedback
    from huitou.referrals import services as referral_services
    from huitou.referrals import voucher_selectors
    from huitou.referrals.models import VoucherEntry

    figures = []
    if viewer.role in referral_services.AUDIT_ROLES:
        page = referral_services.referral_audit_queue(viewer, page=1, size=1)
        figures.append(
            _figure(
                "audit_queue",
                _("Referrals to audit by phone"),
                page.total,
                link("referrals:audit_queue"),
                capped=page.total_capped,
            )
        )
    n, capped = capped_count(feedback.phone_queue(viewer, mode="survey", today=today))
    figures.append(_figure("phone_surveys", _("Phone surveys due"), n, link("feedback:phone"), capped=capped))
    if viewer.role == DCRC:
        n, capped = capped_count(feedback.phone_queue(viewer, mode="audit", today=today))
        figures.append(
            _figure(
                "phone_audits",
                _("Answers to re-check by phone"),
                n,
                link("feedback:phone", mode="audit"),
                capped=capped,
            )
        )
    entries = voucher_selectors.desk_recent(viewer, store_id=viewer.store_id, limit=COUNT_CAP)
    redeemed = sum(1 for e in entries if e.action == VoucherEntry.Action.REDEEM)
    figures.append(
        _figure(
            "redeemed_week",
            _("Vouchers redeemed at my desk (7 days)"),
            redeemed,
            link("referrals:voucher_desk"),
        )
    )
    return Section(key="queues", title=_("My queues"), figures=figures)


def section_tickets(viewer: User, today: dt.date) -> Section:
    """Complaints and requests: open, handled by the viewer, past a deadline. Counting them reads
    every open ticket of the scope (the list itself does not count), hence a section of its own,
    loaded after the page and kept a minute."""
    from huitou.feedback import selectors as feedback

    tickets = [
        ("tickets_active", _("Open complaints and requests"), feedback.TicketFilters(), {}),
        ("tickets_mine", _("Handled by me"), feedback.TicketFilters(mine=True), {"mine": "on"}),
        (
            "tickets_overdue",
            _("Past their deadline"),
            feedback.TicketFilters(overdue=True),
            {"overdue": "on"},
        ),
    ]
    now = timezone.now()
    figures = []
    for key, label, filters, params in tickets:
        n, capped = capped_count(feedback.ticket_list(viewer, filters, now=now))
        tone = "danger" if key == "tickets_overdue" and n else ""
        figures.append(_figure(key, label, n, link("feedback:tickets", **params), capped=capped, tone=tone))
    return Section(key="tickets", title=_("Complaints and requests"), figures=figures)


# ---------------------------------------------------------------------------------------------
# Pages


SECTIONS: dict[str, Callable[[User, dt.date], Section]] = {
    "tasks": section_tasks,
    "compliance": section_compliance,
    "quota": section_quota,
    "referrals": section_referrals,
    "cvp": section_cvp,
    "risk": section_risk,
    "retention": section_retention,
    "value": section_value,
    "queues": section_queues,
    "tickets": section_tickets,
}

# (section, loaded after the page). A rep's own figures are small reads on their own rows; whole
# teams and organisations wait for htmx, so the page itself answers at once.
ROLE_SECTIONS: dict[str, tuple[tuple[str, bool], ...]] = {
    REP: (("tasks", False), ("quota", True), ("risk", True), ("cvp", True)),
    MANAGER: (("compliance", True), ("referrals", True), ("risk", True), ("cvp", True)),
    OWNER: (("retention", True), ("risk", True), ("referrals", True), ("value", True), ("compliance", True)),
    DCRC: (("queues", False), ("tickets", True)),
    AFTERSALES: (("queues", False), ("tickets", True)),
}
# Seconds a section is kept. Never a rep's own figures, nor the queues: work just done shows at
# once. Retention reads every purchase of two years (seconds at 10M purchases) and moves slowly;
# the morning job (``tasks.dashboards_warm``) fills it and the value figures before anyone looks.
CACHE_TTL = {
    "compliance": CACHE_SECONDS,
    "referrals": CACHE_SECONDS,
    "risk": CACHE_SECONDS,
    "cvp": CACHE_SECONDS,
    "tickets": 60,
    "retention": 26 * 3600,  # warmed every morning by tasks.dashboards_warm
    "value": 3600,
}
# Owner-only sections over the whole organisation: one cached copy for all its owners.
ORG_WIDE = {"retention", "value"}


def sections_for(viewer: User) -> tuple[tuple[str, bool], ...]:
    if not permissions.is_active_member(viewer):
        return ()
    return ROLE_SECTIONS.get(viewer.role, ())


def can_view_section(viewer: User, key: str) -> bool:
    return any(k == key for k, _lazy in sections_for(viewer))


def _cache_key(viewer: User, key: str, day: dt.date) -> str:
    who = f"org{viewer.organisation_id}" if key in ORG_WIDE else f"user{viewer.pk}"
    return f"dashboard:{key}:{who}:{day.isoformat()}:{translation.get_language()}"


def dashboard_section(
    viewer: User, key: str, *, today: dt.date | None = None, refresh: bool = False
) -> Section:
    """One section of the viewer's home page. Raises ``KeyError`` for a section not on it."""
    if not can_view_section(viewer, key):
        raise KeyError(key)
    day = today or timezone.localdate()
    compute = SECTIONS[key]
    ttl = CACHE_TTL.get(key)
    if ttl is None or viewer.role == REP:
        return compute(viewer, day)
    cache_key = _cache_key(viewer, key, day)
    cached = None if refresh else cache.get(cache_key)
    if isinstance(cached, Section):
        return cached
    section = compute(viewer, day)
    cache.set(cache_key, section, ttl)
    return section


def dashboard(viewer: User, *, today: dt.date | None = None) -> list[Section]:
    """Every section of the viewer's home page (the API; the page loads the slow ones by htmx)."""
    return [dashboard_section(viewer, key, today=today) for key, _lazy in sections_for(viewer)]
