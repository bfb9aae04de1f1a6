"""Reads of the crisis-signal part: at-risk lists, a customer's risk card, saves per rep and month.

The score chart and its reason counts (``risk_chart``) are sums of the counts the nightly run kept
per owner, store and score (``RiskScoreCount``), scoped and filtered on those rows' own
organisation, owner and store (``scope.snapshot_scope``: the owner and store copied at the time of
the run); they never read a snapshot row nor join a customer. A customer reassigned today still
counts for their old rep until the next nightly run. The snapshot holds every customer with a
purchase that is neither merged away nor erased, lost ones and prospects included; the chart
counts the customers that were active at the time of the run (as the list does, with today's
status): a customer marked lost today leaves the list at once and the chart at the next run.

A day computed before the counts were kept is charted from the snapshot rows (``_snapshot_rows``),
active customers taken by an anti-join on today's status.

The at-risk list and its export (``at_risk_list``) AND that scope with ``customer_scope`` on the
customer's current owner and store (and their current status): a customer reassigned today leaves
the old rep's list at once and shows in the new rep's list from the next nightly run. The other
reads go through ``customer_scope``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext

from huitou.accounts import permissions
from huitou.customers import selectors as customer_selectors
from huitou.customers.models import Customer

from . import risk
from .models import CustomerLoss, CustomerRisk, RiskFill, RiskScoreCount, WinBack
from .risk_services import REASON_CODES, risk_settings
from .scope import snapshot_filters, snapshot_scope

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from huitou.accounts.models import User

VIEWER_ROLES = {permissions.OWNER, permissions.MANAGER, permissions.REP}


def can_view_risk(viewer: User) -> bool:
    return permissions.is_active_member(viewer) and viewer.role in VIEWER_ROLES


def can_act(viewer: User) -> bool:
    """Start win-backs and mark customers lost (the customer must be in scope as well)."""
    return permissions.is_active_member(viewer) and viewer.role in permissions.WRITE_ROLES


def threshold(viewer: User) -> int:
    return int(risk_settings(viewer.organisation)["threshold"])  # type: ignore[arg-type]


def latest_as_of(viewer: User) -> dt.date | None:
    if not permissions.is_active_member(viewer):
        return None
    return (
        RiskFill.objects.filter(organisation_id=permissions.org_id(viewer), status=RiskFill.Status.DONE)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )


def latest_fill(viewer: User) -> tuple[dt.date | None, dict[str, Any]]:
    """The newest complete snapshot day and its fill summary, in one query (the list page)."""
    if not permissions.is_active_member(viewer):
        return None, {}
    row = (
        RiskFill.objects.filter(organisation_id=permissions.org_id(viewer), status=RiskFill.Status.DONE)
        .order_by("-as_of")
        .values_list("as_of", "summary")
        .first()
    )
    return (row[0], row[1] or {}) if row else (None, {})


def alive_signal_in(summary: dict[str, Any] | None) -> bool:
    """False when the fit of a fill's ``summary`` found nobody leaving (P(alive) took no weight)."""
    return bool(((summary or {}).get("model") or {}).get("alive_signal_used", True))


def alive_signal_used(viewer: User, as_of: dt.date | None) -> bool:
    """False when that day's fit found nobody leaving, so P(alive) took no weight in the scores."""
    if as_of is None or not permissions.is_active_member(viewer):
        return True
    summary = (
        RiskFill.objects.filter(organisation_id=permissions.org_id(viewer), as_of=as_of)
        .values_list("summary", flat=True)
        .first()
    )
    return alive_signal_in(summary)


def reasons_text(reasons: list[dict[str, Any]]) -> list[str]:
    return [risk.reason_text(r, gettext) for r in reasons]


@dataclass(frozen=True)
class RiskFilters:
    store_id: int | None = None
    rep_id: int | None = None
    min_score: int | None = None
    team_id: int | None = None


# Statuses of customers that may have a snapshot row but are left out of the chart and the list.
NOT_ACTIVE = tuple(s for s in Customer.Status.values if s != Customer.Status.ACTIVE)


def _snapshot_rows(viewer: User, filters: RiskFilters, day: dt.date) -> QuerySet[CustomerRisk]:
    """Active customers of the snapshot of ``day`` the viewer may see by the row's own owner and
    store, narrowed by the store, team and rep copied on the row (every score: the minimum score
    is applied by the caller). The figures' rows.

    The snapshot carries no status, so the customers that are not active (lost ones, prospects)
    are taken out with NOT EXISTS on the customers of the organisation with such a status: the
    database reads only those from the ``(organisation, status, id)`` index and hashes them (an
    anti-join), instead of joining every snapshot row to its customer."""
    org = permissions.org_id(viewer)
    not_active = Customer.objects.filter(
        organisation_id=org, status__in=NOT_ACTIVE, pk=OuterRef("customer_id")
    )
    return CustomerRisk.objects.filter(
        snapshot_scope(viewer),
        snapshot_filters(store_id=filters.store_id, team_id=filters.team_id, rep_id=filters.rep_id),
        ~Exists(not_active),
        organisation_id=org,
        as_of=day,
    )


def _scored_rows(viewer: User, filters: RiskFilters, day: dt.date) -> QuerySet[CustomerRisk]:
    """The rows of the list: the snapshot's scope and filters (by the copied owner and store) AND
    ``customer_scope`` on the customer's current owner and store, active customers only (the list
    joins its customers anyway)."""
    return CustomerRisk.objects.filter(
        snapshot_scope(viewer),
        snapshot_filters(store_id=filters.store_id, team_id=filters.team_id, rep_id=filters.rep_id),
        permissions.customer_scope(viewer, "customer__"),
        organisation_id=permissions.org_id(viewer),
        as_of=day,
        customer__status=Customer.Status.ACTIVE,
    )


def min_score_of(viewer: User, filters: RiskFilters) -> int:
    return filters.min_score if filters.min_score is not None else threshold(viewer)


def at_risk_list(
    viewer: User, filters: RiskFilters, *, as_of: dt.date | None = None
) -> tuple[dt.date | None, QuerySet[CustomerRisk]]:
    """Active customers at or above ``min_score`` (default: the policy threshold) in the newest
    snapshot, highest score first. A rep sees only their own customers."""
    day = as_of or latest_as_of(viewer)
    if day is None or not can_view_risk(viewer):
        return day, CustomerRisk.objects.none()
    qs = _scored_rows(viewer, filters, day).filter(score__gte=min_score_of(viewer, filters))
    return day, qs.select_related("customer", "owner", "store").order_by("-score", "customer_id")


# Bins of the score chart: 0–9, 10–19, …, 80–89, 90–100.
SCORE_BINS = 10
# The reasons of the chart are ``risk_services.REASON_CODES``; a snapshot row's "gap_org" counts as
# "gap".


@dataclass
class RiskChart:
    # bins[k] = customers scoring 10k to 10k + 9 (the last bin holds 90–100).
    bins: list[int] = field(default_factory=lambda: [0] * SCORE_BINS)
    # Customers of the list (at or above the minimum score) with each reason, by code.
    reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASON_CODES, 0))
    at_risk: int = 0
    scored: int = 0


def risk_chart(viewer: User, filters: RiskFilters, *, as_of: dt.date | None = None) -> RiskChart:
    """The score distribution of the active customers under the page's store, team and rep
    filters (all scores, so the chart shows where the minimum cuts), and how many customers at or
    above the minimum score carry each reason.

    One grouped query over the counts the nightly run kept per owner, store and score
    (``RiskScoreCount``), under the viewer's scope and the filters, whoever the viewer: at most
    101 rows back, never a snapshot row read. A day computed before those counts were kept has
    none; its chart is counted from the snapshot rows as it was then (``_chart_before_counts``)."""
    out = RiskChart()
    day = as_of or latest_as_of(viewer)
    if day is None or not can_view_risk(viewer):
        return out
    minimum = min_score_of(viewer, filters)
    org = permissions.org_id(viewer)
    sums = {f"n_{name}": Sum(name) for name in ("customers", *REASON_CODES)}
    rows = list(
        RiskScoreCount.objects.filter(
            snapshot_scope(viewer),
            snapshot_filters(store_id=filters.store_id, team_id=filters.team_id, rep_id=filters.rep_id),
            organisation_id=org,
            as_of=day,
        )
        .values("score")
        .annotate(**sums)
        .order_by()
        .values_list("score", *sums)
    )
    if rows or RiskScoreCount.objects.filter(organisation_id=org, as_of=day).exists():
        return _chart_from_counts(rows, minimum)
    return _chart_before_counts(viewer, filters, day, minimum)


def _chart_from_counts(rows: Iterable[Sequence[int]], minimum: int) -> RiskChart:
    """The chart from ``(score, customers, *reasons)`` rows, the reasons in ``REASON_CODES``'
    order: bins of every score, the customers and their reasons from ``minimum`` up."""
    out = RiskChart()
    for score, n, *reasons in rows:
        out.bins[min(int(score) // 10, SCORE_BINS - 1)] += n
        out.scored += n
        if score >= minimum:
            out.at_risk += n
            for code, k in zip(REASON_CODES, reasons, strict=True):
                out.reasons[code] += k
    return out


def _chart_before_counts(viewer: User, filters: RiskFilters, day: dt.date, minimum: int) -> RiskChart:
    """The chart of a day computed before the nightly run kept ``RiskScoreCount`` rows: the whole
    organisation's from the counts then kept on the fill's summary, anything narrower counted from
    the snapshot rows (``_chart_from_rows``: scores grouped, reasons unnested)."""
    if _whole_organisation(viewer, filters):
        kept = (
            RiskFill.objects.filter(
                organisation_id=permissions.org_id(viewer), as_of=day, status=RiskFill.Status.DONE
            )
            .values_list("summary", flat=True)
            .first()
        )
        if kept and "chart" in kept:
            return _chart_from_summary(kept["chart"], minimum)
    return _chart_from_rows(_snapshot_rows(viewer, filters, day), minimum)


def _chart_from_rows(base: QuerySet[CustomerRisk], minimum: int) -> RiskChart:
    out = RiskChart()
    for score, n in base.values("score").annotate(n=Count("id")).order_by().values_list("score", "n"):
        out.bins[min(int(score) // 10, SCORE_BINS - 1)] += n
        out.scored += n
        if score >= minimum:
            out.at_risk += n
    if out.at_risk:
        for code, n in _reason_counts(base.filter(score__gte=minimum)):
            key = "gap" if code == "gap_org" else code
            if key in out.reasons:
                out.reasons[key] += n
    return out


def _whole_organisation(viewer: User, filters: RiskFilters) -> bool:
    """The viewer sees every customer of the organisation and the page narrows nothing."""
    return snapshot_scope(viewer) == Q(organisation_id=viewer.organisation_id) and not (
        filters.store_id or filters.team_id or filters.rep_id
    )


def _chart_from_summary(chart: dict[str, Any], minimum: int) -> RiskChart:
    """The whole organisation's chart from the counts kept on the fill summary by the nightly runs
    before ``RiskScoreCount``: customers per score (0–100), and per reason and score."""
    by_score = chart.get("by_score") or []
    by_reason = chart.get("reasons_by_score") or {}
    return _chart_from_counts(
        (
            (score, n, *((by_reason.get(code) or [0] * len(by_score))[score] for code in REASON_CODES))
            for score, n in enumerate(by_score)
        ),
        minimum,
    )


def _reason_counts(qs: QuerySet[CustomerRisk]) -> list[tuple[str, int]]:
    """(code, customers) over the rows of ``qs``: each customer counted once per code (a customer
    with two open complaints counts once). The reasons are a JSON list per row; the database
    unnests it (``jsonb_array_elements`` on PostgreSQL, ``json_each`` on SQLite), so no row
    reaches Python."""
    inner, params = qs.order_by().values(rid=F("pk"), rs=F("reasons")).query.sql_with_params()
    # ``inner`` is the ORM's own SQL, its values in ``params``.
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT e.value ->> 'code', COUNT(DISTINCT t.rid) FROM ({inner}) AS t "  # noqa: S608
            "CROSS JOIN LATERAL jsonb_array_elements(t.rs) AS e GROUP BY 1"
        )
    else:
        sql = (
            f"SELECT json_extract(e.value, '$.code'), COUNT(DISTINCT t.rid) FROM ({inner}) AS t, "  # noqa: S608
            "json_each(t.rs) AS e GROUP BY 1"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(str(code), int(n)) for code, n in cursor.fetchall() if code]


def open_winbacks(customer_ids: list[int]) -> dict[int, WinBack]:
    """Open win-backs of the given (already scoped) customers, one query."""
    return {
        w.customer_id: w
        for w in WinBack.objects.filter(customer_id__in=customer_ids, status=WinBack.Status.OPEN)
    }


@dataclass
class RiskCard:
    customer: Customer
    snapshot: CustomerRisk | None
    reasons: list[str]
    open_winback: WinBack | None
    winbacks: list[WinBack] = field(default_factory=list)
    losses: list[CustomerLoss] = field(default_factory=list)
    concessions: list[Any] = field(default_factory=list)
    threshold: int = risk.DEFAULT_THRESHOLD


CARD_ROWS = 5


def customer_risk(viewer: User, customer_id: int) -> RiskCard:
    """The customer's newest risk snapshot with reasons, win-backs, losses and the concessions of
    their complaints (which live in the feedback app, with its approval limits). NotFound
    outside the viewer's scope."""
    from huitou.feedback.models import Concession

    customer = customer_selectors.customer_get(viewer, customer_id)
    snapshot = CustomerRisk.objects.filter(customer_id=customer.pk).order_by("-as_of").first()
    winbacks = list(
        WinBack.objects.filter(customer_id=customer.pk)
        .select_related("task", "started_by")
        .order_by("-started_on", "-id")[:CARD_ROWS]
    )
    return RiskCard(
        customer=customer,
        snapshot=snapshot,
        reasons=reasons_text(snapshot.reasons) if snapshot else [],
        open_winback=next((w for w in winbacks if w.status == WinBack.Status.OPEN), None),
        winbacks=winbacks,
        losses=list(
            CustomerLoss.objects.filter(customer_id=customer.pk).order_by("-lost_on", "-id")[:CARD_ROWS]
        ),
        concessions=list(
            Concession.objects.filter(ticket__customer_id=customer.pk)
            .select_related("ticket")
            .order_by("-created_at", "-id")[:CARD_ROWS]
        ),
        threshold=threshold(viewer),
    )


@dataclass(frozen=True)
class SavesRow:
    rep_id: int | None
    rep: str
    month: dt.date
    saves: int


def saves_by_rep_month(viewer: User, *, start: dt.date, end: dt.date) -> list[SavesRow]:
    """Saves per rep and month: win-backs of a customer who was at risk (score at the start at or
    above the threshold) or lost, who bought within the save window. One grouped query."""
    if not can_view_risk(viewer):
        return []
    qs = WinBack.objects.filter(
        permissions.customer_scope(viewer, "customer__"),
        Q(score_at_start__gte=threshold(viewer)) | Q(customer_was_lost=True),
        organisation_id=permissions.org_id(viewer),
        status=WinBack.Status.SAVED,
        saved_on__gte=start,
        saved_on__lte=end,
    )
    if viewer.role == permissions.REP:
        qs = qs.filter(rep_id=viewer.pk)
    rows = (
        qs.annotate(month=TruncMonth("saved_on"))
        .values("rep_id", "rep__username", "rep__display_name", "month")
        .annotate(n=Count("id"))
        .order_by("month", "rep__username")
    )
    return [
        SavesRow(
            rep_id=r["rep_id"],
            rep=r["rep__display_name"] or r["rep__username"] or "—",
            month=r["month"],
            saves=r["n"],
        )
        for r in rows
    ]


def losses_by_reason(viewer: User, *, start: dt.date, end: dt.date) -> dict[str, int]:
    """Termination reasons recorded in the period, customers in the viewer's scope."""
    if not can_view_risk(viewer):
        return {}
    return dict(
        CustomerLoss.objects.filter(
            permissions.customer_scope(viewer, "customer__"),
            organisation_id=permissions.org_id(viewer),
            lost_on__gte=start,
            lost_on__lte=end,
        )
        .values("reason")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("reason", "n")
    )
