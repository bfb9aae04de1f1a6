"""The outbox API at /api/v1/outbox/: lists, detail, cancel, retry, batches and their PDF, scope."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client
from pypdf import PdfReader

from huitou.accounts.services import api_token_create
from huitou.followups.models import Message
from tests.factories import CustomerFactory, MessageFactory, UserFactory

from .test_outbox_support import at, customer_of

pytestmark = [pytest.mark.django_db]


class Api:
    def __init__(self, user):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user)}", "Accept-Language": "en"}

    def get(self, p, **params):
        return self.client.get("/api/v1/outbox" + p, params, headers=self.headers)

    def post(self, p, body=None):
        return self.client.post(
            "/api/v1/outbox" + p,
            json.dumps(body or {}),
            content_type="application/json",
            headers=self.headers,
        )


@pytest.fixture
def world(org_world):
    w = org_world
    w.c1 = customer_of(w.rep1, name="张伟", phone="+8613812345678", address="天河路385号")
    w.m1 = MessageFactory(customer=w.c1, to=w.c1.phone, purpose="service", scheduled_for=at(10))
    w.m2 = MessageFactory(
        customer=customer_of(w.rep2), status="failed", purpose="service", scheduled_for=at(11)
    )
    w.m_other = MessageFactory(customer=CustomerFactory(owner=UserFactory(organisation=w.other_org)))
    return w


def test_list_is_paginated_and_scoped(world):
    body = Api(world.owner).get("/messages", size=1).json()
    assert (body["page"], body["size"], body["has_next"], body["total"], body["total_capped"]) == (
        1,
        1,
        True,
        2,
        False,
    )
    assert [item["id"] for item in body["items"]] == [world.m2.pk]
    assert [item["id"] for item in Api(world.rep1).get("/messages").json()["items"]] == [world.m1.pk]


def test_list_filters(world):
    api = Api(world.owner)
    assert [i["id"] for i in api.get("/messages", status="failed").json()["items"]] == [world.m2.pk]
    assert [i["id"] for i in api.get("/messages", customer_id=world.c1.pk).json()["items"]] == [world.m1.pk]
    assert api.get("/messages", date_from="2026-11-24").json()["items"] == []
    assert api.get("/messages", status="bogus").status_code == 422


def test_detail_masks_the_phone_by_role(world):
    item = Api(world.manager1).get(f"/messages/{world.m1.pk}").json()
    assert (item["id"], item["customer_name"], item["to"], item["status"], item["channel"]) == (
        world.m1.pk,
        "张伟",
        "138****5678",
        "queued",
        "sms",
    )
    assert Api(world.rep1).get(f"/messages/{world.m1.pk}").json()["to"] == "13812345678"


@pytest.mark.parametrize("who", ["rep2", "other_owner", "aftersales"])
def test_out_of_scope_is_404(world, who):
    api = Api(getattr(world, who))
    assert api.get(f"/messages/{world.m1.pk}").status_code == 404
    assert api.post(f"/messages/{world.m1.pk}/cancel").status_code == 404
    assert Message.objects.get(pk=world.m1.pk).status == "queued"


def test_cancel_and_retry(world):
    api = Api(world.manager1)
    response = api.post(f"/messages/{world.m1.pk}/cancel")
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    response = api.post(f"/messages/{world.m2.pk}/retry")
    assert (response.status_code, response.json()["status"], response.json()["attempts"]) == (
        200,
        "queued",
        0,
    )
    refused = api.post(f"/messages/{world.m1.pk}/retry")
    assert refused.status_code == 422
    assert Message.objects.get(pk=world.m1.pk).status == "cancelled"


def test_batches_create_list_and_pdf(world):
    letter = MessageFactory(
        customer=world.c1, channel="letter", purpose="service", to="天河路385号", scheduled_for=at(9, day=1)
    )
    api = Api(world.rep1)
    created = api.post("/batches", {"channel": "letter"})
    assert created.status_code == 201
    batch_id = created.json()["id"]
    assert created.json()["count"] == 1
    assert Message.objects.get(pk=letter.pk).batch_id == batch_id
    listing = api.get("/batches").json()
    assert [b["id"] for b in listing["items"]] == [batch_id]
    pdf = api.get(f"/batches/{batch_id}/pdf")
    assert pdf["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    assert len(reader.pages) == 1 and "张伟" in reader.pages[0].extract_text()
    assert Api(world.rep2).get(f"/batches/{batch_id}/pdf").status_code == 404
    assert Api(world.rep2).get("/batches").json()["items"] == []


def test_batch_with_nothing_due_is_422(world):
    response = Api(world.owner).post("/batches", {"channel": "card"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"__all__": ["no letters or cards are due for printing"]}


def test_unauthenticated_is_401(world):
    assert Client().get("/api/v1/outbox/messages").status_code == 401


OUTBOX_PATHS = {
    "/api/v1/outbox/messages": {"get"},
    "/api/v1/outbox/messages/{message_id}": {"get"},
    "/api/v1/outbox/messages/{message_id}/cancel": {"post"},
    "/api/v1/outbox/messages/{message_id}/retry": {"post"},
    "/api/v1/outbox/batches": {"get", "post"},
    "/api/v1/outbox/batches/{batch_id}/pdf": {"get"},
}


def test_schema_documents_every_outbox_operation_with_its_errors():
    schema = Client().get("/api/v1/openapi.json").json()
    paths = {p: ops for p, ops in schema["paths"].items() if p.startswith("/api/v1/outbox/")}
    assert {p: set(ops) for p, ops in paths.items()} == OUTBOX_PATHS
    for ops in paths.values():
        for op in ops.values():
            assert {"401", "403", "404", "422"} <= set(op["responses"])
    pdf = paths["/api/v1/outbox/batches/{batch_id}/pdf"]["get"]["responses"]["200"]
    assert "application/pdf" in pdf["content"]
