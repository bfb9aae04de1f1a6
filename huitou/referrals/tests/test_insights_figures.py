"""Viral coefficient, referral-rate curve, funnel, quota periods and reference figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from huitou.referrals import insights, tasks
from huitou.referrals.models import Stage
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SH)


def sale(customer, day, *, kind="first", amount="100000", store=None, rep=None):
    return PurchaseFactory(
        customer=customer,
        organisation=customer.organisation,
        ordered_on=day,
        rep=rep or customer.owner,
        store=store or customer.store,
        kind=kind,
        amount=Decimal(amount),
    )


def ref(referrer, day, stage=Stage.VERIFIED, **kw):
    submitted = at(day)
    if stage in (Stage.VERIFIED, Stage.CONTACTED, Stage.QUOTED, Stage.WON, Stage.LOST):
        kw.setdefault("verified_at", submitted + dt.timedelta(hours=1))
    return ReferralFactory(referrer=referrer, submitted_at=submitted, stage=stage, **kw)


def won(referrer, closed: dt.date, **kw):
    return ref(referrer, closed - dt.timedelta(days=20), Stage.WON, closed_at=at(closed), **kw)


# --- viral coefficient ---------------------------------------------------------------------------


def _viral_world(w):
    a, b = CustomerFactory(owner=w.rep1), CustomerFactory(owner=w.rep2)
    c = CustomerFactory(owner=w.rep3)
    sale(a, dt.date(2025, 3, 2))
    sale(a, dt.date(2025, 3, 20), kind="expansion")  # the same customer twice: sold once
    sale(b, dt.date(2025, 3, 31))
    sale(b, dt.date(2025, 3, 15), kind="service")  # not a sale
    sale(c, dt.date(2025, 3, 5))
    won(a, dt.date(2025, 3, 25))
    won(c, dt.date(2025, 4, 2))
    won(c, dt.date(2025, 4, 30))
    won(c, dt.date(2025, 4, 10), review="pending")  # waiting for review: not counted
    ref(a, dt.date(2025, 3, 26), Stage.CONTACTED)  # not won


def test_viral_coefficient_per_store_and_month(org_world):
    _viral_world(org_world)
    rows = insights.viral_coefficient(org_world.owner, start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 1))
    got = {(r.store, r.month.strftime("%Y-%m")): (r.sold, r.won, r.coefficient) for r in rows}
    assert got == {
        ("天河店", "2025-03"): (2, 1, 0.5),
        ("番禺店", "2025-03"): (1, 0, 0.0),
        ("番禺店", "2025-04"): (0, 2, None),
    }


def test_viral_coefficient_store_filter_and_scope(org_world):
    _viral_world(org_world)
    only_s2 = insights.viral_coefficient(
        org_world.owner, start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 1), store_id=org_world.s2.pk
    )
    assert {(r.store, r.sold, r.won) for r in only_s2} == {("番禺店", 1, 0), ("番禺店", 0, 2)}
    rep1 = insights.viral_coefficient(org_world.rep1, start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 1))
    assert [(r.store, r.sold, r.won) for r in rep1] == [("天河店", 1, 1)]
    assert (
        insights.viral_coefficient(org_world.other_owner, start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 1))
        == []
    )


def test_won_per_month_and_referrals_submitted_read_no_sales(org_world):
    """The home page's referral figures: the won column of the viral coefficient summed over the
    stores, and the submitted count of the totals, each without a statement on the sales."""
    _viral_world(org_world)
    span = {"start": dt.date(2025, 3, 1), "end": dt.date(2025, 4, 1)}
    for viewer in (org_world.owner, org_world.manager1, org_world.rep1, org_world.rep3):
        expected: dict[dt.date, int] = {}
        for r in insights.viral_coefficient(viewer, **span):
            if r.won:
                expected[r.month] = expected.get(r.month, 0) + r.won
        with CaptureQueriesContext(connection) as ctx:
            won = insights.won_per_month(viewer, **span)
            submitted = insights.referrals_submitted(viewer, **span)
        assert won == expected, viewer.username
        assert submitted == insights.referral_totals(viewer, **span).referrals, viewer.username
        assert not [q for q in ctx.captured_queries if "customers_purchase" in q["sql"]]
    assert insights.won_per_month(org_world.owner, **span) == {dt.date(2025, 3, 1): 1, dt.date(2025, 4, 1): 2}
    assert insights.referrals_submitted(org_world.owner, **span) == 5
    assert insights.won_per_month(org_world.other_owner, **span) == {}


# --- whose sales: the sale's own rep and store ---------------------------------------------------


def _sales_across_teams(w):
    """Sales whose rep, store and customer owner disagree. manager1 runs team 1 (rep1, rep2) at
    天河店; rep3 is team 2 at 番禺店."""
    by_my_rep = CustomerFactory(owner=w.rep3)  # team 2's customer, kept at 番禺店
    sale(by_my_rep, dt.date(2025, 3, 3), rep=w.rep1, store=w.s2)
    at_my_store = CustomerFactory(owner=w.rep3)
    sale(at_my_store, dt.date(2025, 3, 4), rep=w.rep3, store=w.s1)
    my_customer = CustomerFactory(owner=w.rep1)  # manager1's and rep1's customer (at 天河店) ...
    sale(my_customer, dt.date(2025, 4, 5), rep=w.rep3, store=w.s2)  # ... sold by team 2 at 番禺店
    # Won referrals are credited the same way (the rep and store of the lead): the sale's rep
    # and store put both sides of the ratio in the same cell.
    won(by_my_rep, dt.date(2025, 3, 20), rep=w.rep1, store=w.s2)
    return by_my_rep


def _viral(user, **kw):
    rows = insights.viral_coefficient(user, start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 1), **kw)
    return {(r.store, r.month.month): (r.sold, r.won) for r in rows}


def test_a_manager_counts_the_sales_of_their_reps_and_store_whoever_owns_the_customer(org_world):
    _sales_across_teams(org_world)
    # Not the sale to their own customer made by another team's rep at another store (April).
    assert _viral(org_world.manager1) == {("番禺店", 3): (1, 1), ("天河店", 3): (1, 0)}
    assert _viral(org_world.manager1, store_id=org_world.s1.pk) == {("天河店", 3): (1, 0)}
    assert _viral(org_world.manager2) == {("番禺店", 3): (1, 1), ("天河店", 3): (1, 0), ("番禺店", 4): (1, 0)}


def test_a_rep_counts_only_the_sales_they_made(org_world):
    _sales_across_teams(org_world)
    # rep1: not the April sale to their own customer made by rep3.
    assert _viral(org_world.rep1) == {("番禺店", 3): (1, 1)}
    assert _viral(org_world.rep2) == {}
    # rep3: not the March sale made by rep1 to rep3's customer.
    assert _viral(org_world.rep3) == {("天河店", 3): (1, 0), ("番禺店", 4): (1, 0)}


def test_totals_periods_and_curve_count_the_same_sales(org_world):
    by_my_rep = _sales_across_teams(org_world)
    ref(by_my_rep, dt.date(2025, 3, 10))  # counts toward the team's sale of 3 March (month 0)
    org = org_world.org
    org.policy_data = {"referrals": {"quota_periods": [{"starts_on": "2025-01-01", "quota": 1}]}}
    org.save()
    m1, r1 = org_world.manager1, org_world.rep1
    march = dt.date(2025, 3, 1)
    assert insights.referral_totals(m1, start=march, end=march).sold_customers == 2
    assert insights.referral_totals(r1, start=march, end=march).sold_customers == 1
    assert [p.sales for p in insights.quota_periods_compare(m1, today=dt.date(2025, 6, 30))] == [2]
    curve = insights.referral_curve(m1, start=march, end=march, today=dt.date(2026, 6, 1))
    assert (curve[0].eligible, curve[0].referred) == (2, 1)
    curve = insights.referral_curve(r1, start=march, end=march, today=dt.date(2026, 6, 1))
    assert (curve[0].eligible, curve[0].referred) == (1, 1)
    # rep3 made the sale at 天河店 in March, not the one the referral counts toward.
    curve = insights.referral_curve(org_world.rep3, start=march, end=march, today=dt.date(2026, 6, 1))
    assert (curve[0].eligible, curve[0].referred) == (1, 0)


@pytest.mark.parametrize("who", ["manager1", "rep1"])
def test_scoped_sales_never_join_the_customers(org_world, who):
    """A manager's six months of sales joined to their ~100,000 customers was the whole cost of
    the home page's referrals section at 1M customers."""
    _sales_across_teams(org_world)
    user = getattr(org_world, who)
    march = dt.date(2025, 3, 1)
    with CaptureQueriesContext(connection) as ctx:
        insights.viral_coefficient(user, start=march, end=march)
        insights.referral_totals(user, start=march, end=march)
        insights.referral_curve(user, start=march, end=march, today=dt.date(2026, 6, 1))
    sales = [q["sql"] for q in ctx.captured_queries if "customers_purchase" in q["sql"]]
    assert len(sales) == 4  # viral, totals, and the curve's sales and referrals
    assert not [sql for sql in sales if "customers_customer" in sql]


# --- referral-rate curve -------------------------------------------------------------------------


def _curve_world(w):
    s1, s2, s3, s4 = (CustomerFactory(owner=w.rep1) for _ in range(4))
    sale(s1, dt.date(2025, 1, 10))
    ref(s1, dt.date(2025, 1, 20))  # month 0
    ref(s1, dt.date(2025, 3, 15))  # month 2
    ref(s1, dt.date(2025, 3, 20))  # month 2 again: the customer counts once
    sale(s2, dt.date(2025, 1, 31))
    ref(s2, dt.date(2025, 2, 28))  # day 28 < 31: still month 0
    ref(s2, dt.date(2025, 3, 31))  # month 2
    sale(s3, dt.date(2025, 1, 15))
    sale(s4, dt.date(2025, 1, 5))
    ref(s4, dt.date(2025, 2, 10), Stage.SUBMITTED)  # not verified: not counted
    late = CustomerFactory(owner=w.rep1)
    sale(late, dt.date(2025, 2, 3))  # outside the cohort
    ref(late, dt.date(2025, 2, 4))
    return s1


def test_curve_bins_count_each_sale_once_per_month(org_world):
    _curve_world(org_world)
    bins = insights.referral_curve(
        org_world.owner, start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 1), today=dt.date(2026, 6, 1)
    )
    assert [b.month for b in bins] == list(range(13))
    assert [b.eligible for b in bins] == [4] * 13
    assert [b.referred for b in bins] == [2, 0, 2] + [0] * 10
    assert bins[0].share == 0.5 and bins[1].share == 0.0


def test_curve_counts_a_month_only_once_it_is_over(org_world):
    _curve_world(org_world)
    bins = insights.referral_curve(
        org_world.owner, start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 1), today=dt.date(2025, 3, 1)
    )
    assert [b.eligible for b in bins[:3]] == [4, 0, 0]
    assert [b.referred for b in bins[:3]] == [2, 0, 0]
    assert bins[2].share is None


def test_curve_referral_after_a_new_sale_belongs_to_the_new_sale(org_world):
    s1 = _curve_world(org_world)
    sale(s1, dt.date(2025, 3, 1), kind="expansion")  # the March referrals now belong to this sale
    # A sale recorded after the referrals: the nightly job re-attributes them.
    tasks.referral_sale_days_nightly()
    bins = insights.referral_curve(
        org_world.owner, start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 1), today=dt.date(2026, 6, 1)
    )
    assert [b.referred for b in bins[:3]] == [2, 0, 1]


def test_months_between_counts_calendar_months():
    days = np.array(["2025-01-31", "2025-01-10", "2024-12-15"], dtype="datetime64[D]").astype(np.int64)
    later = np.array(["2025-02-28", "2025-02-10", "2025-12-14"], dtype="datetime64[D]").astype(np.int64)
    assert insights.months_between(days, later).tolist() == [0, 1, 11]


# --- funnel --------------------------------------------------------------------------------------


def _funnel_world(w):
    a = CustomerFactory(owner=w.rep1)
    c = CustomerFactory(owner=w.rep3)
    d = dt.date(2025, 5, 10)
    ref(a, d, Stage.SUBMITTED)
    ref(a, d, Stage.VERIFIED)
    ref(a, d, Stage.CONTACTED, contacted_at=at(d, 12))
    ref(a, d, Stage.LOST, contacted_at=at(d, 12), quoted_at=at(d, 13), closed_at=at(d, 14))
    ref(c, d, Stage.WON, contacted_at=at(d, 12), quoted_at=at(d, 13), closed_at=at(d, 14))
    ref(c, d, Stage.WON, quoted_at=at(d, 13), closed_at=at(d, 14))  # contact not recorded
    ref(c, d, Stage.REJECTED)
    ref(c, dt.date(2025, 7, 1), Stage.WON, closed_at=at(dt.date(2025, 7, 2)))  # outside the period


def test_funnel_counts_every_stage_reached(org_world):
    _funnel_world(org_world)
    f = insights.referral_funnel(org_world.owner, start=dt.date(2025, 5, 1), end=dt.date(2025, 6, 1))
    stages = insights.FUNNEL_STAGES
    assert [f.total.count(s) for s in stages] == [7, 5, 4, 3, 2]
    reps = {r.name: [r.count(s) for s in stages] for r in f.by_rep}
    assert reps == {"rep1": [4, 3, 2, 1, 0], "rep3": [3, 2, 2, 2, 2]}
    stores = {r.name: [r.count(s) for s in stages] for r in f.by_store}
    assert stores == {"天河店": [4, 3, 2, 1, 0], "番禺店": [3, 2, 2, 2, 2]}
    assert f.total.rate("verified") == 5 / 7 and f.total.rate("won") == 2 / 3
    assert f.total.overall == 2 / 7


def test_funnel_scope_manager_of_team_2_sees_only_their_store(org_world):
    _funnel_world(org_world)
    f = insights.referral_funnel(org_world.manager2, start=dt.date(2025, 5, 1), end=dt.date(2025, 6, 1))
    assert [r.name for r in f.by_rep] == ["rep3"]
    assert f.total.submitted == 3


# --- quota periods and reference figures ---------------------------------------------------------


def test_periods_compare_side_by_side(org_world):
    org = org_world.org
    org.policy_data = {
        "referrals": {
            "quota_periods": [
                {"starts_on": "2024-01-01", "quota": 5, "label": "一拓五"},
                {"starts_on": "2025-01-01", "quota": 1, "label": "一拓一"},
            ]
        }
    }
    org.save()
    a, b, c = (CustomerFactory(owner=org_world.rep1) for _ in range(3))
    sale(a, dt.date(2024, 3, 1))
    sale(b, dt.date(2024, 6, 1))
    for i in range(6):
        ref(a, dt.date(2024, 3, 2 + i), Stage.VERIFIED if i < 2 else Stage.SUBMITTED)
    for i in range(4):
        ref(
            b,
            dt.date(2024, 6, 2 + i),
            Stage.REJECTED if i else Stage.WON,
            closed_at=at(dt.date(2024, 7, 1)) if not i else None,
        )
    sale(c, dt.date(2025, 2, 1))
    ref(c, dt.date(2025, 2, 2), Stage.WON, closed_at=at(dt.date(2025, 3, 1)))
    ref(c, dt.date(2025, 2, 3), Stage.VERIFIED)
    rows = insights.quota_periods_compare(org_world.owner, today=dt.date(2025, 6, 30))
    got = [(r.label, r.quota, r.starts_on, r.ends_on, r.sales, r.referrals, r.counted, r.won) for r in rows]
    assert got == [
        ("一拓五", 5, dt.date(2024, 1, 1), dt.date(2024, 12, 31), 2, 10, 3, 1),
        ("一拓一", 1, dt.date(2025, 1, 1), dt.date(2025, 6, 30), 1, 2, 2, 1),
    ]
    assert (rows[0].referrals_per_sale, rows[0].verified_share, rows[0].won_per_sale) == (5.0, 0.3, 0.5)
    assert (rows[1].referrals_per_sale, rows[1].verified_share, rows[1].won_per_sale) == (2.0, 1.0, 1.0)


def test_no_periods_no_comparison(org_world):
    assert insights.quota_periods_compare(org_world.owner, today=dt.date(2025, 6, 30)) == []


def test_reference_figures_beside_ours(org_world):
    _viral_world(org_world)
    totals = insights.referral_totals(org_world.owner, start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 1))
    # Sold: a, b, c; referrals submitted in March–April: 5 (3 won by 2 referrers + 1 pending + 1 contacted).
    assert (totals.sold_customers, totals.referrals, totals.won, totals.referrers) == (3, 5, 3, 2)
    refs = {r.key: (r.reference, r.ours) for r in insights.reference_figures(totals)}
    assert refs == {
        "deals_per_customer": (8.0, 5 / 3),
        "closed_per_customer": (1.0, 1.0),
        "new_per_100": (25.0, 100.0),
        "people_behind": (250.0, 2.5),
    }
