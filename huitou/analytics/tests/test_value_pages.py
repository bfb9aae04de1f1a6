"""The value card on the customer page, the /analytics/value/ report with its filters, pager and
xlsx export, and the JSON endpoints: figures, scope (a rep never sees another rep's customer),
roles."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.test import Client
from ninja import NinjaAPI
from ninja.testing import TestClient

from huitou.analytics import views_value
from huitou.analytics.api_value import router
from huitou.analytics.models_value import CustomerValue
from huitou.analytics.value_services import value_refresh
from huitou.api.errors import register_error_handlers

from .test_value_refresh import AS_OF, value_world  # noqa: F401 - the shared fixture

REPORT = "/analytics/value/"


def card_url(customer) -> str:
    return f"/analytics/value/customer/{customer.pk}/"


@pytest.fixture
def refreshed(value_world):  # noqa: F811
    value_refresh(organisation=value_world.w.org, as_of=AS_OF)
    return value_world


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_card_shows_the_snapshot_and_the_referred_customers_in_scope(refreshed):
    w, c = refreshed.w, refreshed.c
    a = CustomerValue.objects.get(customer=c["A"])
    f = CustomerValue.objects.get(customer=c["F"])
    r = client_for(w.owner).get(card_url(c["A"]), headers={"HX-Request": "true"})
    assert r.status_code == 200
    html = r.content.decode()
    assert "<html" not in html  # the htmx fragment
    assert f'id="value-clv-figure">¥{a.clv:.2f}' in html
    assert f'id="value-p-alive">{a.p_alive:.2f}' in html
    assert 'id="value-revenue">¥2500' in html
    # The owner sees both referred customers, linked; F's value is its CLV plus margin to date.
    assert f'href="/customers/{c["F"].pk}/"' in html
    assert f'href="/customers/{c["G"].pk}/"' in html
    assert 'id="value-referred-hidden"' not in html
    assert f'id="value-referred">¥{f.clv + f.margin:.0f}' in html


def test_rep_sees_the_referred_customer_of_another_rep_only_as_a_sum(refreshed):
    w, c = refreshed.w, refreshed.c
    f = CustomerValue.objects.get(customer=c["F"])
    html = client_for(w.rep1).get(card_url(c["A"]), headers={"HX-Request": "true"}).content.decode()
    assert f'href="/customers/{c["G"].pk}/"' in html  # rep1's own
    assert f'href="/customers/{c["F"].pk}/"' not in html  # rep3's: neither link nor name
    assert ">F<" not in html
    hidden = re.search(r'id="value-referred-hidden">(.*?)</li>', html, re.S)
    assert hidden and f"¥{f.clv + f.margin:.0f}" in hidden.group(1)


def test_rep_cannot_open_another_reps_customer_card(refreshed):
    w, c = refreshed.w, refreshed.c
    assert client_for(w.rep1).get(card_url(c["C"]), headers={"HX-Request": "true"}).status_code == 404
    assert client_for(w.rep1).get(card_url(c["X"])).status_code == 404
    assert client_for(w.rep3).get(card_url(c["C"])).status_code == 200


def test_roles_without_value_access_get_403(refreshed):
    w, c = refreshed.w, refreshed.c
    for user in (w.dcrc, w.aftersales):
        assert client_for(user).get(card_url(c["A"])).status_code == 403
        assert client_for(user).get(REPORT).status_code == 403


def test_customer_page_loads_the_card_with_htmx(refreshed):
    w, c = refreshed.w, refreshed.c
    html = client_for(w.rep1).get(f"/customers/{c['A'].pk}/").content.decode()
    assert f'hx-get="{card_url(c["A"])}"' in html
    html = client_for(w.dcrc).get(f"/customers/{c['A'].pk}/").content.decode()
    assert 'id="value-card"' not in html
    # Without htmx the card is a page of its own.
    page = client_for(w.rep1).get(card_url(c["A"])).content.decode()
    assert "<html" in page and 'id="value-clv-figure"' in page


def test_card_of_a_customer_without_snapshot(refreshed):
    html = client_for(refreshed.w.rep1).get(card_url(refreshed.c["I"]), headers={"HX-Request": "true"})
    assert 'id="value-none"' in html.content.decode()


def _list_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="value-row-(\d+)"', html)]


def test_report_lists_customers_by_clv_with_segment_tables(refreshed, django_assert_max_num_queries):
    w = refreshed.w
    client = client_for(w.owner)
    with django_assert_max_num_queries(16):
        r = client.get(REPORT)
    html = r.content.decode()
    rows = list(CustomerValue.objects.order_by("-clv", "customer_id").values_list("customer_id", flat=True))
    assert _list_ids(html) == rows and len(rows) == 7
    untiered = re.search(r'data-tier="none"><th scope="row">[^<]*</th><td class="text-end">(\d+)</td>', html)
    assert untiered and int(untiered.group(1)) == 7  # no segment run: every tier is ""
    assert 'id="value-params"' in html and 'id="value-spend-params"' in html
    assert 'id="value-chart-data"' in html
    assert 'id="value-unfitted"' not in html


def test_report_scope_and_filters(refreshed):
    w, c = refreshed.w, refreshed.c
    mine = {c[n].pk for n in ("A", "B", "E", "H")}
    assert set(_list_ids(client_for(w.rep1).get(REPORT).content.decode())) == mine
    store2 = {c[n].pk for n in ("C", "D", "F")}
    owner = client_for(w.owner)
    assert set(_list_ids(owner.get(REPORT, {"store": w.s2.pk}).content.decode())) == store2
    assert set(_list_ids(owner.get(REPORT, {"team": w.t2.pk}).content.decode())) == store2
    assert set(_list_ids(owner.get(REPORT, {"rep": w.rep1.pk}).content.decode())) == mine
    assert set(_list_ids(owner.get(REPORT, {"as_of": AS_OF.isoformat()}).content.decode())) == mine | store2
    # A rep's own filters cannot widen their scope.
    assert set(_list_ids(client_for(w.rep1).get(REPORT, {"rep": w.rep3.pk}).content.decode())) <= mine


def test_report_pages_server_side(refreshed, monkeypatch):
    monkeypatch.setattr(views_value, "PAGE_SIZE", 3)
    client = client_for(refreshed.w.owner)
    rows = list(CustomerValue.objects.order_by("-clv", "customer_id").values_list("customer_id", flat=True))
    first = client.get(REPORT).content.decode()
    assert _list_ids(first) == rows[:3]
    assert "page=2" in first
    assert _list_ids(client.get(REPORT, {"page": 3}).content.decode()) == rows[6:]


def test_report_in_english_and_without_snapshot(org_world, settings):
    settings.LANGUAGE_CODE = "en"
    html = client_for(org_world.owner).get(REPORT, headers={"Accept-Language": "en"}).content.decode()
    assert "Customer lifetime value" in html
    assert 'id="no-snapshot"' in html


def test_xlsx_export(refreshed):
    from openpyxl import load_workbook

    w = refreshed.w
    r = client_for(w.rep1).get(REPORT, {"format": "xlsx"})
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(b"".join(r.streaming_content)), read_only=True)
    sheets = wb.sheetnames
    assert len(sheets) == 4
    customers = list(wb[sheets[2]].iter_rows(values_only=True))
    mine = CustomerValue.objects.filter(owner=w.rep1).order_by("-clv", "customer_id")
    assert [row[0] for row in customers[1:]] == [v.customer.name for v in mine]
    assert [Decimal(str(row[5])) for row in customers[1:]] == [v.clv for v in mine]
    tiers = list(wb[sheets[0]].iter_rows(values_only=True))
    assert tiers[-1][1] == 4  # the rep's four customers, all untiered
    model = {row[0]: row[1] for row in wb[sheets[3]].iter_rows(values_only=True)}
    assert "bgnbd" in model.values()


# ---------------------------------------------------------------------------------------------
# API (the router under a test API with the project's error handlers; mounted by the lead at
# /api/v1/analytics/value)


@pytest.fixture
def api():
    test_api = NinjaAPI(urls_namespace="test-value-api")
    register_error_handlers(test_api)
    test_api.add_router("/value", router)
    return TestClient(test_api)


def test_api_segments_and_list(refreshed, api):
    w = refreshed.w
    r = api.get("/value", user=w.owner)
    assert r.status_code == 200
    body = r.json()
    assert body["as_of"] == AS_OF.isoformat()
    assert body["customers"] == 7
    assert body["model"]["model"] == "bgnbd" and set(body["model"]["params"]) == {"r", "alpha", "a", "b"}
    total = sum(v.clv for v in CustomerValue.objects.all())
    assert Decimal(str(body["clv_total"])) == total
    assert [t["tier"] for t in body["tiers"]] == ["gold", "silver", "bronze", ""]
    r = api.get("/value/customers?size=2", user=w.rep1)
    items = r.json()["items"]
    mine = list(CustomerValue.objects.filter(owner=w.rep1).order_by("-clv", "customer_id"))
    assert [i["customer_id"] for i in items] == [v.customer_id for v in mine[:2]]
    assert r.json()["has_next"] is True


def test_api_customer_value_and_scope(refreshed, api):
    w, c = refreshed.w, refreshed.c
    body = api.get(f"/value/customers/{c['A'].pk}", user=w.rep1).json()
    a = CustomerValue.objects.get(customer=c["A"])
    assert Decimal(str(body["value"]["clv"])) == a.clv
    assert body["value"]["referred_customers"] == 2
    assert [r["customer_id"] for r in body["referred"]] == [c["G"].pk]
    assert body["referred_hidden"] == 1
    assert api.get(f"/value/customers/{c['C'].pk}", user=w.rep1).status_code == 404
    assert api.get("/value", user=w.dcrc).status_code == 403
    assert api.get(f"/value/customers/{c['A'].pk}", user=w.aftersales).status_code == 403
