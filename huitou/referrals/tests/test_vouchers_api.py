"""The vouchers API (/api/v1/referrals/vouchers): same permissions as the pages, 409 on a second use."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huitou.accounts.services import api_token_create
from huitou.referrals import vouchers as vs
from huitou.referrals.models import VoucherEntry
from huitou.referrals.tests.factories import VoucherFactory
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/referrals/vouchers"


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


def voucher(owner, **kw):
    kw.setdefault("code", vs.code_new())
    kw.setdefault("expires_on", timezone.localdate() + dt.timedelta(days=100))
    return VoucherFactory(customer=kw.pop("customer", None) or CustomerFactory(owner=owner), **kw)


def test_list_is_scoped_and_paged(org_world):
    mine = voucher(org_world.rep1, customer=CustomerFactory(owner=org_world.rep1, phone="+8613812345678"))
    voucher(org_world.rep3)
    body = Api(org_world.rep1).get("").json()
    assert [i["id"] for i in body["items"]] == [mine.pk]
    item = body["items"][0]
    assert (item["code"], item["code_display"], item["status"], item["customer_phone"]) == (
        mine.code,
        vs.code_display(mine.code),
        "issued",
        "13812345678",
    )
    assert Decimal(str(item["value"])) == Decimal("300")
    assert (body["page"], body["has_next"], body["total"]) == (1, False, 1)
    owner = Api(org_world.manager1).get("", status="issued", size=1).json()
    assert owner["items"][0]["customer_phone"] == "138****5678"  # managers see masked numbers
    assert Api(org_world.owner).get("", store_id=org_world.s2.pk).json()["total"] == 1
    assert Api(org_world.owner).get("", month="2025-13").status_code == 422


def test_detail_with_ledger_and_404_outside_scope(org_world):
    v = vs.voucher_issue(
        organisation=org_world.org,
        customer=CustomerFactory(owner=org_world.rep1),
        kind="gift_voucher",
        value=300,
    )
    body = Api(org_world.rep1).get(f"/{v.pk}").json()
    assert [e["action"] for e in body["entries"]] == ["issue"]
    assert Api(org_world.rep3).get(f"/{v.pk}").status_code == 404
    assert Api(org_world.other_owner).get(f"/{v.pk}").status_code == 404


def test_redeem_then_409_with_the_reason(org_world):
    v = voucher(org_world.rep1)
    first = Api(org_world.dcrc).post(
        "/redeem", {"code": vs.code_display(v.code), "store_id": org_world.s2.pk}
    )
    assert first.status_code == 200
    assert (first.json()["status"], first.json()["redeemed_store_id"]) == ("redeemed", org_world.s2.pk)
    second = Api(org_world.aftersales).post("/redeem", {"code": v.code})
    assert second.status_code == 409
    body = second.json()
    assert body["detail"].startswith("Already redeemed at 番禺店 on ")
    assert body["detail"].endswith(" by dcrc.")
    assert body["errors"] == {"status": ["already redeemed"]}
    assert list(VoucherEntry.objects.filter(voucher=v).values_list("action", flat=True).order_by("id")) == [
        "redeem",
        "refused",
    ]


def test_redeem_refusals(org_world):
    v = voucher(org_world.rep1)
    rep = Api(org_world.rep1).post("/redeem", {"code": v.code})
    assert rep.status_code == 403
    assert (
        Api(org_world.rep1)
        .post("/redeem", {"code": v.code, "store_id": org_world.other_store.pk})
        .status_code
        == 403
    )
    wrong = v.code[:-1] + ("A" if v.code[-1] != "A" else "B")
    mistyped = Api(org_world.dcrc).post("/redeem", {"code": wrong})
    assert mistyped.status_code == 422 and "code" in mistyped.json()["errors"]
    assert Api(org_world.dcrc).post("/redeem", {"code": vs.code_new()}).status_code == 404
    theirs = voucher(org_world.other_owner)
    assert Api(org_world.owner).post("/redeem", {"code": theirs.code}).status_code == 404
    bad_store = Api(org_world.dcrc).post("/redeem", {"code": v.code, "store_id": org_world.other_store.pk})
    assert bad_store.status_code == 422
    assert Api(org_world.dcrc).post("/redeem", {"code": v.code, "extra": 1}).status_code == 422
    v.refresh_from_db()
    theirs.refresh_from_db()
    assert (v.status, theirs.status) == ("issued", "issued")
    assert VoucherEntry.objects.count() == 0


def test_expired_and_void_are_409(org_world):
    expired = voucher(org_world.rep1, expires_on=timezone.localdate() - dt.timedelta(days=1))
    void = voucher(org_world.rep1, status="void", void_reason="重复发放", closed_at=timezone.now())
    r1 = Api(org_world.dcrc).post("/redeem", {"code": expired.code})
    r2 = Api(org_world.dcrc).post("/redeem", {"code": void.code})
    assert (r1.status_code, r1.json()["errors"]) == (409, {"status": ["expired"]})
    assert (r2.status_code, r2.json()["errors"]) == (409, {"status": ["void"]})
    assert "重复发放" in r2.json()["detail"]


def test_void(org_world):
    v = voucher(org_world.rep1)
    assert Api(org_world.rep1).post(f"/{v.pk}/void", {"reason": "x"}).status_code == 403
    assert Api(org_world.manager2).post(f"/{v.pk}/void", {"reason": "x"}).status_code == 404
    assert Api(org_world.manager1).post(f"/{v.pk}/void", {"reason": ""}).status_code == 422
    v.refresh_from_db()
    assert v.status == "issued"
    ok = Api(org_world.manager1).post(f"/{v.pk}/void", {"reason": "退车"})
    assert ok.status_code == 200
    assert (ok.json()["status"], ok.json()["void_reason"]) == ("void", "退车")
    again = Api(org_world.owner).post(f"/{v.pk}/void", {"reason": "again"})
    assert again.status_code == 422


def test_endpoints_are_in_the_openapi_schema(org_world):
    schema = Client().get("/api/v1/openapi.json").json()
    for path in ("", "/{voucher_id}", "/redeem", "/{voucher_id}/void", "/statistics"):
        assert f"/api/v1/referrals/vouchers{path}" in schema["paths"], path
