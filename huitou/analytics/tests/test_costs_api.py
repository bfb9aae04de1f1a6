"""The qualification and cost-to-serve endpoints, attached to a test API with the project's error
handlers (the lead mounts the same routers at /api/v1/analytics/qualify and /costs)."""

# ruff: noqa: F811 - the shared fixture is imported, then requested by name
from __future__ import annotations

import itertools

import pytest
from ninja import NinjaAPI
from ninja.testing import TestClient

from huitou.analytics import api_costs, api_qualify
from huitou.analytics.models_qualify import Qualification
from huitou.api.errors import register_error_handlers

from .test_costs_serve import cost_world  # noqa: F401

_n = itertools.count()


@pytest.fixture
def api_client():
    api = NinjaAPI(urls_namespace=f"test-analytics-{next(_n)}")
    register_error_handlers(api)
    api.add_router("/qualify", api_qualify.build_router())
    api.add_router("/costs", api_costs.build_router())
    return TestClient(api)


JUNE = "start=2026-06-01&end=2026-06-30"


def test_costs_list_worst_and_best(api_client, cost_world):
    cw = cost_world
    worst = api_client.get(f"/costs?{JUNE}", user=cw.w.owner)
    assert worst.status_code == 200
    body = worst.json()
    assert (body["customers"], body["losing"], body["total"]) == (3, 1, 1)
    assert body["ranked_at"] is None  # June alone: worked out, no nightly table covers it
    (a,) = body["items"]
    assert (a["customer_id"], a["margin"], a["cost"]["visits"], a["cost"]["total"], a["net"]) == (
        cw.a.pk,
        "100.00",
        "240.00",
        "317.00",
        "-217.00",
    )
    best = api_client.get(f"/costs?{JUNE}&ranking=best", user=cw.w.owner).json()
    assert [i["customer_id"] for i in best["items"]] == [cw.c.pk, cw.b.pk]


def test_costs_customer_and_scope(api_client, cost_world):
    cw = cost_world
    ok = api_client.get(f"/costs/customers/{cw.b.pk}?{JUNE}", user=cw.w.rep3)
    assert ok.status_code == 200 and ok.json()["cost"]["concessions"] == "440.00"
    assert api_client.get(f"/costs/customers/{cw.b.pk}?{JUNE}", user=cw.w.rep1).status_code == 404
    assert api_client.get(f"/costs?{JUNE}", user=cw.w.dcrc).status_code == 403
    assert api_client.get("/costs?start=2026-06-30&end=2026-06-01", user=cw.w.owner).status_code == 422


def test_qualify_put_get_list_and_time(api_client, cost_world):
    cw = cost_world
    url = f"/qualify/customers/{cw.a.pk}"
    put = api_client.put(
        url, json={"need": True, "money": True, "authority": True, "version": 0}, user=cw.w.rep1
    )
    assert put.status_code == 200
    assert put.json()["qualification"]["apple"] == "red"
    stale = api_client.put(
        url, json={"need": False, "money": False, "authority": False, "version": 0}, user=cw.w.rep1
    )
    assert stale.status_code == 409
    assert api_client.get(url, user=cw.w.rep1).json()["qualification"]["version"] == 1
    listing = api_client.get("/qualify?apple=red", user=cw.w.owner).json()
    assert [i["customer_id"] for i in listing["items"]] == [cw.a.pk]
    assert listing["counts"] == {"red": 1, "green": 0, "rotten": 0}
    time = api_client.get(f"/qualify/time?{JUNE}", user=cw.w.owner).json()
    # rep1's touches in June on A: two visits (90 each) and a call (10), all on a red apple.
    (row,) = time["rows"]
    assert row["minutes"] == {"red": 190.0, "green": 0.0, "rotten": 0.0}
    assert row["off_target"] == {"red": False, "green": True, "rotten": False}
    assert time["targets"] == {"red": 60, "green": 30, "rotten": 10}


def test_qualify_refusals_change_nothing(api_client, cost_world):
    cw = cost_world
    url = f"/qualify/customers/{cw.a.pk}"
    body = {"need": True, "money": True, "authority": True}
    assert api_client.put(url, json=body, user=cw.w.rep3).status_code == 404
    assert api_client.put(url, json=body, user=cw.w.dcrc).status_code == 403
    assert api_client.get(url, user=cw.w.rep3).status_code == 404
    assert api_client.get("/qualify/time", user=cw.w.dcrc).status_code == 403
    assert not Qualification.objects.exists()
