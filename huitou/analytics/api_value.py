"""JSON endpoints of the lifetime-value part, mounted at ``/api/v1/analytics/value``. Same checks
as the pages: owner, managers and reps only (403 for other roles); customers outside the
caller's scope are 404."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ninja import Field, Query, Router, Schema

from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.errors import PermissionDenied
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE, paginate

from . import value_selectors as sel
from .models_value import CustomerValue

router = Router(tags=["analytics"])


def _responses(ok: Any) -> dict[int, Any]:
    return {200: ok, **ERROR_RESPONSES}


def _viewer(request: AuthedRequest) -> Any:
    if not sel.can_view_value(request.user):
        raise PermissionDenied("only the owner, managers and reps see lifetime values")
    return request.user


class SegmentQuery(Schema):
    as_of: dt.date | None = None
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None


class ListQuery(SegmentQuery):
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class TierOut(Schema):
    tier: str
    customers: int
    clv_total: Decimal
    clv_mean: Decimal
    p_alive_mean: float | None


class TypeOut(Schema):
    customer_type: str
    customers: int
    clv_total: Decimal
    clv_mean: Decimal
    p_alive_mean: float | None


class ModelOut(Schema):
    model: str = Field(description='"bgnbd", "paretonbd", or "" when not fitted')
    params: dict[str, float]
    log_likelihood: float | None
    spend_model: str = Field(description='"gamma_gamma" or "mean"')
    spend_params: dict[str, float]
    spend_log_likelihood: float | None
    summary: dict[str, Any]


class SegmentsOut(Schema):
    as_of: dt.date | None
    customers: int
    clv_total: Decimal
    revenue_total: Decimal
    margin_total: Decimal
    tiers: list[TierOut]
    types: list[TypeOut]
    model: ModelOut | None


class ValueOut(Schema):
    customer_id: int
    customer_name: str
    owner_id: int | None
    store_id: int | None
    as_of: dt.date
    tier: str
    customer_type: str
    frequency: int
    recency_days: int
    age_days: int
    monetary: Decimal
    p_alive: float | None
    expected_purchases: float | None
    expected_spend: Decimal | None
    clv: Decimal
    revenue: Decimal
    margin: Decimal
    referred_customers: int
    referred_value: Decimal


class ValuePageOut(Schema):
    as_of: dt.date | None
    items: list[ValueOut]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool


class ReferredOut(Schema):
    customer_id: int
    name: str
    clv: Decimal
    margin: Decimal


class CustomerValueOut(Schema):
    customer_id: int
    value: ValueOut | None
    referred: list[ReferredOut] = Field(description="Referred customers the caller may see (one level)")
    referred_hidden: int = Field(description="Referred customers outside the caller's scope")
    referred_hidden_value: Decimal


def _value(v: CustomerValue, name: str) -> dict[str, Any]:
    return {
        "customer_id": v.customer_id,
        "customer_name": name,
        "owner_id": v.owner_id,
        "store_id": v.store_id,
        "as_of": v.as_of,
        "tier": v.tier,
        "customer_type": v.customer_type,
        "frequency": v.frequency,
        "recency_days": v.recency_days,
        "age_days": v.age_days,
        "monetary": v.monetary,
        "p_alive": v.p_alive,
        "expected_purchases": v.expected_purchases,
        "expected_spend": v.expected_spend,
        "clv": v.clv,
        "revenue": v.revenue,
        "margin": v.margin,
        "referred_customers": v.referred_customers,
        "referred_value": v.referred_value,
    }


def _filters(q: SegmentQuery) -> sel.ValueFilters:
    return sel.ValueFilters(store_id=q.store_id, team_id=q.team_id, rep_id=q.rep_id)


@router.get(
    "",
    response=_responses(SegmentsOut),
    summary="CLV per value tier and per customer type in the caller's scope, with the fitted models",
)
def value_segments(request: AuthedRequest, q: Query[SegmentQuery]) -> Any:
    viewer = _viewer(request)
    s = sel.value_segments(viewer, _filters(q), as_of=q.as_of)
    fill = s.fill
    return {
        "as_of": s.as_of,
        "customers": s.customers,
        "clv_total": s.clv_total,
        "revenue_total": s.revenue_total,
        "margin_total": s.margin_total,
        "tiers": s.tiers,
        "types": s.types,
        "model": None
        if fill is None
        else {
            "model": fill.model,
            "params": fill.params,
            "log_likelihood": fill.log_likelihood,
            "spend_model": fill.summary.get("spend_model", ""),
            "spend_params": fill.spend_params,
            "spend_log_likelihood": fill.spend_log_likelihood,
            "summary": fill.summary,
        },
    }


@router.get(
    "/customers",
    response=_responses(ValuePageOut),
    summary="Customers in the caller's scope by lifetime value, highest first",
)
def value_customers(request: AuthedRequest, q: Query[ListQuery]) -> Any:
    viewer = _viewer(request)
    day = q.as_of or sel.latest_as_of(viewer)
    page = paginate(sel.value_list(viewer, _filters(q), as_of=day), page=q.page, size=q.size)
    out = page_out(page)
    out["items"] = [_value(v, v.customer.name) for v in page.items]
    out["as_of"] = day
    return out


@router.get(
    "/customers/{customer_id}",
    response=_responses(CustomerValueOut),
    summary="A customer's lifetime value and the value of the customers they referred",
)
def value_customer(request: AuthedRequest, customer_id: int) -> Any:
    card = sel.customer_value(_viewer(request), customer_id)
    return {
        "customer_id": card.customer.pk,
        "value": _value(card.snapshot, card.customer.name) if card.snapshot else None,
        "referred": [r.__dict__ for r in card.referred],
        "referred_hidden": card.referred_hidden,
        "referred_hidden_value": card.referred_hidden_value,
    }
