"""The retention calculator as JSON (mounted at /api/v1/analytics/retention).

Same rules as the page: the owner sees the organisation, a manager their scope, other roles get 403.
Rates are fractions here (0.1 = 10%), money in the organisation's currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from huitou.api.schemas import ERROR_RESPONSES
from huitou.core.errors import PermissionDenied, ValidationFailed
from huitou.core.http import AuthedRequest
from huitou.core.months import month_first, month_last, month_start_after

from . import retention as rt
from .retention_data import MAX_MONTHS, can_view_retention, retention_observed

router = Router(tags=["analytics"])

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class RetentionQuery(Schema):
    start: str | None = Field(
        None, pattern=MONTH, description="First month, YYYY-MM (default: 11 months before end)"
    )
    end: str | None = Field(None, pattern=MONTH, description="Last month, YYYY-MM (default: this month)")
    store_id: int | None = None
    acquisition_cost: float = Field(rt.SEED_ACQUISITION_COST, ge=0, description="Seed: $118")
    retention_cost: float | None = Field(None, ge=0, description="Default: acquisition cost ÷ 6")
    discount_rate: float = Field(rt.DEFAULT_DISCOUNT_RATE, ge=0, le=1)
    target_churn: float | None = Field(None, ge=0, lt=1, description="Default: half the observed churn")


class ObservedOut(Schema):
    months: int
    active_at_start: int
    retained: int
    active_in_period: int
    new_customers: int
    revenue: float
    margin: float
    new_revenue: float
    new_margin: float


class InputsOut(Schema):
    acquisition_cost: float
    retention_cost: float
    discount_rate: float
    target_churn: float | None


class LifetimeOut(Schema):
    churn: float
    years: float
    capped: bool
    value: float
    discounted: float


class PlusFiveOut(Schema):
    retention: float
    retention_plus: float
    lifetime: LifetimeOut
    lifetime_plus: LifetimeOut
    customers: int
    base_profit: float
    extra_margin: float
    extra_cost: float
    extra_profit: float
    profit_change: float | None


class HalvingOut(Schema):
    now: LifetimeOut
    target: LifetimeOut
    lifetime_ratio: float
    value_ratio: float | None


class LostOut(Schema):
    lifetime_margin: float
    discounted: float
    replacement: float
    total: float


class CostRatioOut(Schema):
    acquisition: float
    retention: float
    ratio: float | None


class SeedsOut(Schema):
    acquisition_cost: float = rt.SEED_ACQUISITION_COST
    satisfy_cost: float = rt.SEED_SATISFY_COST
    cost_ratio: float = rt.SEED_COST_RATIO
    profit_change: float = rt.SEED_PROFIT_CHANGE
    churn: float = rt.SEED_CHURN
    target_churn: float = rt.SEED_TARGET_CHURN
    lost_customer: float = rt.SEED_LOST_CUSTOMER
    old_premium: tuple[float, float] = rt.SEED_OLD_PREMIUM


class RetentionOut(Schema):
    start: dt.date
    end: dt.date
    observed: ObservedOut
    inputs: InputsOut
    period_retention: float | None
    yearly_retention: float | None
    yearly_churn: float | None
    revenue_per_year: float | None
    margin_per_year: float | None
    lifetime: LifetimeOut | None
    repeat_revenue_share: float | None
    returning_customers: int
    returning_margin: float | None
    new_margin: float | None
    returning_premium: float | None
    plus_five: PlusFiveOut | None
    halving: HalvingOut | None
    lost: LostOut | None
    cost_ratio: CostRatioOut
    seeds: SeedsOut


def _month(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value + "-01") if value else None


@router.get(
    "",
    response={200: RetentionOut, **ERROR_RESPONSES},
    summary="Retention, churn, lifetime value and the seeds' figures on the organisation's numbers",
)
def retention_summary(request: AuthedRequest, q: Query[RetentionQuery]) -> Any:
    if not can_view_retention(request.user):
        raise PermissionDenied("only the owner and managers see the retention calculator")
    end = _month(q.end) or month_first(timezone.localdate())
    start = _month(q.start) or month_start_after(end, -11)
    if end < start:
        raise ValidationFailed({"end": ["must not be before the start"]})
    if rt.months_between(start, end) > MAX_MONTHS:
        raise ValidationFailed({"end": [f"a period covers at most {MAX_MONTHS} months"]})
    observed = retention_observed(request.user, start=start, end=end, store_id=q.store_id)
    inputs = rt.Inputs(
        acquisition_cost=q.acquisition_cost,
        retention_cost=q.retention_cost,
        discount_rate=q.discount_rate,
        target_churn=q.target_churn,
    )
    result = rt.retention_figures(observed, inputs)
    body = asdict(result)
    body["inputs"]["retention_cost"] = inputs.keep_cost
    return {**body, "start": start, "end": month_last(end), "seeds": SeedsOut()}
