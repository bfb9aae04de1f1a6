"""The retention calculator's arithmetic, on the seeds' own numbers and worked examples."""

from __future__ import annotations

import datetime as dt

import pytest

from huitou.analytics import retention as rt
from huitou.core import months


def observed(**kw):
    base = dict(
        months=12,
        active_at_start=100,
        retained=80,
        active_in_period=100,
        new_customers=0,
        revenue=100_000.0,
        margin=12_000.0,
        new_revenue=0.0,
        new_margin=0.0,
    )
    return rt.Observed(**{**base, **kw})


def test_the_seed_halving_churn_doubles_lifetime_and_value():
    r = rt.retention_figures(observed(), rt.Inputs(discount_rate=0.0))
    assert r.yearly_churn == pytest.approx(0.2)
    h = r.halving
    assert h.now.years == pytest.approx(5.0) and h.target.years == pytest.approx(10.0)
    assert h.lifetime_ratio == pytest.approx(2.0) and h.value_ratio == pytest.approx(2.0)
    assert h.now.value == pytest.approx(120 * 5) and h.target.value == pytest.approx(1200)


def test_plus_five_points_on_the_seed_churn():
    # churn 20% → 15%: lifetime 5 → 6.667 years, +33.3% before the retention cost.
    r = rt.retention_figures(observed(), rt.Inputs(acquisition_cost=120.0, discount_rate=0.0))
    p = r.plus_five
    assert p.retention_plus == pytest.approx(0.85)
    assert p.lifetime_plus.years == pytest.approx(20 / 3)
    assert p.base_profit == pytest.approx(100 * 120 * 5)
    assert p.extra_margin == pytest.approx(100 * 120 * 5 / 3)
    assert p.extra_cost == pytest.approx(100 * 20 * 5 / 3)  # retention cost = 120 ÷ 6
    assert p.profit_change == pytest.approx((100 / 120) / 3)


def test_discounted_value_is_the_geometric_sum():
    life = rt.lifetime(0.2, 100.0, 0.1)
    direct = sum(100.0 * (0.8 / 1.1) ** t for t in range(2000))
    assert life.discounted == pytest.approx(direct) == pytest.approx(100 * 1.1 / 0.3)
    assert rt.lifetime(0.2, 100.0, 0.0).discounted == pytest.approx(500.0)


def test_no_churn_caps_the_lifetime():
    r = rt.retention_figures(observed(retained=100), rt.Inputs(discount_rate=0.0))
    assert r.yearly_churn == 0.0
    assert r.lifetime.years == rt.MAX_LIFETIME_YEARS and r.lifetime.capped
    assert r.lifetime.value == pytest.approx(120 * 50)
    assert r.lifetime.discounted == pytest.approx(120 * 50)  # truncated at the cap
    assert r.halving.lifetime_ratio == 1.0
    assert r.plus_five.retention_plus == 1.0 and r.plus_five.extra_profit == 0.0


def test_capped_discounted_sum_is_truncated():
    life = rt.lifetime(0.01, 1.0, 0.05)
    q = 0.99 / 1.05
    assert life.capped and life.discounted == pytest.approx(sum(q**t for t in range(50)))


def test_no_customers_gives_no_figures_but_the_cost_ratio():
    r = rt.retention_figures(
        observed(active_at_start=0, retained=0, active_in_period=0, revenue=0.0, margin=0.0), rt.Inputs()
    )
    assert r.yearly_retention is None and r.lifetime is None and r.plus_five is None
    assert r.halving is None and r.lost is None and r.repeat_revenue_share is None
    assert r.cost_ratio.ratio == pytest.approx(6.0)


def test_short_period_is_annualised():
    r = rt.retention_figures(observed(months=6, retained=90), rt.Inputs())
    assert r.period_retention == pytest.approx(0.9)
    assert r.yearly_retention == pytest.approx(0.81)
    assert r.margin_per_year == pytest.approx(240.0)  # 12000 ÷ 100 customers ÷ half a year


def test_lost_customer_and_inputs():
    r = rt.retention_figures(
        observed(),
        rt.Inputs(acquisition_cost=300.0, retention_cost=100.0, discount_rate=0.1, target_churn=0.05),
    )
    assert r.cost_ratio.ratio == pytest.approx(3.0)
    assert r.halving.target.years == pytest.approx(20.0)
    assert r.lost.lifetime_margin == pytest.approx(600.0)
    assert r.lost.total == pytest.approx(120 * 1.1 / 0.3 + 300)


def test_month_helpers():
    assert rt.months_between(dt.date(2025, 7, 1), dt.date(2026, 6, 30)) == 12
    # The month helpers now live in huitou.core.months, shared with the plan and the reports.
    assert months.month_start_after(dt.date(2025, 7, 1), -12) == dt.date(2024, 7, 1)
    assert months.month_last(dt.date(2024, 2, 10)) == dt.date(2024, 2, 29)
