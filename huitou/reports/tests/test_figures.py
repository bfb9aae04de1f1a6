"""Every figure of the reports on the hand-built data set (see conftest), worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from huitou.reports import selectors as sel

from .conftest import TODAY

pytestmark = pytest.mark.django_db

D = Decimal


def report(data, year=2025, viewer=None):
    return sel.account_report(viewer or data.w.rep1, data.a, year=year, today=TODAY)


def month(rep, key):
    return next(r for r in rep.months if r.key == key)


def year_row(rep, key):
    return next(r for r in rep.years if r.key == key)


def test_monthly_sales_and_growth(data):
    rep = report(data)
    assert [r.sales for r in rep.months] == [
        D("0.00"), D("800.00"), D("2000.00"), D("0.00"), D("0.00"), D("0.00"),
        D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("700.00"), D("0.00"),
    ]  # fmt: skip
    march = month(rep, "2025-03")
    assert march.previous_sales == D("800.00")
    assert march.last_year_sales == D("1000.00")
    assert march.growth_previous == pytest.approx(1.5)
    assert march.growth_last_year == pytest.approx(1.0)
    assert month(rep, "2025-02").growth_previous is None  # nothing in January to grow from


def test_yearly_sales_and_growth(data):
    rep = report(data)
    assert [r.key for r in rep.years] == ["2021", "2022", "2023", "2024", "2025"]
    y = year_row(rep, "2025")
    assert (y.sales, y.previous_sales) == (D("3500.00"), D("1000.00"))
    assert y.growth_previous == pytest.approx(2.5)
    assert year_row(rep, "2024").growth_previous is None


def test_running_year_is_compared_year_to_date(data):
    y = year_row(report(data, year=2026), "2026")
    # 1 Jan – 15 Mar 2026 against 1 Jan – 15 Mar 2025 (the 20 March service visit is later).
    assert (y.end, y.sales, y.previous_sales) == (TODAY, D("3750.00"), D("2300.00"))
    assert y.growth_previous == pytest.approx(3750 / 2300 - 1)


def test_share_of_wallet(data):
    rep = report(data)
    assert year_row(rep, "2025").wallet == D("14000.00")
    assert year_row(rep, "2025").share_of_wallet == pytest.approx(0.25)
    # Month rows: the year's sales to the month's end over the year's total.
    assert month(rep, "2025-03").share_of_wallet == pytest.approx(2800 / 14000)
    assert year_row(rep, "2024").share_of_wallet is None  # no estimate for 2024


def test_expense_ratio_from_cost_to_serve(data):
    # Default policy: a visit costs ¥120; the done visit task is priced once, as its visit.
    rep = report(data)
    march, feb = month(rep, "2025-03"), month(rep, "2025-02")
    assert (feb.cost, march.cost) == (D("120"), D("240"))
    assert march.expense_ratio == pytest.approx(240 / 2000)
    assert march.cost_growth == pytest.approx(1.0)
    assert march.cost_vs_sales == pytest.approx(1.0 - 1.5)  # costs grew slower than sales
    y = year_row(rep, "2025")
    assert (y.cost, y.previous_cost) == (D("360"), D("120"))
    assert y.expense_ratio == pytest.approx(360 / 3500)
    assert y.cost_vs_sales == pytest.approx(2.0 - 2.5)


def test_receivables_ageing_buckets(data):
    rep = report(data)
    assert rep.ageing_edges == (30, 60, 90)
    # current 400 (due 9 Apr), 1–30: 250 (no due day: due when ordered, 14 days), 31–60: 2000
    # (3000 less 1000 paid, 39 days), 61–90: 100 (64 days), >90: 700 (104 days).
    assert rep.ageing.buckets == (D("400.00"), D("250.00"), D("2000.00"), D("100.00"), D("700.00"))
    assert (rep.ageing.outstanding, rep.ageing.overdue) == (D("3450.00"), D("3050.00"))
    assert (rep.ageing.open_count, rep.ageing.overdue_count) == (5, 4)


def test_collection_delays(data):
    rep = report(data)
    y = year_row(rep, "2025")
    # Paid in 2025: 1 Apr (3 days early → 0), 20 Mar (cash, 0), 1 May (due 12 Mar → 50).
    assert (y.paid, y.late, y.max_delay_days) == (3, 1, 50)
    assert y.mean_delay_days == pytest.approx(50 / 3)
    assert month(rep, "2025-05").max_delay_days == 50
    assert year_row(rep, "2024").max_delay_days == 10
    # Over the years shown (2020–2025 read): four purchases paid, 10 and 50 days late.
    assert (rep.delays.paid, rep.delays.late, rep.delays.max_days) == (4, 2, 50)
    assert rep.delays.mean_days == pytest.approx(60 / 4)


def test_visits_plan_against_done(data):
    rep = report(data)
    march = month(rep, "2025-03")
    assert (march.visits_planned, march.visits_planned_done, march.visits_done) == (2, 1, 2)
    assert march.visit_plan_rate == pytest.approx(0.5)
    assert month(rep, "2025-04").visits_planned == 0  # the cancelled one is not a plan
    y = year_row(rep, "2025")
    assert (y.visits_planned, y.visits_planned_done, y.visits_done) == (2, 1, 3)


def test_promotion_participation_and_effect(data):
    rep = report(data)
    assert month(rep, "2025-03").promotion_sales == D("1500.00")
    assert month(rep, "2025-03").promotion_purchases == 1
    [p] = rep.promotions
    assert (p.name, p.purchases, p.promotion_sales) == ("春季促销", 1, D("1500.00"))
    # March (31 days) against the 31 days before: 29 Jan – 28 Feb holds the 800 order.
    assert (p.baseline_days, p.sales_during, p.sales_before) == (31, D("2000.00"), D("800.00"))
    assert p.lift == D("1200.00")
    assert p.lift_rate == pytest.approx(1.5)


def test_accounts_overview_rows(data):
    w = data.w
    rows = {r.id: r for r in sel.account_rows([data.a, data.b], year=2025, today=TODAY)}
    a = rows[data.a.pk]
    assert (a.sales, a.previous_sales, a.wallet) == (D("3500.00"), D("1000.00"), D("14000.00"))
    assert a.growth == pytest.approx(2.5)
    assert a.share_of_wallet == pytest.approx(0.25)
    assert (a.outstanding, a.overdue) == (D("3450.00"), D("3050.00"))
    assert (a.visits_planned, a.visits_done) == (2, 3)
    b = rows[data.b.pk]
    assert (b.sales, b.previous_sales, b.growth, b.outstanding) == (
        D("200000.00"),
        D("0.00"),
        None,
        D("0.00"),
    )
    assert b.rep == w.rep2.label


def test_accounts_overview_scope_and_filters(data):
    w = data.w
    f = sel.AccountFilters(year=2025)
    assert set(sel.accounts_queryset(w.rep1, f).values_list("pk", flat=True)) == {data.a.pk, data.e.pk}
    assert set(sel.accounts_queryset(w.owner, f).values_list("pk", flat=True)) == {
        data.a.pk,
        data.b.pk,
        data.c.pk,
        data.e.pk,
    }  # fmt: skip  (prospect D is not an account yet)
    assert set(sel.accounts_queryset(w.manager2, f).values_list("pk", flat=True)) == {data.c.pk}
    company = sel.AccountFilters(year=2025, kind="company")
    assert set(sel.accounts_queryset(w.owner, company).values_list("pk", flat=True)) == {data.a.pk, data.c.pk}
    team = sel.AccountFilters(year=2025, team_id=w.t1.pk)
    assert set(sel.accounts_queryset(w.owner, team).values_list("pk", flat=True)) == {
        data.a.pk, data.b.pk, data.e.pk,
    }  # fmt: skip
    store = sel.AccountFilters(year=2025, store_id=w.s2.pk)
    assert list(sel.accounts_queryset(w.owner, store).values_list("pk", flat=True)) == [data.c.pk]


def test_accounts_page_aggregates_only_its_accounts(data, django_assert_max_num_queries):
    w = data.w
    qs = sel.accounts_queryset(w.owner, sel.AccountFilters(year=2025)).select_related("owner", "store")
    page = list(qs[:2])
    with django_assert_max_num_queries(5):
        rows = sel.account_rows(page, year=2025, today=TODAY)
    assert [r.id for r in rows] == [c.pk for c in page]


def test_receivables_per_store_and_rep(data):
    w = data.w
    rows, total, edges = sel.receivables_ageing(w.owner, today=TODAY)
    assert edges == (30, 60, 90)
    by_store = {r.key: r for r in rows}
    assert by_store[w.s1.pk].buckets == (D("400.00"), D("250.00"), D("2000.00"), D("100.00"), D("700.00"))
    assert by_store[w.s2.pk].buckets == (D("5000.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00"))
    assert total.buckets == (D("5400.00"), D("250.00"), D("2000.00"), D("100.00"), D("700.00"))
    assert (total.outstanding, total.overdue, total.open_count, total.overdue_count) == (
        D("8450.00"), D("3050.00"), 6, 4,
    )  # fmt: skip
    reps, _, _ = sel.receivables_ageing(w.owner, group="rep", today=TODAY)
    assert {r.key: r.outstanding for r in reps} == {w.rep1.pk: D("3450.00"), w.rep3.pk: D("5000.00")}


def test_receivables_scope_and_filters(data):
    w = data.w
    rows, total, _ = sel.receivables_ageing(w.rep3, today=TODAY)
    assert [r.key for r in rows] == [w.s2.pk] and total.outstanding == D("5000.00")
    rows, total, _ = sel.receivables_ageing(w.manager1, today=TODAY)
    assert total.outstanding == D("3450.00")
    _, total, _ = sel.receivables_ageing(w.owner, rep_id=w.rep3.pk, today=TODAY)
    assert total.outstanding == D("5000.00")
    _, total, _ = sel.receivables_ageing(w.owner, team_id=w.t1.pk, today=TODAY)
    assert total.outstanding == D("3450.00")
    _, total, _ = sel.receivables_ageing(w.other_owner, today=TODAY)
    assert total.outstanding == D("0")


def _funnel(viewer, **kw):
    return sel.sales_funnel(viewer, start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 1), **kw)


def counts(row):
    return tuple(row.count(s) for s in sel.FUNNEL_STAGES)


def test_funnel_per_rep_store_and_month(data):
    w = data.w
    f = _funnel(w.owner)
    # leads, verified, contacted, quoted, won, prospects, converted, first purchases
    assert counts(f.total) == (4, 3, 2, 1, 1, 2, 1, 2)
    by_rep = {r.key: counts(r) for r in f.by_rep}
    assert by_rep == {
        w.rep1.pk: (3, 2, 2, 1, 1, 2, 1, 1),
        w.rep2.pk: (0, 0, 0, 0, 0, 0, 0, 1),
        w.rep3.pk: (1, 1, 0, 0, 0, 0, 0, 0),
    }
    by_store = {r.key: counts(r) for r in f.by_store}
    assert by_store == {w.s1.pk: (3, 2, 2, 1, 1, 2, 1, 2), w.s2.pk: (1, 1, 0, 0, 0, 0, 0, 0)}
    months = {r.name: counts(r) for r in f.by_month}
    assert len(months) == 12
    assert months["2025-02"] == (2, 2, 2, 1, 1, 0, 0, 0)
    assert months["2025-03"] == (2, 1, 0, 0, 0, 0, 0, 0)
    assert months["2025-04"] == (0, 0, 0, 0, 0, 2, 1, 0)
    assert months["2025-05"][7] == 1 and months["2025-06"][7] == 1
    assert f.total.first_purchase_sales == D("350000.00")


def test_funnel_conversion_rates(data):
    total = _funnel(data.w.owner).total
    assert total.rate("verified") == pytest.approx(0.75)
    assert total.rate("contacted") == pytest.approx(2 / 3)
    assert total.rate("quoted") == pytest.approx(0.5)
    assert total.rate("won") == pytest.approx(1.0)
    assert total.rate("converted") == pytest.approx(0.5)
    assert total.rate("leads") is None


def test_funnel_filters_and_scope(data):
    w = data.w
    assert counts(_funnel(w.owner, rep_id=w.rep3.pk).total) == (1, 1, 0, 0, 0, 0, 0, 0)
    assert counts(_funnel(w.owner, team_id=w.t1.pk).total) == (3, 2, 2, 1, 1, 2, 1, 2)
    assert counts(_funnel(w.owner, store_id=w.s2.pk).total) == (1, 1, 0, 0, 0, 0, 0, 0)
    assert counts(_funnel(w.manager1).total) == (3, 2, 2, 1, 1, 2, 1, 2)
    assert counts(_funnel(w.rep2).total) == (0, 0, 0, 0, 0, 0, 0, 1)
    assert counts(_funnel(w.other_owner).total) == (0,) * 8


def test_receivables_follow_the_stored_open_amount(data):
    """``Purchase.open_amount`` is kept by the database (amount - paid): settling a sale in full
    takes it out of the receivables, and the report filters on that column, which has statistics
    and the partial index ``purchase_open_idx`` (a comparison of two columns has neither)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from huitou.customers.models import Purchase

    w = data.w
    sale = Purchase.objects.filter(organisation_id=w.org.pk, open_amount__gt=0, rep=w.rep3).get()
    assert sale.open_amount == sale.amount - sale.paid_amount == D("5000.00")
    with CaptureQueriesContext(connection) as ctx:
        sel.receivables_ageing(w.owner, today=TODAY)
    assert any('"open_amount" > ' in q["sql"] for q in ctx.captured_queries)
    Purchase.objects.filter(pk=sale.pk).update(paid_amount=sale.amount)
    assert Purchase.objects.get(pk=sale.pk).open_amount == D("0.00")
    _, total, _ = sel.receivables_ageing(w.owner, today=TODAY)
    assert total.outstanding == D("3450.00")
