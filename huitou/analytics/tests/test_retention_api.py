"""GET /api/v1/analytics/retention."""

from __future__ import annotations

import pytest

from huitou.accounts.services import api_token_create
from huitou.api.tests.conftest import ApiClient

PERIOD = {"start": "2025-07", "end": "2026-06"}


def api(user):
    return ApiClient(api_token_create(user=user))


def test_owner_figures(ret_world):
    resp = api(ret_world.w.owner).get("/analytics/retention", **PERIOD, acquisition_cost=600)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["start"], body["end"]) == ("2025-07-01", "2026-06-30")
    assert body["observed"] == {
        "months": 12,
        "active_at_start": 5,
        "retained": 3,
        "active_in_period": 6,
        "new_customers": 2,
        "revenue": 350000.0,
        "margin": 24000.0,
        "new_revenue": 340000.0,
        "new_margin": 20000.0,
    }
    assert body["inputs"] == {
        "acquisition_cost": 600.0,
        "retention_cost": 100.0,
        "discount_rate": 0.1,
        "target_churn": None,
    }
    assert body["yearly_churn"] == pytest.approx(0.4)
    assert body["lifetime"]["years"] == pytest.approx(2.5)
    assert body["lifetime"]["discounted"] == pytest.approx(8800.0)
    assert body["plus_five"]["profit_change"] == pytest.approx(0.975 / 7)
    assert body["halving"]["target"]["years"] == pytest.approx(5.0)
    assert body["lost"]["total"] == pytest.approx(9400.0)
    assert body["cost_ratio"]["ratio"] == pytest.approx(6.0)
    assert body["seeds"]["profit_change"] == 0.25 and body["seeds"]["lost_customer"] == 120.0


def test_manager_is_scoped_and_store_filter(ret_world):
    assert (
        api(ret_world.w.manager2).get("/analytics/retention", **PERIOD).json()["observed"]["active_at_start"]
        == 2
    )
    body = api(ret_world.w.owner).get("/analytics/retention", **PERIOD, store_id=ret_world.w.s1.pk).json()
    assert body["observed"]["active_at_start"] == 3


def test_rep_is_refused(ret_world):
    assert api(ret_world.w.rep1).get("/analytics/retention", **PERIOD).status_code == 403


def test_wrong_period(ret_world):
    resp = api(ret_world.w.owner).get("/analytics/retention", start="2026-06", end="2025-07")
    assert resp.status_code == 422


def test_no_customers(org_world):
    body = api(org_world.owner).get("/analytics/retention", **PERIOD).json()
    assert body["yearly_retention"] is None and body["plus_five"] is None
    assert body["cost_ratio"]["ratio"] == pytest.approx(6.0)
