"""JSON endpoints of the analytics app (the lead mounts ``router`` at ``/api/v1/analytics``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ninja import Query, Router, Schema

from huitou.api.schemas import ERROR_RESPONSES
from huitou.core.errors import PermissionDenied
from huitou.core.http import AuthedRequest

from . import selectors

router = Router(tags=["analytics"])


class SegmentsQuery(Schema):
    store_id: int | None = None
    as_of: dt.date | None = None


class TierOut(Schema):
    tier: str
    customers: int
    revenue: Decimal
    margin: Decimal
    revenue_share: float
    margin_share: float


class ParetoOut(Schema):
    customers: list[float]
    revenue: list[float]
    margin: list[float]


class SegmentsOut(Schema):
    as_of: dt.date | None
    customers: int
    revenue: Decimal
    margin: Decimal
    tiers: list[TierOut]
    rf_grid: list[list[int]]
    types: dict[str, dict[str, int]]
    pareto: ParetoOut
    top20_revenue_share: float
    top20_margin_share: float


@router.get(
    "/segments",
    response={200: SegmentsOut, **ERROR_RESPONSES},
    summary="Value tiers, RFM grid, type suggestions and Pareto curve (owner and managers)",
)
def segments_summary(request: AuthedRequest, filters: Query[SegmentsQuery]) -> Any:
    """From the newest snapshot, or ``as_of``. ``rf_grid[r-1][f-1]`` counts customers;
    ``types[suggested][set_by_hand]`` counts customers ("" = none)."""
    if not selectors.can_view_segments(request.user):
        raise PermissionDenied("only the owner and managers see segments")
    o = selectors.segments_overview(request.user, store_id=filters.store_id, as_of=filters.as_of)
    return {
        "as_of": o.as_of,
        "customers": o.customers,
        "revenue": o.revenue,
        "margin": o.margin,
        "tiers": [t.__dict__ for t in o.tiers],
        "rf_grid": o.rf_grid,
        "types": o.types,
        "pareto": o.pareto or {"customers": [], "revenue": [], "margin": []},
        "top20_revenue_share": o.top20_revenue_share,
        "top20_margin_share": o.top20_margin_share,
    }


# The crisis-signal and retention parts have their own endpoint modules.
from .api_costs import router as _costs_router  # noqa: E402
from .api_qualify import router as _qualify_router  # noqa: E402
from .api_retention import router as _retention_router  # noqa: E402
from .api_risk import router as _risk_router  # noqa: E402
from .api_value import router as _value_router  # noqa: E402

router.add_router("/risk", _risk_router)
router.add_router("/retention", _retention_router)
router.add_router("/qualify", _qualify_router)
router.add_router("/costs", _costs_router)
router.add_router("/value", _value_router)
