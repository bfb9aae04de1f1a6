"""The pipeline API (/api/v1/referrals): same permissions as the pages, 404 outside the scope."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huitou.accounts.services import api_token_create
from huitou.referrals import links
from huitou.referrals.models import Referral, ReferralLink
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory, ProductFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/referrals"


def url(path: str) -> str:
    # The collection's own address ("" under the mount) comes from its URL name, so these tests
    # hold whether the app router mounts it with a trailing slash or not.
    return reverse("api:referral_collection") if path == "" else BASE + path


class Api:
    def __init__(self, user):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user)}", "Accept-Language": "en"}

    def get(self, path: str, **params: Any):
        return self.client.get(url(path), params, headers=self.headers)

    def post(self, path: str, body: Any = None):
        return self.client.post(
            url(path), json.dumps(body or {}), content_type="application/json", headers=self.headers
        )


def referrer_of(w, rep=None, **kw):
    rep = rep or w.rep1
    return CustomerFactory(owner=rep, organisation=w.org, store=rep.store, **kw)


def lead(w, *, stage="submitted", rep=None, **kw):
    return ReferralFactory(
        referrer=referrer_of(w, rep), stage=stage, submitted_at=timezone.now() - dt.timedelta(days=2), **kw
    )


def test_submit_and_read_back(org_world):
    w = org_world
    ref = referrer_of(w)
    product = ProductFactory(organisation=w.org)
    api = Api(w.rep1)
    response = api.post(
        "",
        {
            "referrer_id": ref.pk,
            "name": "韩梅梅",
            "phone": "139 0000 0001",
            "relation": "family",
            "interest": "SUV",
            "product_id": product.pk,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["phone"], body["stage"], body["referrer_id"], body["rep_id"]) == (
        "韩梅梅",
        "13900000001",
        "submitted",
        ref.pk,
        w.rep1.pk,
    )
    assert (body["channel"], body["product_id"], body["counts"], body["version"]) == (
        "delivery",
        product.pk,
        False,
        1,
    )
    detail = api.get(f"/{body['id']}").json()
    assert [e["action"] for e in detail["events"]] == ["submit"]
    assert detail["reasons"] == []


def test_submit_errors(org_world):
    w = org_world
    ref = referrer_of(w)
    api = Api(w.rep1)
    response = api.post("", {"referrer_id": ref.pk, "name": "", "phone": "123", "relation": "friend"})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"name", "phone"}
    assert (
        api.post(
            "", {"referrer_id": referrer_of(w, rep=w.rep3).pk, "name": "x", "phone": "13900000001"}
        ).status_code
        == 404
    )
    assert (
        api.post(
            "", {"referrer_id": ref.pk, "name": "x", "phone": "13900000001", "channel": "self"}
        ).status_code
        == 422
    )
    assert (
        api.post(
            "", {"referrer_id": ref.pk, "name": "x", "phone": "13900000001", "product_id": 99999}
        ).status_code
        == 422
    )
    assert not Referral.objects.exists()


def test_list_is_paginated_scoped_and_masked(org_world):
    w = org_world
    mine = [lead(w, phone=f"+861390000000{i}") for i in range(3)]
    lead(w, rep=w.rep3)
    body = Api(w.rep1).get("", size=2).json()
    assert (len(body["items"]), body["has_next"], body["total"]) == (2, True, 3)
    assert body["items"][0]["phone"].startswith("1390000000")
    manager = Api(w.manager1).get("").json()
    assert {i["id"] for i in manager["items"]} == {r.pk for r in mine}
    assert all("****" in i["phone"] for i in manager["items"])
    flagged = Api(w.owner).get("", flagged="true").json()
    assert flagged["items"] == []


def test_detail_is_404_outside_the_scope(org_world):
    w = org_world
    r = lead(w)
    assert Api(w.rep3).get(f"/{r.pk}").status_code == 404
    assert Api(w.other_owner).get(f"/{r.pk}").status_code == 404
    assert Api(w.rep1).get(f"/{r.pk}").status_code == 200


def test_the_whole_journey(org_world):
    w = org_world
    r = lead(w)
    audit = Api(w.dcrc).post(f"/{r.pk}/audit", {"outcome": "confirmed", "note": "ok", "version": 1})
    assert (audit.status_code, audit.json()["stage"], audit.json()["counts"]) == (200, "verified", True)
    rep = Api(w.rep1)
    assert rep.post(f"/{r.pk}/advance", {"to": "contacted"}).json()["stage"] == "contacted"
    customer_id = rep.post(f"/{r.pk}/convert").json()["customer_id"]
    sale = PurchaseFactory(customer_id=customer_id, organisation=w.org, ordered_on=timezone.localdate())
    won = rep.post(f"/{r.pk}/win", {"purchase_id": sale.pk})
    assert (won.status_code, won.json()["stage"], won.json()["won_purchase_id"]) == (200, "won", sale.pk)
    lost = rep.post(f"/{r.pk}/lose", {"reason": "退车"})
    assert (lost.status_code, lost.json()["stage"]) == (200, "lost")


def test_role_and_stage_refusals(org_world):
    w = org_world
    r = lead(w)
    assert Api(w.aftersales).post(f"/{r.pk}/audit", {"outcome": "confirmed"}).status_code == 403
    assert Api(w.rep1).post(f"/{r.pk}/audit", {"outcome": "confirmed"}).status_code == 403
    assert Api(w.rep3).post(f"/{r.pk}/audit", {"outcome": "confirmed"}).status_code == 404
    response = Api(w.rep1).post(f"/{r.pk}/advance", {"to": "quoted"})
    assert response.status_code == 409
    assert response.json()["detail"] == "The phone audit comes first: this referral is not verified yet."
    assert Api(w.dcrc).post(f"/{r.pk}/audit", {"outcome": "confirmed", "version": 4}).status_code == 409
    assert Api(w.dcrc).post(f"/{r.pk}/audit", {"outcome": "perhaps"}).status_code == 422
    assert Api(w.dcrc).post(f"/{r.pk}/advance", {"to": "quoted"}).status_code == 403
    r.refresh_from_db()
    assert (r.stage, r.version, r.audit_attempts) == ("submitted", 1, 0)


def test_review(org_world):
    w = org_world
    r = lead(w, review="pending", flags=["self_referral"])
    assert Api(w.rep1).post(f"/{r.pk}/review", {"decision": "approve"}).status_code == 403
    assert Api(w.manager2).post(f"/{r.pk}/review", {"decision": "approve"}).status_code == 404
    body = Api(w.manager1).post(f"/{r.pk}/review", {"decision": "reject", "note": "本人"}).json()
    assert (body["stage"], body["review"], body["faked"], body["review_note"]) == (
        "rejected",
        "rejected",
        True,
        "本人",
    )
    assert Api(w.owner).post(f"/{r.pk}/review", {"decision": "approve"}).status_code == 409


def test_bulk(org_world):
    w = org_world
    ref = referrer_of(w, phone="+8613800000001")
    body = (
        Api(w.rep1)
        .post(
            "/bulk",
            {
                "channel": "club",
                "event_name": "车主俱乐部",
                "rows": [
                    {"referrer": str(ref.pk), "name": "张伟", "phone": "13912345678", "relation": "同事"},
                    {"referrer": "13800000001", "name": "李娜", "phone": "bad"},
                    {"referrer": "99999", "name": "王芳", "phone": "13912345679"},
                ],
            },
        )
        .json()
    )
    assert len(body["created"]) == 1 and body["flagged"] == []
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "phone"), (3, "referrer")]
    assert Referral.objects.get().relation == "colleague"
    assert (
        Api(w.rep1).post("/bulk", {"channel": "delivery", "event_name": "x", "rows": []}).status_code == 422
    )


def test_links(org_world):
    w = org_world
    ref = referrer_of(w)
    response = Api(w.rep1).post("/links", {"referrer_id": ref.pk})
    assert response.status_code == 201
    body = response.json()
    link = ReferralLink.objects.get()
    assert (body["id"], body["referrer_id"], body["token"]) == (link.pk, ref.pk, links.token_for(link.pk))
    assert body["url"].endswith(f"/referrals/r/{body['token']}/")
    assert Api(w.rep3).post("/links", {"referrer_id": ref.pk}).status_code == 404
    assert ReferralLink.objects.count() == 1


def test_openapi_lists_the_pipeline_paths(org_world):
    client = Client()
    client.force_login(org_world.owner)
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert reverse("api:referral_collection") in paths
    for path in ("/{referral_id}", "/{referral_id}/audit", "/{referral_id}/win", "/bulk", "/links"):
        assert f"{BASE}{path}" in paths
