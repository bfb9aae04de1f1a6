"""The qualified-leads list's period filter (updated between), its chart (apples, and per rep for
managers and the owner) and its xlsx export: exact figures on hand-built leads, the page's filters
and scope (a rep's export never holds another rep's customer)."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from openpyxl import load_workbook

from huitou.analytics import exports, qualify
from huitou.analytics.models_qualify import Qualification
from huitou.analytics.selectors import apple_counts, qualified_leads
from huitou.core.xlsx import XLSX
from huitou.customers.models import Customer
from tests.factories import CustomerFactory

URL = reverse("analytics:qualify_list")


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def leads(org_world):
    """甲 red (rep1, prospect, updated 1 June), 乙 green (rep1, 15 June), 丙 rotten (rep3, 20 June),
    丁 red (rep2, 1 May)."""
    w = org_world
    made = {
        "a": (
            CustomerFactory(owner=w.rep1, name="甲", status=Customer.Status.PROSPECT),
            (1, 1, 1),
            dt.date(2026, 6, 1),
        ),
        "b": (CustomerFactory(owner=w.rep1, name="乙"), (1, 1, 0), dt.date(2026, 6, 15)),
        "c": (CustomerFactory(owner=w.rep3, name="丙"), (0, 0, 1), dt.date(2026, 6, 20)),
        "d": (CustomerFactory(owner=w.rep2, name="丁"), (1, 1, 1), dt.date(2026, 5, 1)),
    }
    out = {}
    for key, (customer, (need, money, authority), day) in made.items():
        qualify.qualification_set(
            actor=customer.owner,
            customer_id=customer.pk,
            need=bool(need),
            money=bool(money),
            authority=bool(authority),
            note=f"=note {key}" if key == "a" else "",
        )
        Qualification.objects.filter(customer=customer).update(updated_at=at(day))
        out[key] = customer
    return out


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def site(text: str) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return gettext(text)


def sheet_rows(response):
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)], book


def names(viewer, f=qualify.QualifyFilters(), **period):
    return [q.customer.name for q in qualified_leads(viewer, f, **period)]


# ---------------------------------------------------------------------------------------------
# Selectors


def test_period_narrows_the_list(org_world, leads):
    w = org_world
    assert names(w.owner) == ["丙", "乙", "甲", "丁"]
    assert names(w.owner, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 15)) == ["乙", "甲"]
    assert names(w.owner, start=dt.date(2026, 6, 16)) == ["丙"]
    assert names(w.owner, end=dt.date(2026, 5, 31)) == ["丁"]


def test_period_day_bounds_are_local_days(org_world, leads):
    # Updated at 23:30 local time on 15 June: still the 15th, not the 16th.
    Qualification.objects.filter(customer=leads["b"]).update(
        updated_at=at(dt.date(2026, 6, 15), 23) + dt.timedelta(minutes=30)
    )
    assert names(org_world.owner, end=dt.date(2026, 6, 15), start=dt.date(2026, 6, 15)) == ["乙"]
    assert names(org_world.owner, start=dt.date(2026, 6, 16), end=dt.date(2026, 6, 16)) == []


def test_counts_and_chart_for_the_owner(org_world, leads):
    w = org_world
    c = apple_counts(w.owner, qualify.QualifyFilters())
    assert c.counts == {"red": 2, "green": 1, "rotten": 1}
    assert c.chart_counts == [2, 1, 1]
    assert [(r["rep"], r["counts"]) for r in c.chart_by_rep] == [
        ("rep1", [1, 1, 0]),
        ("rep2", [1, 0, 0]),
        ("rep3", [0, 0, 1]),
    ]
    assert c.by_rep == [
        {"rep_id": r["rep_id"], "rep": r["rep"], "counts": r["counts"]} for r in c.chart_by_rep
    ]


def test_chart_honours_the_apple_filter_and_the_counts_do_not(org_world, leads):
    c = apple_counts(org_world.owner, qualify.QualifyFilters(apple="red"))
    assert c.counts == {"red": 2, "green": 1, "rotten": 1}  # the counts above the list
    assert c.chart_counts == [2, 0, 0]
    assert [(r["rep"], r["counts"]) for r in c.chart_by_rep] == [("rep1", [1, 0, 0]), ("rep2", [1, 0, 0])]


def test_counts_follow_period_team_and_scope(org_world, leads):
    w = org_world
    june = apple_counts(
        w.owner, qualify.QualifyFilters(), start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30)
    )
    assert june.chart_counts == [1, 1, 1]
    team1 = apple_counts(w.owner, qualify.QualifyFilters(team_id=w.t1.pk))
    assert team1.chart_counts == [2, 1, 0]
    assert apple_counts(w.rep3, qualify.QualifyFilters()).chart_counts == [0, 0, 1]
    assert apple_counts(w.manager2, qualify.QualifyFilters()).chart_counts == [0, 0, 1]
    assert apple_counts(w.other_owner, qualify.QualifyFilters()).chart_counts == [0, 0, 0]


def test_counts_are_one_query(org_world, leads, django_assert_num_queries):
    with django_assert_num_queries(1):
        apple_counts(org_world.owner, qualify.QualifyFilters())


# ---------------------------------------------------------------------------------------------
# Page


def chart_of(html: str) -> dict:
    return json.loads(
        re.search(r'id="apple-chart-data" type="application/json">(.*?)</script>', html).group(1)
    )


def test_page_period_filter_and_chart(org_world, leads):
    r = client_for(org_world.owner).get(URL, {"updated_from": "2026-06-01", "updated_until": "2026-06-15"})
    html = r.content.decode()
    assert set(re.findall(r'id="qualify-row-(\d+)"', html)) == {str(leads["a"].pk), str(leads["b"].pk)}
    assert 'name="updated_from"' in html and 'value="2026-06-01"' in html
    data = chart_of(html)
    assert data["counts"] == [1, 1, 0]
    assert data["reps"] == ["rep1"] and data["per_rep"] == [[1], [1], [0]]
    assert 'id="apple-rep-chart"' in html
    assert [(a, n) for a, _label, n in r.context["counts"]] == [("red", 1), ("green", 1), ("rotten", 0)]
    assert "updated_from=2026-06-01&amp;updated_until=2026-06-15&amp;format=xlsx" in html


def test_page_rejects_a_backwards_period(org_world, leads):
    r = client_for(org_world.owner).get(URL, {"updated_from": "2026-06-15", "updated_until": "2026-06-01"})
    assert "updated_until" in r.context["form"].errors
    assert 'class="text-danger small"' in r.content.decode()
    assert len(re.findall(r'id="qualify-row-', r.content.decode())) == 4  # the period is ignored


def test_rep_page_has_no_per_rep_chart(org_world, leads):
    html = client_for(org_world.rep1).get(URL).content.decode()
    assert 'id="apple-rep-chart"' not in html
    assert chart_of(html)["counts"] == [1, 1, 0]


def test_list_query_count_is_fixed(org_world, leads, django_assert_max_num_queries):
    c = client_for(org_world.owner)
    for i in range(10):
        cust = CustomerFactory(owner=org_world.rep2, name=f"多{i}")
        qualify.qualification_set(
            actor=org_world.rep2, customer_id=cust.pk, need=True, money=False, authority=False
        )
    with django_assert_max_num_queries(10):
        response = c.get(URL)
    assert len(re.findall(r'id="qualify-row-', response.content.decode())) == 14


# ---------------------------------------------------------------------------------------------
# Export


def test_owner_export_exact(org_world, leads):
    rows, book = sheet_rows(client_for(org_world.owner).get(URL, {"format": "xlsx", "apple": "red"}))
    assert rows[0] == exports.qualify_header()
    yes = site("yes")
    with translation.override(settings.LANGUAGE_CODE):
        red = str(Qualification.Apple.RED.label)
        prospect, active = str(Customer.Status.PROSPECT.label), str(Customer.Status.ACTIVE.label)
    assert rows[1:] == [
        [
            leads["a"].pk,
            "甲",
            red,
            prospect,
            "rep1",
            "天河店",
            yes,
            yes,
            yes,
            "'=note a",
            dt.datetime(2026, 6, 1, 10),
            "rep1",
        ],
        [
            leads["d"].pk,
            "丁",
            red,
            active,
            "rep2",
            "天河店",
            yes,
            yes,
            yes,
            None,
            dt.datetime(2026, 5, 1, 10),
            "rep2",
        ],
    ]
    filters = [list(r) for r in book[site("Filters")].iter_rows(values_only=True)]
    assert filters[1:] == [[site("Apple"), red]]


def test_export_follows_period_status_and_team(org_world, leads):
    w = org_world
    c = client_for(w.owner)
    get = lambda **p: [r[1] for r in sheet_rows(c.get(URL, {**p, "format": "xlsx"}))[0][1:]]  # noqa: E731
    assert get(updated_from="2026-06-01", updated_until="2026-06-15") == ["乙", "甲"]
    assert get(status="prospect") == ["甲"]
    assert get(team=w.t2.pk) == ["丙"]
    assert get(rep=w.rep2.pk, updated_until="2026-05-31") == ["丁"]


def test_rep_export_never_holds_another_reps_customer(org_world, leads):
    c = client_for(org_world.rep1)
    for params in ({}, {"rep": org_world.rep3.pk}, {"team": org_world.t2.pk}, {"store": org_world.s2.pk}):
        rows, _book = sheet_rows(c.get(URL, {**params, "format": "xlsx"}))
        ids = {r[0] for r in rows[1:]}
        assert ids <= {leads["a"].pk, leads["b"].pk}
        assert leads["c"].pk not in ids and leads["d"].pk not in ids
    rows, _book = sheet_rows(c.get(URL, {"format": "xlsx"}))
    assert [r[1] for r in rows[1:]] == ["乙", "甲"]


def test_manager_export_is_their_scope(org_world, leads):
    rows, _book = sheet_rows(client_for(org_world.manager2).get(URL, {"format": "xlsx"}))
    assert [r[1] for r in rows[1:]] == ["丙"]


def test_export_is_capped_and_says_so(org_world, leads, monkeypatch):
    monkeypatch.setattr(exports, "EXPORT_ROWS", 3)
    rows, _book = sheet_rows(client_for(org_world.owner).get(URL, {"format": "xlsx"}))
    assert [r[1] for r in rows[1:4]] == ["丙", "乙", "甲"]
    assert len(rows) == 5
    assert rows[4][0] == site("Only the first %(n)s customers are exported; narrow the filters.") % {"n": 3}
