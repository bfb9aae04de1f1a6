"""/api/v1/analytics/risk: list, customer card, win-back and mark-lost, with the page's checks."""

from __future__ import annotations

import pytest

from huitou.accounts.services import api_token_create
from huitou.analytics.models import CustomerLoss, WinBack
from huitou.analytics.risk_services import risk_refresh
from huitou.api.tests.conftest import ApiClient
from huitou.followups.models import Task

from .test_risk_flows import AS_OF, risk_world  # noqa: F401  (fixture)


def api(user):
    return ApiClient(api_token_create(user=user))


@pytest.fixture
def world(risk_world):  # noqa: F811
    risk_refresh(organisation=risk_world.w.org, as_of=AS_OF)
    return risk_world


def test_list_owner(world):
    body = api(world.w.owner).get("/analytics/risk", min_score=30).json()
    assert body["as_of"] == "2026-06-30" and body["threshold"] == 30
    assert [(i["customer_name"], i["score"]) for i in body["items"]] == [("A", 45), ("C", 34)]
    first = body["items"][0]
    assert first["reasons"][0] == {
        "code": "spend",
        "text": "spend down 100% on the 12 months before",
        "values": {"pct": 100},
    }
    assert first["late_payment_days"] == 45 and first["p_alive"] is None


def test_list_rep_scoped(world):
    body = api(world.w.rep3).get("/analytics/risk", min_score=0).json()
    assert [i["customer_name"] for i in body["items"]] == ["C", "D"]


def test_other_role_403(world):
    assert api(world.w.dcrc).get("/analytics/risk").status_code == 403


def test_customer_card_and_404(world):
    body = api(world.w.rep1).get(f"/analytics/risk/customers/{world.a.pk}").json()
    assert body["risk"]["score"] == 45 and body["threshold"] == 40 and body["open_winback"] is None
    assert api(world.w.rep1).get(f"/analytics/risk/customers/{world.c.pk}").status_code == 404


def test_winback_once(world):
    client = api(world.w.rep1)
    resp = client.post(f"/analytics/risk/customers/{world.a.pk}/winback", {"approach": "up"})
    assert resp.status_code == 201
    assert resp.json()["status"] == "open" and resp.json()["score_at_start"] == 45
    again = client.post(f"/analytics/risk/customers/{world.a.pk}/winback", {"approach": "up"})
    assert again.status_code == 409
    assert Task.objects.filter(customer=world.a).count() == 1
    assert (
        client.post(f"/analytics/risk/customers/{world.c.pk}/winback", {"approach": "up"}).status_code == 404
    )
    assert (
        client.post(f"/analytics/risk/customers/{world.a.pk}/winback", {"approach": "nope"}).status_code
        == 422
    )
    assert WinBack.objects.count() == 1


def test_mark_lost(world):
    client = api(world.w.manager2)
    resp = client.post(
        f"/analytics/risk/customers/{world.c.pk}/lost", {"reason": "comp_service", "note": "售后慢"}
    )
    assert resp.status_code == 201 and resp.json()["reason"] == "comp_service"
    assert (
        client.post(f"/analytics/risk/customers/{world.a.pk}/lost", {"reason": "bargaining"}).status_code
        == 404
    )
    assert CustomerLoss.objects.count() == 1
