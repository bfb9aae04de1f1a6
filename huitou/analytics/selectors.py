"""Reads of the analytics app. Every query over snapshot rows goes through ``customer_scope``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db.models import Count, FloatField, Q, Sum
from django.db.models.functions import Cast

from huitou.accounts import permissions

from .models import CustomerSegment, SegmentFill
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


def segment_rows(viewer: User, *, as_of: dt.date, store_id: int | None = None) -> QuerySet[CustomerSegment]:
    qs = CustomerSegment.objects.filter(
        customer_scope_q(viewer), organisation_id=permissions.org_id(viewer), as_of=as_of
    )
    if store_id:
        qs = qs.filter(customer__store_id=store_id)
    return qs


def customer_scope_q(viewer: User) -> Q:
    return permissions.customer_scope(viewer, "customer__")


def _share(part: Decimal, total: Decimal) -> float:
    return round(float(part / total), 4) if total > 0 else 0.0


def segments_overview(
    viewer: User, *, store_id: int | None = None, as_of: dt.date | None = None
) -> SegmentOverview:
    """Tier counts and value shares, the R×F grid, suggested vs set types and the Pareto curves of
    the customers the viewer may see, from the newest snapshot (or ``as_of``)."""
    if not can_view_segments(viewer):
        return SegmentOverview(as_of=None)
    day = as_of or latest_as_of(viewer)
    out = SegmentOverview(as_of=day)
    if day is None:
        return out
    qs = segment_rows(viewer, as_of=day, store_id=store_id)

    zero = Decimal("0")
    by_tier: dict[str, tuple[int, Decimal, Decimal]] = {
        tier: (n, rev or zero, mar or zero)
        for tier, n, rev, mar in qs.values("tier")
        .annotate(n=Count("id"), rev=Sum("monetary"), mar=Sum("margin"))
        .order_by()
        .values_list("tier", "n", "rev", "mar")
    }
    out.customers = sum(v[0] for v in by_tier.values())
    out.revenue = sum((v[1] for v in by_tier.values()), zero)
    out.margin = sum((v[2] for v in by_tier.values()), zero)
    for tier in TIERS:
        n, rev, mar = by_tier.get(tier, (0, zero, zero))
        out.tiers.append(TierRow(tier, n, rev, mar, _share(rev, out.revenue), _share(mar, out.margin)))

    for r, f, n in qs.values("r", "f").annotate(n=Count("id")).order_by().values_list("r", "f", "n"):
        out.rf_grid[r - 1][f - 1] = n

    out.types = {t: dict.fromkeys(TYPES, 0) for t in TYPES}
    type_rows = (
        qs.values("suggested_type", "customer__customer_type")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("suggested_type", "customer__customer_type", "n")
    )
    for suggested, by_hand, n in type_rows:
        out.types[suggested][by_hand] = n

    if store_id is None and viewer.role == permissions.OWNER:
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
