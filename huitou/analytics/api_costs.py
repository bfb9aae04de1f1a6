"""JSON endpoints of cost-to-serve (best and worst customers), mounted at ``/api/v1/analytics/costs``.
Same checks as the page: the owner, managers and reps (403 for other roles), each within their
scope; a customer outside it is 404."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from huitou.api.schemas import ERROR_RESPONSES
from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE

from . import costs
from .forms_qualify import MAX_PERIOD_DAYS


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


class CostsQuery(Schema):
    start: dt.date | None = Field(None, description="Default: 365 days before the end")
    end: dt.date | None = Field(None, description="Default: today")
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None
    ranking: Literal["worst", "best"] = Field(
        "worst", description="worst: the losing customers, most negative first"
    )
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class PeriodQuery(Schema):
    start: dt.date | None = None
    end: dt.date | None = None


class CostOut(Schema):
    tasks: Decimal
    visits: Decimal
    tickets: Decimal
    concessions: Decimal
    vouchers: Decimal
    gifts: Decimal
    total: Decimal


class CustomerCostOut(Schema):
    customer_id: int
    customer_name: str
    owner_id: int | None
    store_id: int | None
    margin: Decimal
    cost: CostOut
    net: Decimal


class CostsPageOut(Schema):
    start: dt.date
    end: dt.date
    customers: int = Field(description="Customers with margin or cost in the period")
    losing: int = Field(description="Customers who cost more to serve than the margin they brought")
    losing_share: float
    ranked_at: dt.datetime | None = Field(
        description="When the nightly run ranked the customers (its kept table was read); null when "
        "the ranking was worked out for this request. The items' figures are always current."
    )
    ranking: str
    items: list[CustomerCostOut]
    page: int
    size: int
    has_next: bool
    total: int


def _period(start: dt.date | None, end: dt.date | None, default_days: int) -> tuple[dt.date, dt.date]:
    end = end or timezone.localdate()
    start = start or end - dt.timedelta(days=default_days - 1)
    if end < start or (end - start).days > MAX_PERIOD_DAYS:
        raise ValidationFailed({"start": ["choose a period of at most three years, start before end"]})
    return start, end


def _row(r: costs.CostRow) -> dict[str, Any]:
    return {
        "customer_id": r.customer.pk,
        "customer_name": r.customer.name,
        "owner_id": r.customer.owner_id,
        "store_id": r.customer.store_id,
        "margin": r.margin,
        "cost": r.cost._asdict(),
        "net": r.net,
    }


def build_router() -> Router:
    """A fresh router (a router can be attached to one API only; tests attach their own)."""
    router = Router(tags=["analytics"])

    def _viewer(request: AuthedRequest) -> Any:
        if not costs.can_view_costs(request.user):
            raise PermissionDenied("only the owner, managers and reps see cost-to-serve")
        return request.user

    @router.get(
        "",
        response=_responses(CostsPageOut),
        summary="Customers by margin minus cost-to-serve: the worst (losing) or the best, one page",
    )
    def costs_list(request: AuthedRequest, q: Query[CostsQuery]) -> Any:
        viewer = _viewer(request)
        start, end = _period(q.start, q.end, 365)
        table = costs.cost_table(
            viewer,
            start=start,
            end=end,
            filters=costs.CostFilters(store_id=q.store_id, team_id=q.team_id, rep_id=q.rep_id),
        )
        positions = table.worst() if q.ranking == "worst" else table.best()
        lo = (q.page - 1) * q.size
        ids = [int(i) for i in table.ids[positions[lo : lo + q.size]]]
        rows = costs.cost_rows(viewer, start=start, end=end, customer_ids=ids)
        return {
            "start": start,
            "end": end,
            "customers": table.customers,
            "losing": table.losing,
            "losing_share": round(table.losing_share, 4),
            "ranked_at": table.kept_at,
            "ranking": q.ranking,
            "items": [_row(r) for r in rows],
            "page": q.page,
            "size": q.size,
            "has_next": lo + q.size < positions.size,
            "total": int(positions.size),
        }

    @router.get(
        "/customers/{customer_id}",
        response=_responses(CustomerCostOut),
        summary="One customer's margin and cost-to-serve by source in a period",
    )
    def costs_customer(request: AuthedRequest, customer_id: int, q: Query[PeriodQuery]) -> Any:
        viewer = _viewer(request)
        start, end = _period(q.start, q.end, 365)
        rows = costs.cost_rows(viewer, start=start, end=end, customer_ids=[customer_id])
        if not rows:
            raise NotFound("customer")
        return _row(rows[0])

    return router


router = build_router()
