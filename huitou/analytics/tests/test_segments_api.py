"""GET /api/v1/analytics/segments."""

from __future__ import annotations

from huitou.accounts.services import api_token_create
from huitou.analytics.services import segments_refresh
from huitou.api.tests.conftest import ApiClient

from .conftest import AS_OF


def api(user):
    return ApiClient(api_token_create(user=user))


def test_owner_summary(seg_world):
    segments_refresh(organisation=seg_world.w.org, as_of=AS_OF)
    resp = api(seg_world.w.owner).get("/analytics/segments")
    assert resp.status_code == 200
    body = resp.json()
    assert body["as_of"] == "2026-06-30"
    assert body["customers"] == 4
    assert [(t["tier"], t["customers"], t["revenue_share"]) for t in body["tiers"]] == [
        ("gold", 1, 0.5),
        ("silver", 1, 0.35),
        ("bronze", 1, 0.15),
        ("", 1, 0.0),
    ]
    assert body["rf_grid"][2][2] == 1
    assert body["types"]["relationship"]["volume"] == 1
    assert body["pareto"]["revenue"] == [0.0, 0.5, 0.85, 1.0, 1.0]
    assert body["top20_margin_share"] == 0.678


def test_manager_scoped_and_store_filter(seg_world):
    segments_refresh(organisation=seg_world.w.org, as_of=AS_OF)
    assert api(seg_world.w.manager2).get("/analytics/segments").json()["customers"] == 2
    body = api(seg_world.w.owner).get("/analytics/segments", store_id=seg_world.w.s1.pk).json()
    assert body["customers"] == 2


def test_rep_refused(seg_world):
    segments_refresh(organisation=seg_world.w.org, as_of=AS_OF)
    assert api(seg_world.w.rep1).get("/analytics/segments").status_code == 403


def test_no_snapshot_yet(seg_world):
    body = api(seg_world.w.owner).get("/analytics/segments").json()
    assert body["as_of"] is None and body["customers"] == 0
