"""The reports API: the same figures and scope as the pages, mounted here on a test API until
the lead registers the router in ``huitou.api.api``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import path
from django.utils import timezone
from ninja import NinjaAPI

from huitou.accounts.services import api_token_create
from huitou.api.api import api as main_api
from huitou.api.auth import BearerTokenAuth
from huitou.api.errors import register_error_handlers
from huitou.reports.api import router
from huitou.reports.models import Promotion, PromotionPurchase, WalletEstimate

from .conftest import TODAY

pytestmark = [pytest.mark.django_db, pytest.mark.urls("huitou.reports.tests.test_api")]

if any(r is router for _p, r in getattr(main_api, "_routers", [])):
    test_api = main_api  # registered by the lead: test the real mount
    urlpatterns = [path("api/v1/", main_api.urls)]
else:
    test_api = NinjaAPI(urls_namespace="reports-test-api", auth=[BearerTokenAuth()], docs_url=None)
    register_error_handlers(test_api)
    test_api.add_router("/reports", router)
    urlpatterns = [path("api/v1/", test_api.urls)]

BASE = "/api/v1/reports"


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY)


class Api:
    def __init__(self, user):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user)}", "Accept-Language": "en"}

    def get(self, p: str, **params: Any):
        return self.client.get(BASE + p, params, headers=self.headers)

    def send(self, method: str, p: str, body: Any = None):
        return getattr(self.client, method)(
            BASE + p, json.dumps(body or {}), content_type="application/json", headers=self.headers
        )


def test_account_report(data):
    r = Api(data.w.rep1).get(f"/accounts/{data.a.pk}", year=2025)
    assert r.status_code == 200, r.content
    body = r.json()
    march = next(m for m in body["months"] if m["key"] == "2025-03")
    assert (march["sales"], march["growth_last_year"], march["visits_planned"]) == ("2000.00", 1.0, 2)
    year = next(y for y in body["years"] if y["key"] == "2025")
    assert (year["share_of_wallet"], year["max_delay_days"]) == (0.25, 50)
    assert body["receivables"]["buckets"] == ["400.00", "250.00", "2000.00", "100.00", "700.00"]
    assert body["promotions"][0]["lift"] == "1200.00"


def test_account_report_outside_the_scope_is_404(data):
    assert Api(data.w.rep2).get(f"/accounts/{data.a.pk}").status_code == 404


def test_accounts_list(data):
    r = Api(data.w.manager1).get("/accounts", year=2025, kind="company")
    assert r.status_code == 200, r.content
    items = r.json()["items"]
    assert [i["id"] for i in items] == [data.a.pk]
    assert (items[0]["sales"], items[0]["growth"], items[0]["overdue"]) == ("3500.00", 2.5, "3050.00")


def test_wallet_put_and_refusal(data):
    r = Api(data.w.rep1).send(
        "put", f"/accounts/{data.a.pk}/wallet/2026", {"amount": "30000", "source": "customer"}
    )
    assert r.status_code == 200, r.content
    assert r.json()["amount"] == "30000.00"
    assert (
        Api(data.w.rep2).send("put", f"/accounts/{data.a.pk}/wallet/2026", {"amount": "1"}).status_code == 404
    )
    assert WalletEstimate.objects.get(customer=data.a, year=2026).amount == 30000
    assert [e["year"] for e in Api(data.w.rep1).get(f"/accounts/{data.a.pk}/wallet").json()] == [2026, 2025]


def test_receivables_and_funnel(data):
    api = Api(data.w.owner)
    r = api.get("/receivables", group="rep")
    assert r.status_code == 200, r.content
    assert r.json()["total"]["outstanding"] == "8450.00"
    f = api.get("/funnel", start="2025-01", end="2025-12", team_id=data.w.t1.pk).json()
    assert (f["total"]["leads"], f["total"]["won"], f["total"]["first_purchases"]) == (3, 1, 2)
    assert len(f["by_month"]) == 12 and f["by_month"][3]["key"] == "2025-04"
    assert api.get("/funnel", start="2025-06", end="2025-01").status_code == 422


def test_promotions_create_and_tag(data):
    owner, rep = Api(data.w.owner), Api(data.w.rep1)
    assert (
        rep.send(
            "post", "/promotions", {"name": "x", "starts_on": "2025-01-01", "ends_on": "2025-01-02"}
        ).status_code
        == 403
    )
    r = owner.send(
        "post", "/promotions", {"name": "二月订货会", "starts_on": "2025-02-01", "ends_on": "2025-02-28"}
    )
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    feb = data.a.purchases.get(ordered_on="2025-02-10")
    assert rep.send("post", f"/promotions/{pid}/purchases", {"purchase_id": feb.pk}).status_code == 201
    assert rep.send("post", f"/promotions/{pid}/purchases", {"purchase_id": feb.pk}).status_code == 409
    assert [p["name"] for p in rep.get("/promotions").json()] == ["春季促销", "二月订货会"]
    assert rep.send("delete", f"/promotion-purchases/{feb.pk}").status_code == 204
    assert not PromotionPurchase.objects.filter(purchase=feb).exists()
    assert Promotion.objects.count() == 2
