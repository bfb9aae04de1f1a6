"""The at-risk list's team filter, its chart (score bins and reasons, aggregated in the database)
and its xlsx export: exact figures on the hand-built risk world, the same filters and scope as
the page (a rep's export never holds another rep's customer), phones masked as on the page."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from django.test import Client
from openpyxl import load_workbook

from huitou.analytics import exports
from huitou.analytics import risk_selectors as sel
from huitou.analytics.risk_services import risk_refresh
from huitou.core.xlsx import XLSX
from huitou.customers.models import Customer
from tests.factories import CustomerFactory

from .test_risk_flows import AS_OF, LIST_URL, _english, buy, risk_world  # noqa: F401 - shared fixtures

PHONES = {"A": "+8613812345678", "B": "+8613912345671", "C": "+8613712345672", "D": "+8613612345673"}


@pytest.fixture
def world(risk_world):  # noqa: F811
    """A 45 (rep1, store 1), B 0 (rep1), C 34 (rep3, store 2), D 5 (rep3); threshold 40."""
    for key, phone in PHONES.items():
        Customer.objects.filter(pk=getattr(risk_world, key.lower()).pk).update(phone=phone)
    risk_refresh(organisation=risk_world.w.org, as_of=AS_OF)
    return risk_world


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def sheet_rows(response, title=None):
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    ws = book[title] if title else book.worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def workbook(response):
    return load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)


# ---------------------------------------------------------------------------------------------
# Selectors


def test_chart_bins_and_reasons_for_the_owner(world):
    chart = sel.risk_chart(world.w.owner, sel.RiskFilters())
    # B 0 and D 5 → 0–9; C 34 → 30–39; A 45 → 40–49.
    assert chart.bins == [2, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert (chart.scored, chart.at_risk) == (4, 1)
    # Only A is at or above 40: its five reasons, once each.
    assert chart.reasons == {
        "alive": 0,
        "gap": 1,
        "spend": 1,
        "complaint": 1,
        "satisfaction": 0,
        "late": 1,
        "competitor": 1,
    }


def test_chart_with_a_lower_minimum_counts_every_listed_customer(world):
    chart = sel.risk_chart(world.w.owner, sel.RiskFilters(min_score=0))
    assert chart.at_risk == 4
    # gap: A (own gap) + C (the org's gap); spend A, C; competitor A, D.
    assert chart.reasons == {
        "alive": 0,
        "gap": 2,
        "spend": 2,
        "complaint": 1,
        "satisfaction": 0,
        "late": 1,
        "competitor": 2,
    }


def test_chart_follows_team_filter_and_scope(world):
    w = world.w
    team2 = sel.risk_chart(w.owner, sel.RiskFilters(team_id=w.t2.pk, min_score=30))
    assert team2.bins == [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]  # D 5, C 34
    assert (team2.at_risk, team2.reasons["gap"], team2.reasons["spend"], team2.reasons["complaint"]) == (
        1,
        1,
        1,
        0,
    )
    rep1 = sel.risk_chart(w.rep1, sel.RiskFilters(min_score=0))
    assert rep1.bins == [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]  # B and A only
    assert rep1.reasons["competitor"] == 1  # A's, not D's
    assert sel.risk_chart(w.other_owner, sel.RiskFilters(min_score=0)).scored == 0


def test_team_filter_narrows_the_list(world):
    w = world.w
    _day, qs = sel.at_risk_list(w.owner, sel.RiskFilters(team_id=w.t1.pk, min_score=0))
    assert [r.customer.name for r in qs] == ["A", "B"]
    _day, qs = sel.at_risk_list(w.owner, sel.RiskFilters(team_id=w.t2.pk, min_score=0))
    assert [r.customer.name for r in qs] == ["C", "D"]


@pytest.mark.parametrize("minimum", [0, 5, 34, 40, 46])
def test_the_kept_chart_equals_the_chart_counted_from_the_rows(world, minimum):
    """The owner's unfiltered chart is read from the counts the nightly run kept; the same figures
    counted from the snapshot rows (a day computed before the counts were kept) agree, reasons
    too."""
    f = sel.RiskFilters(min_score=minimum)
    kept = sel.risk_chart(world.w.owner, f, as_of=AS_OF)
    counted = sel._chart_from_rows(sel._snapshot_rows(world.w.owner, f, AS_OF), minimum)
    assert kept == counted
    assert kept.scored == 4
    assert sum(kept.reasons.values()) > 0 or minimum > 45  # only A (45) carries reasons


def test_chart_queries_are_fixed(world, django_assert_num_queries):
    w = world.w
    for k in range(20):
        buy(CustomerFactory(owner=w.rep2, name=f"R{k}"), dt.date(2024, 1, 1))
    risk_refresh(organisation=w.org, as_of=AS_OF)
    with django_assert_num_queries(1):  # the whole organisation: the kept counts summed by score
        chart = sel.risk_chart(w.owner, sel.RiskFilters(min_score=0), as_of=AS_OF)
    assert chart.scored == 24
    with django_assert_num_queries(1):  # narrowed: the same, under the filter
        chart = sel.risk_chart(w.owner, sel.RiskFilters(min_score=0, rep_id=w.rep2.pk), as_of=AS_OF)
    assert chart.scored == 20


# ---------------------------------------------------------------------------------------------
# Page


def test_page_has_team_filter_chart_and_phone(world):
    w = world.w
    r = client_for(w.owner).get(LIST_URL, {"team": w.t1.pk, "min_score": 0})
    html = r.content.decode()
    assert r.status_code == 200
    team_select = re.search(r'<select name="team".*?</select>', html, re.S).group(0)
    assert f'<option value="{w.t1.pk}" selected>' in team_select
    assert f'id="risk-row-{world.a.pk}"' in html and f'id="risk-row-{world.c.pk}"' not in html
    data = json.loads(
        re.search(r'id="risk-chart-data" type="application/json">(.*?)</script>', html).group(1)
    )
    assert data["counts"] == [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert data["listed"] == [True] * 10
    assert data["reason_counts"] == [0, 1, 1, 1, 0, 1, 1]
    assert "138****5678" in html  # the owner sees masked phones (policy default)
    assert 'href="/analytics/risk/?team=' in html and "format=xlsx" in html


def test_manager_team_choices_are_their_own(world):
    w = world.w
    html = client_for(w.manager1).get(LIST_URL).content.decode()
    team_select = re.search(r'<select name="team".*?</select>', html, re.S).group(0)
    assert f'<option value="{w.t1.pk}">' in team_select
    assert f'<option value="{w.t2.pk}">' not in team_select
    # Asking for the other store's team anyway: the choice is refused, the list stays in scope.
    r = client_for(w.manager1).get(LIST_URL, {"team": w.t2.pk, "min_score": 0})
    assert "team" in r.context["form"].errors
    assert f'id="risk-row-{world.c.pk}"' not in r.content.decode()


def test_rep_page_has_no_team_filter_and_full_phone(world):
    html = client_for(world.w.rep1).get(LIST_URL, {"min_score": 0}).content.decode()
    assert 'name="team"' not in html
    assert "13812345678" in html
    assert PHONES["C"][3:] not in html


# ---------------------------------------------------------------------------------------------
# Export


def test_owner_export_holds_the_filtered_list_exactly(world):
    w = world.w
    rows = sheet_rows(client_for(w.owner).get(LIST_URL, {"format": "xlsx"}), "Customers at risk")
    assert rows[0] == exports.risk_header()
    assert rows[1:] == [
        [
            world.a.pk,
            "A",
            "138****5678",
            "rep1",
            "天河店",
            45,
            "spend down 100% on the 12 months before; no purchase for 365 days, 2.0× their usual gap; "
            f"open complaint #{world.ticket.pk}; contact with a competitor logged; paid 45 days late",
            None,
            365,
        ]
    ]


def test_export_follows_store_team_and_min_score(world):
    w = world.w
    c = client_for(w.owner)
    names = lambda params: [r[1] for r in sheet_rows(c.get(LIST_URL, {**params, "format": "xlsx"}))[1:]]  # noqa: E731
    assert names({"min_score": 0}) == ["A", "C", "D", "B"]
    assert names({"min_score": 0, "store": w.s2.pk}) == ["C", "D"]
    assert names({"min_score": 0, "team": w.t1.pk}) == ["A", "B"]
    assert names({"min_score": 30, "rep": w.rep3.pk}) == ["C"]


def test_export_chart_sheets(world):
    book = workbook(client_for(world.w.owner).get(LIST_URL, {"format": "xlsx", "min_score": 30}))
    scores = [list(r) for r in book["Score distribution"].iter_rows(values_only=True)]
    assert scores[0] == ["Score", "Customers", "In the list"]
    assert [r[1] for r in scores[1:]] == [2, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert [r[2] for r in scores[1:]] == ["no", "no", "no", "yes", "yes", "yes", "yes", "yes", "yes", "yes"]
    reasons = [list(r) for r in book["Reasons"].iter_rows(values_only=True)]
    assert reasons[1:] == [
        ["Low chance still buying", 0],
        ["No purchase for longer than usual", 2],
        ["Spend falling", 2],
        ["Open complaint", 1],
        ["Low satisfaction", 0],
        ["Late payment", 1],
        ["Contact with a competitor", 1],
    ]
    filters = [list(r) for r in book["Filters"].iter_rows(values_only=True)]
    assert filters == [["As of", "2026-06-30"], ["Minimum score", "30"]]


def test_rep_export_never_holds_another_reps_customer(world):
    w = world.w
    c = client_for(w.rep1)
    # Even asking for rep3's customers (a filter a rep does not have) or a low minimum.
    for params in ({"min_score": 0}, {"min_score": 0, "rep": w.rep3.pk}, {"min_score": 0, "store": w.s2.pk}):
        rows = sheet_rows(c.get(LIST_URL, {**params, "format": "xlsx"}))
        ids = {r[0] for r in rows[1:]}
        assert ids <= {world.a.pk, world.b.pk}
        assert world.c.pk not in ids and world.d.pk not in ids
    rows = sheet_rows(c.get(LIST_URL, {"min_score": 0, "format": "xlsx"}))
    assert [(r[1], r[2]) for r in rows[1:]] == [("A", "13812345678"), ("B", "13912345671")]


def test_manager_export_is_their_store(world):
    rows = sheet_rows(client_for(world.w.manager2).get(LIST_URL, {"min_score": 0, "format": "xlsx"}))
    assert [r[1] for r in rows[1:]] == ["C", "D"]


def test_export_is_capped_and_says_so(world, monkeypatch):
    monkeypatch.setattr(exports, "EXPORT_ROWS", 2)
    rows = sheet_rows(client_for(world.w.owner).get(LIST_URL, {"min_score": 0, "format": "xlsx"}))
    assert [r[1] for r in rows[1:3]] == ["A", "C"]
    assert len(rows) == 4
    assert rows[3][0] == "Only the first 2 customers are exported; narrow the filters."


def test_export_refused_to_other_roles(world):
    assert client_for(world.w.dcrc).get(LIST_URL, {"format": "xlsx"}).status_code == 403
