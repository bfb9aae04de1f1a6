"""The cost-to-serve table kept by the nightly run: the page reads it, narrowed to the viewer's
customers, and gets exactly the table it would have worked out from the sources. Data:
``test_costs_serve``'s world; the run's day is 30 June, so the kept period is the year to it."""

# ruff: noqa: F811 - the shared fixture is imported, then requested by name
from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from huitou.accounts.models import Organisation
from huitou.analytics import costs, nightly
from huitou.analytics.models_costs import CostFill, ServeCostTable

from .test_costs_serve import cost_world  # noqa: F401

AS_OF = dt.date(2026, 6, 30)
YEAR = costs.kept_period(AS_OF)


def _live(viewer, filters: costs.CostFilters) -> costs.CostTable:
    return costs._build_table(viewer.organisation, YEAR[0], YEAR[1], costs._scope_fn(viewer, filters))


def _same(a: costs.CostTable, b: costs.CostTable) -> None:
    assert a.ids.tolist() == b.ids.tolist()
    assert a.margin.tolist() == b.margin.tolist()
    assert a.cost.tolist() == b.cost.tolist()


def test_the_kept_period_is_the_pages_default(cost_world):
    assert (dt.date(2025, 7, 1), AS_OF) == YEAR


def test_every_viewers_table_read_from_the_kept_one_equals_the_worked_out_one(cost_world):
    cw = cost_world
    costs.costs_refresh(organisation=cw.w.org, as_of=AS_OF)
    whole = costs.CostFilters()
    cases = [
        (cw.w.owner, whole),
        (cw.w.owner, costs.CostFilters(store_id=cw.w.s1.pk)),
        (cw.w.owner, costs.CostFilters(rep_id=cw.w.rep3.pk)),
        (cw.w.owner, costs.CostFilters(team_id=cw.w.rep1.team_id)),
        (cw.w.manager2, whole),
        (cw.w.rep1, whole),
        (cw.w.rep3, whole),
        (cw.w.rep1, costs.CostFilters(rep_id=cw.w.rep3.pk)),
    ]
    for viewer, filters in cases:
        cache.clear()
        kept = costs.cost_table(viewer, start=YEAR[0], end=YEAR[1], filters=filters)
        assert kept.kept_at is not None, (viewer.username, filters)
        _same(kept, _live(viewer, filters))
    cache.clear()
    # May's margin of C (9000) is inside the kept year; July's task of A is not.
    owner = costs.cost_table(cw.w.owner, start=YEAR[0], end=YEAR[1], filters=whole)
    assert owner.ids.tolist() == [cw.a.pk, cw.b.pk, cw.c.pk]
    assert owner.margin.tolist() == [100.0, 2000.0, 14000.0]
    assert owner.cost[0] == 317.0 + 8.0  # June's 317 plus the last day of May's call
    # The other organisation's customer is nobody's here.
    assert cw.x.pk not in owner.ids.tolist()
    assert costs.cost_table(cw.w.rep1, start=YEAR[0], end=YEAR[1], filters=whole).ids.tolist() == [
        cw.a.pk,
        cw.c.pk,
    ]
    assert costs.cost_table(cw.w.dcrc, start=YEAR[0], end=YEAR[1], filters=whole).ids.size == 0


def test_the_owners_page_reads_one_row_and_no_source(cost_world):
    cw = cost_world
    costs.costs_refresh(organisation=cw.w.org, as_of=AS_OF)
    cache.clear()
    owner = cw.w.owner
    owner.organisation
    with CaptureQueriesContext(connection) as ctx:
        table = costs.cost_table(owner, start=YEAR[0], end=YEAR[1], filters=costs.CostFilters())
    assert table.customers == 3
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert len(ctx.captured_queries) == 1
    assert "customers_purchase" not in sql and "followups_task" not in sql


def test_another_period_or_a_changed_policy_is_worked_out(cost_world):
    cw = cost_world
    costs.costs_refresh(organisation=cw.w.org, as_of=AS_OF)
    cache.clear()
    june = costs.cost_table(cw.w.owner, start=dt.date(2026, 6, 1), end=AS_OF, filters=costs.CostFilters())
    assert june.kept_at is None
    assert june.margin.tolist() == [100.0, 2000.0, 5000.0]
    Organisation.objects.filter(pk=cw.w.org.pk).update(policy_version=cw.w.org.policy_version + 1)
    cw.w.owner.refresh_from_db()
    cache.clear()
    assert costs.kept_table(cw.w.owner.organisation, start=YEAR[0], end=YEAR[1]) is None
    assert (
        costs.cost_table(cw.w.owner, start=YEAR[0], end=YEAR[1], filters=costs.CostFilters()).kept_at is None
    )


def test_a_new_day_replaces_the_older_tables(cost_world):
    cw = cost_world
    costs.costs_refresh(organisation=cw.w.org, as_of=AS_OF - dt.timedelta(days=1))
    costs.costs_refresh(organisation=cw.w.org, as_of=AS_OF)
    assert list(ServeCostTable.objects.filter(organisation=cw.w.org).values_list("as_of", flat=True)) == [
        AS_OF
    ]
    fill = CostFill.objects.get(organisation=cw.w.org, as_of=AS_OF)
    assert (fill.status, fill.customers, fill.summary["losing"]) == ("done", 3, 1)


def test_the_nightly_run_keeps_the_table_and_resumes_after_a_crash(cost_world):
    cw = cost_world
    with nightly.crash_after_write("costs", RuntimeError), pytest.raises(nightly.NightlyIncomplete):
        nightly.nightly_run(organisation=cw.w.org, as_of=AS_OF)
    assert nightly.nightly_status(organisation=cw.w.org, as_of=AS_OF)["costs"] == "failed"
    assert not ServeCostTable.objects.filter(organisation=cw.w.org).exists()
    cache.clear()
    assert (
        costs.cost_table(cw.w.owner, start=YEAR[0], end=YEAR[1], filters=costs.CostFilters()).kept_at is None
    )
    report = nightly.nightly_run(organisation=cw.w.org, as_of=AS_OF)
    assert report["phases"]["costs"]["status"] == "done"
    assert report["phases"]["risk"]["status"] == "skipped"
    cache.clear()
    kept = costs.cost_table(cw.w.owner, start=YEAR[0], end=YEAR[1], filters=costs.CostFilters())
    assert kept.kept_at is not None and kept.customers == 3


def test_the_api_says_when_the_ranking_was_kept(cost_world):
    from ninja import NinjaAPI
    from ninja.testing import TestClient

    from huitou.analytics import api_costs

    cw = cost_world
    costs.costs_refresh(organisation=cw.w.org, as_of=AS_OF)
    cache.clear()
    api = NinjaAPI(urls_namespace="test-costs-kept")
    api.add_router("/costs", api_costs.build_router())
    client = TestClient(api)
    body = client.get(f"/costs?start={YEAR[0]}&end={YEAR[1]}", user=cw.w.manager2).json()
    assert body["ranked_at"] is not None
    assert [i["customer_id"] for i in body["items"]] == []  # B brings more than it costs
    best = client.get(f"/costs?start={YEAR[0]}&end={YEAR[1]}&ranking=best", user=cw.w.manager2).json()
    assert [i["customer_id"] for i in best["items"]] == [cw.b.pk]


def test_the_page_says_the_ranking_is_the_nightly_runs(cost_world, client):
    cw = cost_world
    costs.costs_refresh(organisation=cw.w.org, as_of=AS_OF)
    cache.clear()
    client.force_login(cw.w.manager2)
    query = {"start": YEAR[0].isoformat(), "end": YEAR[1].isoformat()}
    html = client.get(reverse("analytics:costs"), query).content.decode()
    assert 'id="costs-kept"' in html
    assert f'data-customer="{cw.b.pk}"' in html and f'data-customer="{cw.a.pk}"' not in html
    cache.clear()
    other = client.get(reverse("analytics:costs"), {"start": "2026-06-01", "end": "2026-06-30"})
    assert 'id="costs-kept"' not in other.content.decode()
