"""The feedback API (/api/v1/feedback): the same rules as the pages, typed, in the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from huitou.accounts.services import api_token_create
from huitou.feedback import services, tickets
from huitou.feedback.models import SurveyResponse, Ticket

from .helpers import answers, at, customer_of, invitation_for, question, sale, template

pytestmark = pytest.mark.django_db
BASE = "/api/v1/feedback"


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

    def put(self, path: str, body: Any = None):
        return self.client.put(
            BASE + path, json.dumps(body or {}), content_type="application/json", headers=self.headers
        )


def test_every_endpoint_is_in_the_openapi_schema(world):
    schema = Client().get("/api/v1/openapi.json").json()
    paths = {p for p in schema["paths"] if p.startswith(BASE)}
    assert {
        f"{BASE}/templates",
        f"{BASE}/invitations/phone",
        f"{BASE}/invitations/{{invitation_id}}/phone-response",
        f"{BASE}/responses",
        f"{BASE}/tickets",
        f"{BASE}/tickets/{{ticket_id}}",
        f"{BASE}/tickets/{{ticket_id}}/reply",
        f"{BASE}/tickets/{{ticket_id}}/supervisor-reply",
        f"{BASE}/tickets/{{ticket_id}}/close",
        f"{BASE}/tickets/{{ticket_id}}/concessions",
        f"{BASE}/concessions/{{concession_id}}/approve",
        f"{BASE}/cvp",
        f"{BASE}/cvp/award",
        f"{BASE}/quadrants",
        f"{BASE}/trend",
        f"{BASE}/gaming",
    } <= paths


def test_a_ticket_from_open_to_closed_through_the_api(world):
    customer = customer_of(world.rep1)
    dcrc = Api(world.dcrc)
    response = dcrc.post("/tickets", {"customer_id": customer.pk, "summary": "导航失灵", "channel": "phone"})
    assert response.status_code == 201, response.content
    ticket_id = response.json()["id"]
    assert (response.json()["owner_id"], response.json()["status"]) == (world.rep1.pk, "open")
    rep = Api(world.rep1)
    assert rep.post(f"/tickets/{ticket_id}/reply", {"text": "已约检测"}).json()["status"] == "replied"
    manager = Api(world.manager1)
    denied = rep.put(
        f"/tickets/{ticket_id}/supervisor-reply",
        {"answer": "a", "measures": "m", "customer_reaction": "satisfied", "sign": True},
    )
    assert denied.status_code == 403
    early = manager.post(f"/tickets/{ticket_id}/close", {})
    assert early.status_code == 422
    assert list(early.json()["errors"]) == ["supervisor_reply"]
    signed = manager.put(
        f"/tickets/{ticket_id}/supervisor-reply",
        {"answer": "已升级车机", "measures": "培训", "customer_reaction": "satisfied", "sign": True},
    )
    assert signed.status_code == 200 and signed.json()["signed_at"]
    closed = manager.post(f"/tickets/{ticket_id}/close", {})
    body = closed.json()
    assert (body["status"], len(body["followup_invitations"])) == ("closed", 1)
    assert [e["kind"] for e in body["events"]] == ["created", "replied", "supervisor", "closed", "survey"]


def test_out_of_scope_is_404_and_changes_nothing(world):
    ticket = tickets.ticket_open(
        actor=world.dcrc, customer_id=customer_of(world.rep1).pk, summary="x", channel="phone"
    )
    assert Api(world.rep2).get(f"/tickets/{ticket.pk}").status_code == 404
    assert Api(world.other_owner).post(f"/tickets/{ticket.pk}/reply", {"text": "x"}).status_code == 404
    listed = Api(world.rep2).get("/tickets").json()
    assert listed["items"] == []
    ticket.refresh_from_db()
    assert ticket.status == "open"


def test_concession_approval_through_the_api(world):
    ticket = tickets.ticket_open(
        actor=world.dcrc, customer_id=customer_of(world.rep1).pk, summary="x", channel="phone"
    )
    created = Api(world.rep1).post(
        f"/tickets/{ticket.pk}/concessions", {"kind": "payment", "value": "1200", "description": "分期免息"}
    )
    assert created.status_code == 201
    c = created.json()
    assert (c["status"], c["approver_role"]) == ("proposed", "manager")
    assert [p["id"] for p in Api(world.manager1).get("/concessions/pending").json()] == [c["id"]]
    assert Api(world.rep1).post(f"/concessions/{c['id']}/offer").status_code == 422
    assert (
        Api(world.manager1).post(f"/concessions/{c['id']}/approve", {"note": "ok"}).json()["status"]
        == "approved"
    )
    assert Api(world.rep1).post(f"/concessions/{c['id']}/offer").json()["status"] == "offered"


def test_phone_response_refuses_the_person_who_served(world):
    inv = invitation_for(sale(customer_of(world.rep1), rep=world.manager1))
    t = template(world.org)
    body = {
        "answers": [{"question_id": qid, "score": a.score, "text": a.text} for qid, a in answers(t).items()]
    }
    response = Api(world.manager1).post(f"/invitations/{inv.pk}/phone-response", body)
    assert response.status_code == 422
    assert "you served this customer" in response.json()["errors"]["taken_by"][0]
    assert SurveyResponse.objects.count() == 0
    ok = Api(world.dcrc).post(f"/invitations/{inv.pk}/phone-response", body)
    assert ok.status_code == 201
    assert (ok.json()["channel"], ok.json()["overall"], ok.json()["audit"]) == ("phone", 5, False)
    assert len(ok.json()["answers"]) == 9


def test_low_phone_answer_without_reason_is_named(world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    given = answers(t, overall=2)
    body = {"answers": [{"question_id": qid, "score": a.score, "text": a.text} for qid, a in given.items()]}
    response = Api(world.dcrc).post(f"/invitations/{inv.pk}/phone-response", body)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [f"q{question(t, 'overall').pk}_why"]
    assert Ticket.objects.count() == 0


def test_reps_read_cvp_not_answers(world):
    inv = invitation_for(sale(customer_of(world.rep1), day=dt.date(2026, 3, 10)))
    services.response_submit(
        token=services.survey_token(inv.pk), answers=answers(template(world.org)), now=at(2026, 3, 20)
    )
    rep = Api(world.rep1)
    assert rep.get("/responses").status_code == 403
    assert rep.get("/quadrants", start="2026-03-01", end="2026-03-31").status_code == 403
    rows = rep.get("/cvp", start="2026-03-01", end="2026-03-31").json()
    assert rows == [
        {"id": world.rep1.pk, "name": "rep1", "month": "2026-03-01", "answers": 1, "top_box": 1, "cvp": 1.0}
    ]
    award = rep.get("/cvp/award", month="2026-03-15").json()
    assert [(a["name"], a["units"], a["amount"], a["payroll_month"]) for a in award] == [
        ("rep1", 1, "30", "2026-04-01")
    ]
    manager = Api(world.manager1)
    assert manager.get("/responses").json()["items"][0]["overall"] == 5
    quadrants = manager.get("/quadrants", start="2026-03-01", end="2026-03-31").json()
    assert {p["quadrant"] for p in quadrants["points"]} <= {"urgent", "keep", "low_priority", "over_served"}
    assert manager.get("/trend", start="2026-03-01", end="2026-03-31").json()[0]["ratio"] == 1.25
    assert manager.get("/gaming", start="2026-03-01", end="2026-03-31").json()[0]["flagged"] is False


def test_value_added_services_through_the_api(world):
    customer = customer_of(world.rep1)
    rep = Api(world.rep1)
    created = rep.post(
        f"/customers/{customer.pk}/value-added-services",
        {"kind": "efficiency", "note": "快速通道保养", "value": "0"},
    )
    assert created.status_code == 201
    assert [s["note"] for s in rep.get(f"/customers/{customer.pk}/value-added-services").json()] == [
        "快速通道保养"
    ]
    assert Api(world.rep2).get(f"/customers/{customer.pk}/value-added-services").status_code == 404


def test_templates_for_owner_and_managers_only(world):
    body = Api(world.manager1).get("/templates").json()
    assert {t["code"] for t in body} == {"sales-delivery", "service-visit", "complaint-followup"}
    assert Api(world.rep1).get("/templates").status_code == 403
    assert Api(world.other_owner).get(f"/templates/{body[0]['id']}").status_code == 404
