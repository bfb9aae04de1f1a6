"""Reads of the analytics app.

Segment snapshot figures (``segments_overview``: counts, sums, the R×F grid, the type matrix, the
Pareto curve) scope and filter on the snapshot row's own organisation, owner and store
(``scope.snapshot_scope``: the owner and store copied at the time of the nightly run) and never
join the customers table. The rows are written for every customer with a purchase, whatever their
status, and were always counted so (no status filter); a customer reassigned today moves in the
figures at the next nightly run. The per-customer rows of the export (``segment_customers``) also
go through ``customer_scope`` on the customer's current owner and store, so a customer taken from
a manager's team or store today is no longer listed to them (nor to the new one before the next
run).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db.models import Count, FloatField, Q, Sum
from django.db.models.functions import Cast

from huitou.accounts import permissions

from .costs import period_bounds
from .models import CustomerSegment, SegmentFill
from .models_qualify import Qualification
from .qualify import APPLES, QualifyFilters, qualified_list
from .scope import snapshot_filters, snapshot_scope
from .segments import pareto_summary

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from huitou.accounts.models import User

VIEWER_ROLES = {permissions.OWNER, permissions.MANAGER}
TIERS = ("gold", "silver", "bronze", "")
TYPES = ("profit", "volume", "relationship", "strategic", "")


@dataclass
class TierRow:
    tier: str
    customers: int
    revenue: Decimal
    margin: Decimal
    revenue_share: float
    margin_share: float


@dataclass
class SegmentOverview:
    as_of: dt.date | None
    customers: int = 0
    revenue: Decimal = Decimal("0")
    margin: Decimal = Decimal("0")
    tiers: list[TierRow] = field(default_factory=list)
    # rf_grid[r - 1][f - 1] = customers with those scores; rows R 1..5, columns F 1..5.
    rf_grid: list[list[int]] = field(default_factory=lambda: [[0] * 5 for _ in range(5)])
    # types[suggested][set_by_hand] = customers.
    types: dict[str, dict[str, int]] = field(default_factory=dict)
    pareto: dict[str, list[float]] = field(default_factory=dict)
    top20_revenue_share: float = 0.0
    top20_margin_share: float = 0.0


def _fill_summary(viewer: User, day: dt.date) -> dict[str, Any]:
    summary = (
        SegmentFill.objects.filter(organisation_id=permissions.org_id(viewer), as_of=day)
        .values_list("summary", flat=True)
        .first()
    )
    return summary or {}


def can_view_segments(viewer: User) -> bool:
    return permissions.is_active_member(viewer) and viewer.role in VIEWER_ROLES


def latest_as_of(viewer: User) -> dt.date | None:
    """The newest complete snapshot day of the viewer's organisation."""
    if not permissions.is_active_member(viewer):
        return None
    return (
        SegmentFill.objects.filter(organisation_id=permissions.org_id(viewer), status=SegmentFill.Status.DONE)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )


def snapshot_days(viewer: User, *, limit: int = 30) -> list[dt.date]:
    """The newest complete segment snapshot days (fill done), for the as-of filter."""
    if not permissions.is_active_member(viewer):
        return []
    return list(
        SegmentFill.objects.filter(organisation_id=permissions.org_id(viewer), status=SegmentFill.Status.DONE)
        .order_by("-as_of")
        .values_list("as_of", flat=True)[:limit]
    )


def teams_in_scope(viewer: User) -> list[tuple[int, str]]:
    """Teams for the filters of the analytics pages: the owner's every team, a manager's the teams
    of the people they see (as on the value report); none for other roles."""
    from huitou.accounts.models import Team
    from huitou.customers.selectors import users_in_scope

    if not permissions.is_active_member(viewer) or viewer.role not in VIEWER_ROLES:
        return []
    qs = Team.objects.filter(organisation_id=permissions.org_id(viewer))
    if viewer.role == permissions.MANAGER:
        qs = qs.filter(pk__in=users_in_scope(viewer).values("team_id"))
    return list(qs.order_by("name").values_list("pk", "name"))


@dataclass(frozen=True)
class SegmentFilters:
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None


def segment_snapshot_rows(
    viewer: User,
    *,
    as_of: dt.date,
    store_id: int | None = None,
    team_id: int | None = None,
    rep_id: int | None = None,
) -> QuerySet[CustomerSegment]:
    """The snapshot rows of ``as_of`` the viewer may see by the row's own owner and store, narrowed
    by the store, the owner rep's team and the owner rep copied on the row (the figures' rows; no
    join to the customers). The ``(organisation, as_of, tier)``, ``(owner, as_of)`` and
    ``(store, as_of)`` indexes serve the day."""
    return CustomerSegment.objects.filter(
        snapshot_scope(viewer),
        snapshot_filters(store_id=store_id, team_id=team_id, rep_id=rep_id),
        organisation_id=permissions.org_id(viewer),
        as_of=as_of,
    )


def segment_rows(
    viewer: User,
    *,
    as_of: dt.date,
    store_id: int | None = None,
    team_id: int | None = None,
    rep_id: int | None = None,
) -> QuerySet[CustomerSegment]:
    """``segment_snapshot_rows`` whose customer the viewer may still see now (``customer_scope`` on
    the customer's current owner and store): the rows listed customer by customer."""
    return segment_snapshot_rows(
        viewer, as_of=as_of, store_id=store_id, team_id=team_id, rep_id=rep_id
    ).filter(customer_scope_q(viewer))


def segment_customers(viewer: User, filters: SegmentFilters, *, as_of: dt.date) -> QuerySet[CustomerSegment]:
    """The per-customer rows of the segments export: highest revenue first."""
    if not can_view_segments(viewer):
        return CustomerSegment.objects.none()
    return (
        segment_rows(
            viewer, as_of=as_of, store_id=filters.store_id, team_id=filters.team_id, rep_id=filters.rep_id
        )
        .select_related("customer", "customer__owner", "customer__store")
        .order_by("-monetary", "customer_id")
    )


def customer_scope_q(viewer: User) -> Q:
    return permissions.customer_scope(viewer, "customer__")


def _share(part: Decimal, total: Decimal) -> float:
    return round(float(part / total), 4) if total > 0 else 0.0


def segments_overview(
    viewer: User,
    *,
    store_id: int | None = None,
    as_of: dt.date | None = None,
    team_id: int | None = None,
    rep_id: int | None = None,
) -> SegmentOverview:
    """Tier counts and value shares, the R×F grid, suggested vs set types and the Pareto curves of
    the customers the viewer may see, from the newest snapshot (or ``as_of``).

    Two statements (three without ``as_of``: the newest day first): one GROUP BY at the finest
    grain the page needs (tier, R, F, suggested type, type set by hand: at most 2,500 groups) with
    customers, revenue and margin, folded here into the tier table, the grid and the type matrix;
    then the Pareto curve (the owner's whole organisation: kept on the fill row by the nightly run;
    otherwise the scoped rows' revenue and margin)."""
    if not can_view_segments(viewer):
        return SegmentOverview(as_of=None)
    day = as_of or latest_as_of(viewer)
    out = SegmentOverview(as_of=day)
    if day is None:
        return out
    qs = segment_snapshot_rows(viewer, as_of=day, store_id=store_id, team_id=team_id, rep_id=rep_id)

    zero = Decimal("0")
    groups = (
        qs.values("tier", "r", "f", "suggested_type", "customer_type")
        .annotate(n=Count("id"), rev=Sum("monetary"), mar=Sum("margin"))
        .order_by()
        .values_list("tier", "r", "f", "suggested_type", "customer_type", "n", "rev", "mar")
    )
    by_tier: dict[str, list[Any]] = {}
    out.types = {t: dict.fromkeys(TYPES, 0) for t in TYPES}
    for tier, r, f, suggested, by_hand, n, rev, mar in groups:
        sums = by_tier.setdefault(tier, [0, zero, zero])
        sums[0] += n
        sums[1] += rev or zero
        sums[2] += mar or zero
        out.rf_grid[r - 1][f - 1] += n
        out.types[suggested][by_hand] += n
    out.customers = sum(v[0] for v in by_tier.values())
    out.revenue = sum((v[1] for v in by_tier.values()), zero)
    out.margin = sum((v[2] for v in by_tier.values()), zero)
    for tier in TIERS:
        n, rev, mar = by_tier.get(tier, (0, zero, zero))
        out.tiers.append(TierRow(tier, n, rev, mar, _share(rev, out.revenue), _share(mar, out.margin)))

    if store_id is None and team_id is None and rep_id is None and viewer.role == permissions.OWNER:
        # The whole organisation: computed once by the nightly run.
        summary = _fill_summary(viewer, day)
    else:
        rows = qs.annotate(rev=Cast("monetary", FloatField()), mar=Cast("margin", FloatField()))
        values = np.array(list(rows.values_list("rev", "mar")), dtype=np.float64).reshape(-1, 2)
        summary = pareto_summary(values[:, 0], values[:, 1])
    out.pareto = summary.get("pareto", {})
    out.top20_revenue_share = summary.get("top20_revenue_share", 0.0)
    out.top20_margin_share = summary.get("top20_margin_share", 0.0)
    return out


# ---------------------------------------------------------------------------------------------
# Qualified leads: the list page's period filter (updated between), its counts and chart. Scope
# and the store/team/rep/status/apple filters are ``qualify.qualified_list``'s; the period narrows
# on ``updated_at`` (the ``(organisation, -updated_at)`` and ``(organisation, apple, -updated_at)``
# indexes).


def qualified_leads(
    viewer: User, f: QualifyFilters, *, start: dt.date | None = None, end: dt.date | None = None
) -> QuerySet[Qualification]:
    """The qualified list of ``qualify.qualified_list``, updated between ``start`` and ``end``
    (whole days in the current time zone, either may be open)."""
    qs = qualified_list(viewer, f)
    if start is not None:
        qs = qs.filter(updated_at__gte=period_bounds(start, start)[0])
    if end is not None:
        qs = qs.filter(updated_at__lt=period_bounds(end, end)[1])
    return qs


@dataclass
class AppleCounts:
    # Qualified customers of each apple, without the apple filter (the page's counts).
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(APPLES, 0))
    # One row per owner rep: ``rep_id``, ``rep`` and ``counts`` (red, green, rotten), without the
    # apple filter (the page's table), reps by name.
    by_rep: list[dict[str, Any]] = field(default_factory=list)
    # The chart: the same with every filter of the list, the apple included.
    chart_counts: list[int] = field(default_factory=lambda: [0] * len(APPLES))
    chart_by_rep: list[dict[str, Any]] = field(default_factory=list)


def apple_counts(
    viewer: User, f: QualifyFilters, *, start: dt.date | None = None, end: dt.date | None = None
) -> AppleCounts:
    """Counts per apple and per owner rep of the qualified list, in one GROUP BY (owner, apple)
    that carries the reps' names."""
    out = AppleCounts()
    qs = qualified_leads(viewer, replace(f, apple=""), start=start, end=end)
    rows = (
        qs.values("customer__owner_id", "customer__owner__username", "customer__owner__display_name", "apple")
        .annotate(n=Count("id"))
        .order_by()
        .values_list(
            "customer__owner_id", "customer__owner__username", "customer__owner__display_name", "apple", "n"
        )
    )
    chosen = f.apple if f.apple in APPLES else ""
    table: dict[int | None, dict[str, Any]] = {}
    for owner_id, username, display_name, apple, n in rows:
        if apple not in out.counts:
            continue
        out.counts[apple] += n
        row = table.setdefault(
            owner_id,
            {"rep_id": owner_id, "rep": (display_name or username or "") if owner_id else "", "by": {}},
        )
        row["by"][apple] = row["by"].get(apple, 0) + n
    for row in table.values():
        row["counts"] = [row["by"].get(a, 0) for a in APPLES]
        row["chart"] = [row["by"].get(a, 0) if not chosen or a == chosen else 0 for a in APPLES]
    reps = sorted(table.values(), key=lambda r: (r["rep"], r["rep_id"] or 0))
    out.by_rep = [{k: r[k] for k in ("rep_id", "rep", "counts")} for r in reps]
    out.chart_counts = [out.counts[a] if not chosen or a == chosen else 0 for a in APPLES]
    out.chart_by_rep = [
        {"rep_id": r["rep_id"], "rep": r["rep"], "counts": r["chart"]} for r in reps if any(r["chart"])
    ]
    return out
