"""The organisation's own numbers for the retention calculator, on a hand-built data set."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from huitou.analytics import retention as rt
from huitou.analytics.retention_data import retention_observed
from huitou.customers.models import Purchase
from tests.factories import CustomerFactory, PurchaseFactory

START, END = dt.date(2025, 7, 1), dt.date(2026, 6, 1)  # the twelve months 2025-07 .. 2026-06


def buy(customer, day, amount, margin, kind=Purchase.Kind.FIRST):
    return PurchaseFactory(
        customer=customer, ordered_on=day, amount=Decimal(amount), margin=Decimal(margin), kind=kind
    )


@pytest.fixture
def ret_world(org_world):
    """Months before the period: 2024-07 .. 2025-06. A, B, D bought then and again (retained);
    C and E only then (lost); F and H are new in the period; G came back after 2023 (returning,
    not new); I bought only before the months before; X belongs to another organisation."""
    w = org_world
    a = CustomerFactory(owner=w.rep1, name="A")
    b = CustomerFactory(owner=w.rep1, name="B")
    c = CustomerFactory(owner=w.rep2, name="C")
    d = CustomerFactory(owner=w.rep3, name="D")
    e = CustomerFactory(owner=w.rep3, name="E")
    f = CustomerFactory(owner=w.rep1, name="F")
    g = CustomerFactory(owner=w.rep3, name="G")
    h = CustomerFactory(owner=w.rep3, name="H")
    i = CustomerFactory(owner=w.rep1, name="I")
    x = CustomerFactory(owner=w.other_owner, name="X")
    buy(a, dt.date(2024, 8, 1), "100000", "10000")
    buy(a, dt.date(2025, 9, 1), "2000", "1000", Purchase.Kind.SERVICE)
    buy(a, dt.date(2026, 7, 1), "5000", "5000", Purchase.Kind.EXPANSION)  # after the period
    buy(b, dt.date(2025, 1, 10), "50000", "5000")
    buy(b, dt.date(2026, 3, 1), "3000", "1000", Purchase.Kind.SERVICE)
    buy(c, dt.date(2024, 6, 30), "1000", "100", Purchase.Kind.SERVICE)
    buy(c, dt.date(2024, 12, 1), "80000", "6000")
    buy(d, dt.date(2025, 3, 1), "60000", "4000")
    buy(d, dt.date(2026, 6, 30), "4000", "1500", Purchase.Kind.SERVICE)  # the period's last day
    buy(e, dt.date(2025, 6, 30), "70000", "5000")
    buy(f, dt.date(2025, 10, 1), "200000", "12000")
    buy(g, dt.date(2023, 1, 1), "90000", "9000")
    buy(g, dt.date(2026, 1, 15), "1000", "500", Purchase.Kind.SERVICE)
    buy(h, dt.date(2026, 2, 1), "139000", "7600")
    buy(h, dt.date(2026, 5, 1), "1000", "400", Purchase.Kind.SERVICE)
    buy(i, dt.date(2024, 6, 30), "30000", "3000")
    buy(x, dt.date(2025, 1, 1), "900000", "90000")
    buy(x, dt.date(2026, 1, 1), "900000", "90000")
    return SimpleNamespace(w=w, a=a, b=b, c=c, d=d, e=e, f=f, g=g, h=h, i=i, x=x)


OWNER_NUMBERS = rt.Observed(
    months=12,
    active_at_start=5,
    retained=3,
    active_in_period=6,
    new_customers=2,
    revenue=350000.0,
    margin=24000.0,
    new_revenue=340000.0,
    new_margin=20000.0,
)


def test_owner_sees_the_whole_organisation(ret_world):
    assert retention_observed(ret_world.w.owner, start=START, end=END) == OWNER_NUMBERS


def test_owner_figures_worked_by_hand(ret_world):
    r = rt.retention_figures(
        retention_observed(ret_world.w.owner, start=START, end=END),
        rt.Inputs(acquisition_cost=600.0, discount_rate=0.1),
    )
    assert r.yearly_retention == pytest.approx(0.6) and r.yearly_churn == pytest.approx(0.4)
    assert r.margin_per_year == pytest.approx(4000.0)  # 24000 over 6 customers
    assert r.revenue_per_year == pytest.approx(350000 / 6)
    assert r.lifetime.years == pytest.approx(2.5) and not r.lifetime.capped
    assert r.lifetime.value == pytest.approx(10000.0)
    assert r.lifetime.discounted == pytest.approx(8800.0)  # 4000 × 1.1 ÷ (0.1 + 0.4)
    assert r.repeat_revenue_share == pytest.approx(10000 / 350000)
    assert (r.returning_customers, r.returning_margin, r.new_margin) == (4, 1000.0, 10000.0)
    assert r.returning_premium == pytest.approx(-0.9)
    p = r.plus_five
    assert p.lifetime_plus.years == pytest.approx(1 / 0.35)
    assert p.extra_margin == pytest.approx(5 * 4000 * 2.5 / 7)
    assert p.extra_cost == pytest.approx(5 * 100 * 2.5 / 7)
    assert p.profit_change == pytest.approx(0.975 / 7)
    assert (r.halving.target.churn, r.halving.target.years) == (pytest.approx(0.2), pytest.approx(5.0))
    assert r.halving.target.discounted == pytest.approx(4000 * 1.1 / 0.3)
    assert r.lost.total == pytest.approx(8800.0 + 600.0)


def test_manager_sees_their_store_only(ret_world):
    assert retention_observed(ret_world.w.manager2, start=START, end=END) == rt.Observed(
        12, 2, 1, 3, 1, 145000.0, 10000.0, 140000.0, 8000.0
    )
    assert retention_observed(ret_world.w.manager1, start=START, end=END) == rt.Observed(
        12, 3, 2, 3, 1, 205000.0, 14000.0, 200000.0, 12000.0
    )


def test_store_filter(ret_world):
    assert retention_observed(
        ret_world.w.owner, start=START, end=END, store_id=ret_world.w.s2.pk
    ) == retention_observed(ret_world.w.manager2, start=START, end=END)


@pytest.mark.parametrize("role", ["rep1", "dcrc", "aftersales"])
def test_other_roles_get_nothing(ret_world, role):
    assert retention_observed(getattr(ret_world.w, role), start=START, end=END).active_at_start == 0


def test_other_organisation_sees_only_its_own(ret_world):
    o = retention_observed(ret_world.w.other_owner, start=START, end=END)
    assert (o.active_at_start, o.retained, o.new_customers, o.revenue) == (1, 1, 0, 900000.0)


def test_no_customers(org_world):
    o = retention_observed(org_world.owner, start=START, end=END)
    assert o == rt.Observed(12, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0)
    assert rt.retention_figures(o, rt.Inputs()).lifetime is None


def test_everyone_retained_caps_the_lifetime(org_world):
    a = CustomerFactory(owner=org_world.rep1)
    buy(a, dt.date(2025, 1, 1), "1000", "100")
    buy(a, dt.date(2026, 1, 1), "1000", "100")
    r = rt.retention_figures(retention_observed(org_world.owner, start=START, end=END), rt.Inputs())
    assert r.yearly_churn == 0.0 and r.lifetime.capped and r.lifetime.years == rt.MAX_LIFETIME_YEARS


def test_one_query(ret_world, django_assert_num_queries):
    owner = ret_world.w.owner
    _ = owner.organisation  # the permission layer reads the policy of a manager's organisation
    # The owner's first looks for the nightly run's figures (none here), then counts in one go.
    with django_assert_num_queries(2):
        retention_observed(owner, start=START, end=END)
    with django_assert_num_queries(1):
        retention_observed(owner, start=START, end=END, store_id=ret_world.w.s1.pk)


def test_the_owners_figures_read_the_sales_alone(ret_world):
    """The owner's scope is the organisation, which the sale carries: the statement joins no
    customers, and the new-customer probe is evaluated once (a materialized CTE), not once per sum
    that reads it. A manager's still goes through the customers' scope."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    w = ret_world.w
    with CaptureQueriesContext(connection) as ctx:
        owner = retention_observed(w.owner, start=START, end=END)
    (sql,) = [q["sql"] for q in ctx.captured_queries if "customers_purchase" in q["sql"]]
    assert "customers_customer" not in sql and "MATERIALIZED" in sql
    assert (owner.active_at_start, owner.retained, owner.new_customers) == (5, 3, 2)
    with CaptureQueriesContext(connection) as ctx:
        retention_observed(w.manager1, start=START, end=END)
    assert any("customers_customer" in q["sql"] for q in ctx.captured_queries)


def test_the_nightly_runs_figures_equal_the_counted_ones(ret_world):
    """``observed_from_purchases`` (numpy, over the nightly run's purchase arrays) gives exactly what
    the database counts for the whole organisation, for the dashboard's window and another one."""
    from huitou.analytics.retention_data import observed_from_purchases
    from huitou.analytics.services import purchase_arrays

    w = ret_world.w
    arrays = purchase_arrays(w.org.pk, dt.date(2026, 6, 30))
    assert observed_from_purchases(arrays, start=START, end=END) == retention_observed(
        w.owner, start=START, end=END
    )
    half = (dt.date(2026, 1, 1), dt.date(2026, 6, 1))
    assert observed_from_purchases(arrays, start=half[0], end=half[1]) == retention_observed(
        w.owner, start=half[0], end=half[1]
    )


def test_the_owners_dashboard_window_is_read_from_the_nightly_run(ret_world, django_assert_num_queries):
    """After the segment phase of 30 June, the owner's twelve months to June come from its fill
    (one query, no sales read); another window or a store is still counted."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from huitou.analytics.retention_data import kept_window
    from huitou.analytics.services import segments_refresh

    w = ret_world.w
    counted = retention_observed(w.owner, start=START, end=END)
    as_of = dt.date(2026, 6, 30)
    assert kept_window(as_of) == (START, END)
    segments_refresh(organisation=w.org, as_of=as_of)
    with django_assert_num_queries(1):
        kept = retention_observed(w.owner, start=START, end=END)
    assert kept == counted
    with CaptureQueriesContext(connection) as ctx:
        retention_observed(w.owner, start=dt.date(2025, 8, 1), end=END)
        retention_observed(w.owner, start=START, end=END, store_id=w.s1.pk)
    assert sum("customers_purchase" in q["sql"] for q in ctx.captured_queries) == 2
