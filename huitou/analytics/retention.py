"""The retention calculator (DOMAIN §8): the seeds' figures worked out on the organisation's numbers.

Pure arithmetic on plain numbers, no Django import. The data side (``retention_data``) counts the
customers and sums their purchases; this module turns those counts into yearly retention, churn,
lifetime, lifetime value and the four "case for retention" figures.

Conventions, so each figure can be checked by hand:
- Lifetime in years is ``1 / yearly churn``, capped at ``MAX_LIFETIME_YEARS`` (churn 0 would make it
  infinite; a customer relationship does not last longer than a working life).
- Lifetime value = yearly margin × lifetime. Discounted, the margin of year ``t`` (the current year
  is ``t = 0``) is weighted by ``(retention / (1 + rate))**t``: the sum is
  ``(1 + rate) / (rate + churn)``, which is ``1 / churn`` at rate 0. A capped lifetime truncates the
  sum at the cap.
- The +5 points figure: with the customers at the start ``N``, yearly margin ``m`` and retention
  cost ``k`` per extra customer-year kept, extra profit = ``N × (m − k) × (L₊ − L)`` where ``L₊`` is
  the lifetime at retention + 5 points; compared with today's ``N × m × L``. The same ratio is the
  growth of a steady customer base fed by the same number of new customers each year.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MAX_LIFETIME_YEARS = 50.0
PLUS_POINTS = 0.05

# The seeds' figures (shared/seeds/000 and 003), shown beside the organisation's own.
SEED_ACQUISITION_COST = 118.0  # dollars to win a new customer (American Management Association)
SEED_SATISFY_COST = 19.0  # dollars to keep a customer satisfied
SEED_COST_RATIO = 6.0  # acquiring costs 6× keeping (5–6× in DOMAIN §8)
SEED_PROFIT_CHANGE = 0.25  # +5% retention → +25% profit
SEED_CHURN = 0.20  # usual churn ...
SEED_TARGET_CHURN = 0.10  # ... halved: lifetime 5 → 10 years, lifetime value doubles
SEED_LOST_CUSTOMER = 120.0  # dollars of profit lost with each customer
SEED_OLD_PREMIUM = (0.20, 0.85)  # old customers bring 20–85% more profit than new ones
DEFAULT_DISCOUNT_RATE = 0.10  # not a seed figure: a common cost of capital


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from ``start``'s month to ``end``'s month, both included."""
    return (end.year * 12 + end.month) - (start.year * 12 + start.month) + 1


@dataclass(frozen=True)
class Observed:
    """Counts and sums over the period of ``months`` months and the same length before it."""

    months: int
    active_at_start: int  # bought in the months before the period
    retained: int  # ... and again within the period
    active_in_period: int
    new_customers: int  # first purchase ever within the period
    revenue: float  # of the period
    margin: float
    new_revenue: float  # of the new customers, within the period
    new_margin: float


@dataclass(frozen=True)
class Inputs:
    acquisition_cost: float = SEED_ACQUISITION_COST
    retention_cost: float | None = None  # None: acquisition cost ÷ 6
    discount_rate: float = DEFAULT_DISCOUNT_RATE
    target_churn: float | None = None  # None: half the observed churn

    @property
    def keep_cost(self) -> float:
        if self.retention_cost is not None:
            return self.retention_cost
        return self.acquisition_cost / SEED_COST_RATIO


@dataclass(frozen=True)
class Lifetime:
    churn: float
    years: float
    capped: bool
    value: float  # yearly margin × years
    discounted: float


@dataclass(frozen=True)
class PlusFive:
    retention: float
    retention_plus: float
    lifetime: Lifetime
    lifetime_plus: Lifetime
    customers: int
    base_profit: float  # N × m × L
    extra_margin: float  # N × m × (L₊ − L)
    extra_cost: float  # N × k × (L₊ − L)
    extra_profit: float
    profit_change: float | None  # extra_profit / base_profit


@dataclass(frozen=True)
class Halving:
    now: Lifetime
    target: Lifetime
    lifetime_ratio: float
    value_ratio: float | None  # discounted value, target ÷ now


@dataclass(frozen=True)
class LostCustomer:
    lifetime_margin: float
    discounted: float
    replacement: float  # acquisition cost of a new customer in their place
    total: float  # discounted + replacement


@dataclass(frozen=True)
class CostRatio:
    acquisition: float
    retention: float
    ratio: float | None


@dataclass(frozen=True)
class Retention:
    observed: Observed
    inputs: Inputs
    period_retention: float | None
    yearly_retention: float | None
    yearly_churn: float | None
    revenue_per_year: float | None  # per customer active in the period
    margin_per_year: float | None
    lifetime: Lifetime | None
    repeat_revenue_share: float | None
    returning_customers: int
    returning_margin: float | None  # per returning customer, within the period
    new_margin: float | None  # per new customer
    returning_premium: float | None  # returning ÷ new − 1
    plus_five: PlusFive | None
    halving: Halving | None
    lost: LostCustomer | None
    cost_ratio: CostRatio


def lifetime_years(churn: float) -> tuple[float, bool]:
    if churn <= 1.0 / MAX_LIFETIME_YEARS:
        return MAX_LIFETIME_YEARS, True
    return 1.0 / churn, False


def discount_factor(churn: float, rate: float) -> float:
    """Years of margin a customer is worth today: Σ ((1 − churn) / (1 + rate))**t from t = 0."""
    if not lifetime_years(churn)[1]:
        return (1.0 + rate) / (rate + churn)
    q = (1.0 - churn) / (1.0 + rate)
    n = int(MAX_LIFETIME_YEARS)
    return float(n) if q == 1.0 else (1.0 - q**n) / (1.0 - q)


def lifetime(churn: float, margin_per_year: float, rate: float) -> Lifetime:
    churn = min(max(churn, 0.0), 1.0)
    years, capped = lifetime_years(churn)
    return Lifetime(
        churn=churn,
        years=years,
        capped=capped,
        value=margin_per_year * years,
        discounted=margin_per_year * discount_factor(churn, rate),
    )


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def plus_five(customers: int, retention: float, margin: float, keep_cost: float, rate: float) -> PlusFive:
    plus = min(retention + PLUS_POINTS, 1.0)
    now = lifetime(1.0 - retention, margin, rate)
    more = lifetime(1.0 - plus, margin, rate)
    gain = more.years - now.years
    base = customers * margin * now.years
    extra_margin = customers * margin * gain
    extra_cost = customers * keep_cost * gain
    return PlusFive(
        retention=retention,
        retention_plus=plus,
        lifetime=now,
        lifetime_plus=more,
        customers=customers,
        base_profit=base,
        extra_margin=extra_margin,
        extra_cost=extra_cost,
        extra_profit=extra_margin - extra_cost,
        profit_change=_ratio(extra_margin - extra_cost, base),
    )


def retention_figures(observed: Observed, inputs: Inputs) -> Retention:
    o = observed
    years_per_period = o.months / 12.0
    period_retention = _ratio(o.retained, o.active_at_start)
    yearly_retention = None if period_retention is None else period_retention ** (1.0 / years_per_period)
    churn = None if yearly_retention is None else 1.0 - yearly_retention
    revenue_per_year = o.revenue / o.active_in_period / years_per_period if o.active_in_period else None
    margin_per_year = o.margin / o.active_in_period / years_per_period if o.active_in_period else None

    returning = o.active_in_period - o.new_customers
    returning_margin = (o.margin - o.new_margin) / returning if returning else None
    new_margin = o.new_margin / o.new_customers if o.new_customers else None
    premium = None
    if returning_margin is not None and new_margin:
        premium = returning_margin / new_margin - 1.0

    keep = inputs.keep_cost
    cost_ratio = CostRatio(inputs.acquisition_cost, keep, _ratio(inputs.acquisition_cost, keep))

    life = five = halving = lost = None
    if churn is not None and yearly_retention is not None and margin_per_year is not None:
        rate = inputs.discount_rate
        life = lifetime(churn, margin_per_year, rate)
        five = plus_five(o.active_at_start, yearly_retention, margin_per_year, keep, rate)
        target_churn = churn / 2.0 if inputs.target_churn is None else inputs.target_churn
        target = lifetime(target_churn, margin_per_year, rate)
        halving = Halving(
            now=life,
            target=target,
            lifetime_ratio=target.years / life.years,
            value_ratio=_ratio(target.discounted, life.discounted),
        )
        lost = LostCustomer(
            lifetime_margin=life.value,
            discounted=life.discounted,
            replacement=inputs.acquisition_cost,
            total=life.discounted + inputs.acquisition_cost,
        )

    return Retention(
        observed=o,
        inputs=inputs,
        period_retention=period_retention,
        yearly_retention=yearly_retention,
        yearly_churn=churn,
        revenue_per_year=revenue_per_year,
        margin_per_year=margin_per_year,
        lifetime=life,
        repeat_revenue_share=_ratio(o.revenue - o.new_revenue, o.revenue),
        returning_customers=returning,
        returning_margin=returning_margin,
        new_margin=new_margin,
        returning_premium=premium,
        plus_five=five,
        halving=halving,
        lost=lost,
        cost_ratio=cost_ratio,
    )
