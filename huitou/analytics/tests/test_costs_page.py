"""Best and worst customers: margin − cost-to-serve in June on the hand-built data of
``test_costs_serve`` (A: 100 − 317 = −217; B: 2000 − 950 = 1050; C: 5000 − 8 = 4992)."""

# ruff: noqa: F811 - the shared fixture is imported, then requested by name
from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import numpy as np
from django.urls import reverse

from huitou.analytics import costs
from huitou.analytics.views_costs import costs_xlsx_header

from .test_costs_serve import cost_world  # noqa: F401

URL = "analytics:costs"
JUNE = {"start": "2026-06-01", "end": "2026-06-30"}
D = (dt.date(2026, 6, 1), dt.date(2026, 6, 30))


def _ids(html: str, table: str) -> list[int]:
    part = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [int(x) for x in re.findall(r'data-customer="(\d+)"', part)]


def test_table_ranks_worst_first(cost_world):
    cw = cost_world
    t = costs.cost_table(cw.w.owner, start=D[0], end=D[1], filters=costs.CostFilters())
    assert t.ids.tolist() == [cw.a.pk, cw.b.pk, cw.c.pk]
    assert t.margin.tolist() == [100.0, 2000.0, 5000.0]
    assert t.cost.tolist() == [317.0, 950.0, 8.0]
    assert (t.customers, t.losing) == (3, 1)
    assert t.losing_share == 1 / 3
    assert t.ids[t.worst()].tolist() == [cw.a.pk]
    assert t.ids[t.best()].tolist() == [cw.c.pk, cw.b.pk]


def test_table_keeps_the_viewers_scope_and_filters(cost_world):
    cw = cost_world
    f = costs.CostFilters()
    assert costs.cost_table(cw.w.rep1, start=D[0], end=D[1], filters=f).ids.tolist() == [cw.a.pk, cw.c.pk]
    assert costs.cost_table(cw.w.rep3, start=D[0], end=D[1], filters=f).ids.tolist() == [cw.b.pk]
    assert costs.cost_table(cw.w.manager2, start=D[0], end=D[1], filters=f).ids.tolist() == [cw.b.pk]
    by_store = costs.CostFilters(store_id=cw.w.s1.pk)
    assert costs.cost_table(cw.w.owner, start=D[0], end=D[1], filters=by_store).ids.tolist() == [
        cw.a.pk,
        cw.c.pk,
    ]
    by_rep = costs.CostFilters(rep_id=cw.w.rep3.pk)
    assert costs.cost_table(cw.w.owner, start=D[0], end=D[1], filters=by_rep).ids.tolist() == [cw.b.pk]
    # A rep filtering on another rep's customers still sees only their own.
    assert costs.cost_table(cw.w.rep1, start=D[0], end=D[1], filters=by_rep).ids.size == 0
    assert costs.cost_table(cw.w.dcrc, start=D[0], end=D[1], filters=f).ids.size == 0


def test_cost_rows_are_exact_and_scoped(cost_world):
    cw = cost_world
    rows = costs.cost_rows(cw.w.rep1, start=D[0], end=D[1], customer_ids=[cw.a.pk, cw.b.pk])
    assert [r.customer.pk for r in rows] == [cw.a.pk]  # B is rep3's
    (a,) = rows
    assert (a.margin, a.cost.total, a.net) == (Decimal("100"), Decimal("317"), Decimal("-217"))


def test_page_lists_worst_and_best(client, cost_world):
    cw = cost_world
    client.force_login(cw.w.owner)
    response = client.get(reverse(URL), JUNE)
    html = response.content.decode()
    assert response.status_code == 200
    assert _ids(html, "worst-table") == [cw.a.pk]
    assert _ids(html, "best-table") == [cw.c.pk, cw.b.pk]
    assert 'id="costs-losing">1 (33.3%)' in html
    assert 'data-net="-217.00"' in html or 'data-net="-217"' in html
    assert 'id="costs-chart"' in html
    chart = response.context["chart"]
    assert chart["losing"] == [{"x": 100.0, "y": 317.0}]
    assert len(chart["gaining"]) == 2


def test_page_for_a_rep(client, cost_world):
    cw = cost_world
    client.force_login(cw.w.rep3)
    html = client.get(reverse(URL), {**JUNE, "store": cw.w.s1.pk}).content.decode()
    assert _ids(html, "worst-table") == []
    assert _ids(html, "best-table") == [cw.b.pk]


def test_page_refused_to_dcrc(client, cost_world):
    client.force_login(cost_world.w.dcrc)
    assert client.get(reverse(URL), JUNE).status_code == 403


def test_page_in_english(client, cost_world):
    client.force_login(cost_world.w.owner)
    html = client.get(reverse(URL), JUNE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Best and worst customers" in html and "Cost more than they bring" in html


def test_page_paginates_the_lists(client, cost_world, monkeypatch):
    from huitou.analytics import views_costs

    cw = cost_world
    monkeypatch.setattr(views_costs, "PAGE_SIZE", 1)
    client.force_login(cw.w.owner)
    first = client.get(reverse(URL), JUNE)
    assert _ids(first.content.decode(), "best-table") == [cw.c.pk]
    assert "best_page=2" in first.context["best_links"][1]
    second = client.get(reverse(URL), {**JUNE, "best_page": 2}).content.decode()
    assert _ids(second, "best-table") == [cw.b.pk]
    assert _ids(second, "worst-table") == [cw.a.pk]


def test_page_queries_do_not_grow_with_rows(client, cost_world, django_assert_max_num_queries):
    client.force_login(cost_world.w.owner)
    with django_assert_max_num_queries(30):
        client.get(reverse(URL), JUNE)


def test_xlsx_reads_back_exactly(client, cost_world):
    from openpyxl import load_workbook

    cw = cost_world
    client.force_login(cw.w.owner)
    response = client.get(reverse(URL), {**JUNE, "format": "xlsx"})
    assert response.status_code == 200
    assert "best-worst-customers-2026-06-01-2026-06-30.xlsx" in response["Content-Disposition"]
    ws = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == costs_xlsx_header()
    assert [r[1] for r in rows[1:]] == [cw.a.pk, cw.c.pk, cw.b.pk]
    assert rows[1][5:] == [100, 27, 240, 0, 0, 0, 50, 317, -217]
    assert rows[3][5:] == [2000, 0, 0, 210, 440, 300, 0, 950, 1050]


def test_chart_samples_large_tables():
    from huitou.analytics.views_costs import CHART_POINTS, _chart

    n = 10_000
    t = costs.CostTable(
        ids=np.arange(n, dtype=np.int64), margin=np.linspace(-5, 5, n), cost=np.zeros(n, dtype=np.float64)
    )
    chart = _chart(t)
    assert len(chart["losing"]) + len(chart["gaining"]) <= CHART_POINTS
    assert chart["losing"][0] == {"x": -5.0, "y": 0.0}  # the very worst is always drawn
