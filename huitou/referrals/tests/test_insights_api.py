"""The insights API (/api/v1/referrals/insights): same figures and scope as the pages."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from huitou.accounts.services import api_token_create
from huitou.referrals.models import ReferrerProfile, Stage
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/referrals/insights"
SH = ZoneInfo("Asia/Shanghai")


class Api:
    def __init__(self, user):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user)}", "Accept-Language": "en"}

    def get(self, path: str, **params: Any):
        return self.client.get(BASE + path, params, headers=self.headers)

    def put(self, path: str, body: Any = None):
        return self.client.put(
            BASE + path, json.dumps(body or {}), content_type="application/json", headers=self.headers
        )


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=SH)


def sale(customer, day, amount="100000"):
    return PurchaseFactory(
        customer=customer,
        organisation=customer.organisation,
        ordered_on=day,
        rep=customer.owner,
        store=customer.store,
        amount=Decimal(amount),
    )


def ref(referrer, day, stage=Stage.VERIFIED, **kw):
    submitted = at(day)
    if stage in (Stage.VERIFIED, Stage.CONTACTED, Stage.QUOTED, Stage.WON, Stage.LOST):
        kw.setdefault("verified_at", submitted + dt.timedelta(hours=1))
    return ReferralFactory(referrer=referrer, submitted_at=submitted, stage=stage, **kw)


def world(w):
    a, b = CustomerFactory(owner=w.rep1), CustomerFactory(owner=w.rep1)
    sale(a, dt.date(2025, 3, 10))
    sale(b, dt.date(2025, 3, 20))
    ref(a, dt.date(2025, 6, 5), verified_at=at(dt.date(2025, 6, 6)))
    ref(a, dt.date(2025, 3, 12), Stage.WON, closed_at=at(dt.date(2025, 6, 15)))
    c = CustomerFactory(owner=w.rep3)
    sale(c, dt.date(2025, 3, 15))
    ref(c, dt.date(2025, 3, 20), Stage.SUBMITTED)
    return a, b, c


def test_scorecard(org_world):
    world(org_world)
    r = Api(org_world.owner).get("/scorecard", month="2025-06")
    assert r.status_code == 200
    body = r.json()
    assert (body["month"], body["delivered_from"], body["delivered_to"]) == (
        "2025-06",
        "2025-03-03",
        "2025-04-01",
    )
    assert body["rules"]["quota"] == 1 and Decimal(body["rules"]["rep_reward_won"]) == Decimal("200")
    rows = {row["username"]: row for row in body["rows"]}
    r1 = rows["rep1"]
    assert (r1["sold"], r1["met"], r1["missed"], r1["verified"], r1["won"], r1["faked"]) == (2, 1, 1, 1, 1, 0)
    assert [Decimal(r1[k]) for k in ("reward", "penalty", "net")] == [
        Decimal("250"),
        Decimal("50"),
        Decimal("200"),
    ]
    assert Decimal(body["totals"]["net"]) == Decimal("150")


def test_scorecard_scope_and_roles(org_world):
    world(org_world)
    rep = Api(org_world.rep1).get("/scorecard", month="2025-06").json()
    assert [row["username"] for row in rep["rows"]] == ["rep1"]
    m2 = Api(org_world.manager2).get("/scorecard", month="2025-06").json()
    assert [row["username"] for row in m2["rows"]] == ["rep3"]
    assert Api(org_world.dcrc).get("/scorecard", month="2025-06").status_code == 403
    assert Api(org_world.owner).get("/scorecard", month="2025-13").status_code == 422


def test_viral_curve_funnel(org_world):
    world(org_world)
    api = Api(org_world.owner)
    viral = api.get("/viral", start="2025-03", end="2025-06").json()
    assert [(v["store"], v["month"], v["sold"], v["won"], v["coefficient"]) for v in viral] == [
        ("天河店", "2025-03", 2, 0, 0.0),
        ("番禺店", "2025-03", 1, 0, 0.0),
        ("天河店", "2025-06", 0, 1, None),
    ]
    curve = api.get("/curve", start="2025-03", end="2025-03").json()
    assert len(curve) == 13 and curve[0] == {"month": 0, "eligible": 3, "referred": 1, "share": 1 / 3}
    assert curve[2]["referred"] == 1  # a's referral of 06-05: month 2 after 03-10
    funnel = api.get("/funnel", start="2025-03", end="2025-06").json()
    assert funnel["total"] == {
        "id": None,
        "name": "",
        "submitted": 3,
        "verified": 2,
        "contacted": 1,
        "quoted": 1,
        "won": 1,
        "overall": 1 / 3,
    }
    assert {r["name"]: r["submitted"] for r in funnel["by_rep"]} == {"rep1": 2, "rep3": 1}
    rep3 = Api(org_world.rep3).get("/funnel", start="2025-03", end="2025-06").json()
    assert rep3["total"]["submitted"] == 1


def test_base_customers_and_chains(org_world):
    a, _b, _c = world(org_world)
    child = CustomerFactory(owner=org_world.rep1, referred_by=a, name="小明")
    sale(child, dt.date(2025, 7, 1), amount="88000")
    grandchild = CustomerFactory(owner=org_world.rep3, referred_by=child, name="小红")
    sale(grandchild, dt.date(2025, 8, 1), amount="12000")
    api = Api(org_world.owner)
    page = api.get("/base-customers").json()
    assert [(i["customer_id"], i["won"], i["verified"], i["submitted"]) for i in page["items"]] == [
        (a.pk, 1, 2, 2)
    ]
    assert Decimal(page["items"][0]["revenue_brought"]) == Decimal("88000")
    assert (page["page"], page["total"], page["has_next"]) == (1, 1, False)
    chain = api.get(f"/chains/{a.pk}").json()
    assert Decimal(chain["brought_revenue"]) == Decimal("100000")
    kid = chain["tree"]["children"][0]
    assert (kid["name"], kid["generation"], Decimal(kid["subtree_revenue"])) == ("小明", 1, Decimal("100000"))
    assert kid["children"][0]["name"] == "小红"
    mine = Api(org_world.rep1).get(f"/chains/{a.pk}").json()
    hidden = mine["tree"]["children"][0]["children"][0]
    assert (hidden["customer_id"], hidden["name"], Decimal(hidden["revenue"])) == (None, "", Decimal("12000"))
    assert Api(org_world.rep3).get(f"/chains/{a.pk}").status_code == 404
    assert Api(org_world.other_owner).get(f"/chains/{a.pk}").status_code == 404


def test_put_referrer_type(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    api = Api(org_world.rep1)
    r = api.put(f"/referrers/{c.pk}", {"referrer_type": "honour", "refuses_rewards": True, "version": 0})
    assert r.status_code == 200
    body = r.json()
    assert (body["referrer_type"], body["refuses_rewards"], body["version"]) == ("honour", True, 1)
    assert "golden customers" in body["advice"]
    assert body["suggestion"] == {"referrer_type": "honour", "reason": "Refuses rewards for referrals."}
    stale = api.put(f"/referrers/{c.pk}", {"referrer_type": "friend", "version": 0})
    assert stale.status_code == 409
    assert api.get(f"/referrers/{c.pk}").json()["referrer_type"] == "honour"
    assert api.put(f"/referrers/{c.pk}", {"referrer_type": "vip"}).status_code == 422
    assert Api(org_world.dcrc).put(f"/referrers/{c.pk}", {"referrer_type": "friend"}).status_code == 403
    assert Api(org_world.rep2).put(f"/referrers/{c.pk}", {"referrer_type": "friend"}).status_code == 404
    cleared = api.put(f"/referrers/{c.pk}", {"referrer_type": None, "version": 1}).json()
    assert (cleared["referrer_type"], cleared["refuses_rewards"], cleared["version"]) == ("", True, 2)
    assert ReferrerProfile.objects.get(customer=c).version == 2


def test_openapi_lists_the_insight_paths(org_world):
    schema = Client().get("/api/v1/openapi.json").json()
    for path in ("scorecard", "viral", "curve", "funnel", "base-customers"):
        assert f"/api/v1/referrals/insights/{path}" in schema["paths"]
    assert "/api/v1/referrals/insights/chains/{customer_id}" in schema["paths"]
    assert "put" in schema["paths"]["/api/v1/referrals/insights/referrers/{customer_id}"]
