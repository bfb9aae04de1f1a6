"""The plan-admin API (/api/v1/plan-admin): same permissions as the pages, 404 outside the scope."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huitou.accounts.services import api_token_create
from huitou.followups import requests as req
from huitou.followups.models import Absence, ContactRule, CustomerRequest, ProductNotice, Task
from tests.factories import (
    ContactRuleFactory,
    CustomerFactory,
    OwnedProductFactory,
    ProductFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

BASE = "/api/v1/plan-admin"


class Api:
    def __init__(self, user):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user)}", "Accept-Language": "en"}

    def get(self, path: str, **params: Any):
        return self.client.get(BASE + path, params, headers=self.headers)

    def post(self, path: str, body: Any = None):
        return self.client.post(
            BASE + path, json.dumps(body or {}), content_type="application/json", headers=self.headers
        )

    def patch(self, path: str, body: Any = None):
        return self.client.patch(
            BASE + path, json.dumps(body or {}), content_type="application/json", headers=self.headers
        )


NEW_RULE = {
    "code": "api-rule",
    "name": "From the API",
    "trigger": "festival",
    "channel": "sms",
    "purpose": "marketing",
    "params": {"festival": "lantern"},
    "template": "{name},元宵快乐",
    "offset_days": -1,
}


# --- rules ------------------------------------------------------------------------------------


def test_owner_creates_reads_and_patches_a_rule(org_world):
    api = Api(org_world.owner)
    response = api.post("/rules", NEW_RULE)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["code"], body["params"], body["version"], body["offset_days"]) == (
        "api-rule",
        {"festival": "lantern"},
        1,
        -1,
    )
    rule_id = body["id"]
    assert api.get(f"/rules/{rule_id}").json()["name"] == "From the API"
    response = api.patch(f"/rules/{rule_id}", {"version": 1, "priority": 80, "active": False})
    assert response.status_code == 200
    assert (response.json()["priority"], response.json()["active"], response.json()["version"]) == (
        80,
        False,
        2,
    )
    listed = api.get("/rules", trigger="festival").json()
    assert [r["code"] for r in listed] == ["api-rule"]
    assert api.get("/rules", active="true").json() == []


def test_invalid_rule_names_the_field(org_world):
    response = Api(org_world.owner).post("/rules", {**NEW_RULE, "params": {"festival": "halloween"}})
    assert response.status_code == 422
    assert response.json()["errors"] == {"params.festival": ["unknown festival"]}
    response = Api(org_world.owner).post("/rules", {**NEW_RULE, "template": "{name} {vin}"})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["template"]
    assert not ContactRule.objects.exists()


def test_stale_patch_is_409_and_leaves_the_rule(org_world):
    api = Api(org_world.owner)
    rule_id = api.post("/rules", NEW_RULE).json()["id"]
    assert api.patch(f"/rules/{rule_id}", {"version": 1, "priority": 70}).status_code == 200
    response = api.patch(f"/rules/{rule_id}", {"version": 1, "priority": 10})
    assert response.status_code == 409
    rule = ContactRule.objects.get(pk=rule_id)
    assert (rule.priority, rule.version) == (70, 2)


def test_rule_permissions(org_world):
    w = org_world
    rule = ContactRuleFactory(organisation=w.org, priority=40)
    theirs = ContactRuleFactory(organisation=w.other_org)
    manager = Api(w.manager1)
    assert manager.get("/rules").status_code == 200
    assert manager.get(f"/rules/{rule.pk}").status_code == 200
    assert manager.post("/rules", NEW_RULE).status_code == 403
    assert manager.patch(f"/rules/{rule.pk}", {"version": 1, "priority": 90}).status_code == 403
    rep = Api(w.rep1)
    assert rep.get("/rules").status_code == 403
    assert rep.get(f"/rules/{rule.pk}").status_code == 403
    owner = Api(w.owner)
    assert owner.get(f"/rules/{theirs.pk}").status_code == 404
    assert owner.patch(f"/rules/{theirs.pk}", {"version": 1, "priority": 90}).status_code == 404
    rule.refresh_from_db()
    theirs.refresh_from_db()
    assert (rule.priority, theirs.priority, ContactRule.objects.count()) == (40, 50, 2)


# --- compliance -------------------------------------------------------------------------------------


def test_compliance_rows_and_scope(org_world):
    w = org_world
    day = dt.date(2026, 11, 10)
    done_at = dt.datetime(2026, 11, 10, 20, 0, tzinfo=timezone.get_current_timezone())
    TaskFactory(
        customer=CustomerFactory(owner=w.rep1), due_on=day, status=Task.Status.DONE, completed_at=done_at
    )
    TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=day, status=Task.Status.MISSED)
    TaskFactory(customer=CustomerFactory(owner=w.rep3), due_on=day, status=Task.Status.MISSED)
    period = {"start": "2026-11-01", "end": "2026-11-15"}
    rows = Api(w.manager1).get("/compliance", **period).json()
    assert rows == [
        {
            "user_id": w.rep1.pk,
            "username": "rep1",
            "name": "rep1",
            "on_time": 1,
            "late": 0,
            "missed": 1,
            "open_overdue": 0,
            "open_upcoming": 0,
            "total": 2,
            "on_time_rate": 0.5,
        }
    ]
    assert [r["username"] for r in Api(w.owner).get("/compliance", **period).json()] == ["rep1", "rep3"]
    assert Api(w.rep3).get("/compliance", **period).json()[0]["missed"] == 1
    tasks = Api(w.manager1).get("/compliance/tasks", assignee_id=w.rep1.pk, state="missed", **period).json()
    assert [t["status"] for t in tasks["items"]] == ["missed"]
    assert Api(w.manager1).get("/compliance/tasks", assignee_id=w.rep3.pk, **period).json()["items"] == []


def test_compliance_reversed_period_is_422(org_world):
    response = Api(org_world.owner).get("/compliance", start="2026-11-02", end="2026-11-01")
    assert response.status_code == 422
    assert response.json()["errors"] == {"end": ["must not be before the start"]}


# --- requests ---------------------------------------------------------------------------------------


def test_request_lifecycle(org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1, name="接口客户")
    api = Api(w.dcrc)
    received = "2026-11-20T18:00:00+08:00"  # a Friday after the cut-off
    response = api.post(
        "/requests", {"customer_id": customer.pk, "summary": "预约保养", "received_at": received}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner_id"] == w.rep1.pk
    assert body["customer_name"] == "接口客户"
    assert dt.datetime.fromisoformat(body["reply_due_at"]) == dt.datetime.fromisoformat(
        "2026-11-23T23:59:59+08:00"
    )
    request_id = body["id"]
    listed = Api(w.rep1).get("/requests").json()
    assert [r["id"] for r in listed["items"]] == [request_id]
    acked = Api(w.rep1).post(f"/requests/{request_id}/acknowledge", {"note": "处理中"}).json()
    assert acked["status"] == "acknowledged" and acked["first_reply_at"] is not None
    answered = Api(w.rep1).post(f"/requests/{request_id}/answer", {}).json()
    assert answered["status"] == "answered"
    assert answered["first_reply_at"] == acked["first_reply_at"]
    again = Api(w.rep1).post(f"/requests/{request_id}/answer", {})
    assert again.status_code == 422
    assert again.json()["errors"] == {"status": ["this request is already answered"]}
    assert Api(w.rep1).get("/requests").json()["items"] == []


def test_request_refusals_change_nothing(org_world):
    w = org_world
    mine = CustomerFactory(owner=w.rep1)
    item = req.request_log(actor=w.rep1, customer_id=mine.pk, summary="x", channel="call")
    rep3 = Api(w.rep3)
    assert rep3.post(f"/requests/{item.pk}/acknowledge", {}).status_code == 404
    assert rep3.post(f"/requests/{item.pk}/answer", {}).status_code == 404
    assert rep3.post("/requests", {"customer_id": mine.pk, "summary": "y"}).status_code == 404
    assert Api(w.other_owner).post(f"/requests/{item.pk}/answer", {}).status_code == 404
    assert rep3.get("/requests").json()["items"] == []
    item.refresh_from_db()
    assert (item.status, item.first_reply_at, CustomerRequest.objects.count()) == ("open", None, 1)


def test_breach_report(org_world):
    w = org_world
    tz = timezone.get_current_timezone()
    customer = CustomerFactory(owner=w.rep1)
    late = req.request_log(
        actor=w.rep1,
        customer_id=customer.pk,
        summary="a",
        channel="call",
        received_at=dt.datetime(2026, 10, 12, 9, 0, tzinfo=tz),
    )
    CustomerRequest.objects.filter(pk=late.pk).update(
        first_reply_at=dt.datetime(2026, 10, 13, 9, 0, tzinfo=tz), status="acknowledged"
    )
    req.request_log(
        actor=w.rep1,
        customer_id=customer.pk,
        summary="b",
        channel="call",
        received_at=dt.datetime(2026, 10, 12, 10, 0, tzinfo=tz),
    )
    body = Api(w.manager1).get("/requests/breaches", start="2026-10-01", end="2026-10-31").json()
    assert body["summary"] == [
        {
            "owner_id": w.rep1.pk,
            "username": "rep1",
            "name": "rep1",
            "received": 2,
            "replied_in_time": 0,
            "replied_late": 1,
            "open_past_due": 1,
            "pending": 0,
            "breached": 2,
        }
    ]
    assert [r["summary"] for r in body["breached"]["items"]] == ["a", "b"]
    assert all(r["breached"] for r in body["breached"]["items"])
    assert Api(w.rep3).get("/requests/breaches", start="2026-10-01", end="2026-10-31").json()["summary"] == []


# --- absences and notices -----------------------------------------------------------------------------


def test_absences(org_world):
    w = org_world
    start = timezone.localdate() + dt.timedelta(days=1)
    body = {
        "user_id": w.rep1.pk,
        "starts_on": start.isoformat(),
        "ends_on": start.isoformat(),
        "delegate_id": w.rep2.pk,
        "reason": "病假",
    }
    response = Api(w.manager1).post("/absences", body)
    assert response.status_code == 201, response.content
    assert (response.json()["user_name"], response.json()["delegate_id"]) == ("rep1", w.rep2.pk)
    assert [a["reason"] for a in Api(w.manager1).get("/absences").json()] == ["病假"]
    assert Api(w.manager2).get("/absences").json() == []
    assert Api(w.rep1).get("/absences").status_code == 403
    assert (
        Api(w.rep1)
        .post(
            "/absences",
            {
                **body,
                "starts_on": (start + dt.timedelta(days=5)).isoformat(),
                "ends_on": (start + dt.timedelta(days=5)).isoformat(),
            },
        )
        .status_code
        == 403
    )
    assert Api(w.manager2).post("/absences", body).status_code == 404
    bad = Api(w.owner).post("/absences", {**body, "ends_on": (start - dt.timedelta(days=1)).isoformat()})
    assert (bad.status_code, bad.json()["errors"]) == (422, {"ends_on": ["must not be before the first day"]})
    assert Absence.objects.count() == 1


def test_notices(org_world):
    w = org_world
    product = ProductFactory(organisation=w.org, name="威兰达")
    OwnedProductFactory(customer=CustomerFactory(owner=w.rep1), product=product)
    response = Api(w.owner).post("/notices", {"product_id": product.pk, "kind": "price", "title": "价格调整"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["owners"], body["product_name"], body["effective_on"]) == (
        1,
        "威兰达",
        timezone.localdate().isoformat(),
    )
    assert [n["title"] for n in Api(w.manager2).get("/notices").json()] == ["价格调整"]
    assert Api(w.rep1).get("/notices").status_code == 403
    assert (
        Api(w.rep1).post("/notices", {"product_id": product.pk, "kind": "news", "title": "x"}).status_code
        == 403
    )
    theirs = ProductFactory(organisation=w.other_org)
    wrong = Api(w.owner).post("/notices", {"product_id": theirs.pk, "kind": "news", "title": "x"})
    assert (wrong.status_code, wrong.json()["errors"]) == (
        422,
        {"product_id": ["no such product in your organisation"]},
    )
    assert Api(w.other_owner).get("/notices").json() == []
    assert ProductNotice.objects.count() == 1
