"""The dashboard API: the caller's own figures and the unified scorecard, same scope as the pages.

The router is mounted here on a test API with the real error handlers, so these tests hold both
before and after it is registered in ``huitou/api/api.py``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from ninja import NinjaAPI
from ninja.testing import TestClient

from huitou.api.errors import register_error_handlers
from huitou.dashboards.api import router

from .helpers import task

pytestmark = pytest.mark.django_db

_api = NinjaAPI(urls_namespace="dashboards-api-test")
register_error_handlers(_api)
_api.add_router("/dashboards", router)
CLIENT = TestClient(_api)


def get(user, path: str, **params):
    return CLIENT.get("/dashboards" + path, query_params=params or None, user=user)


def test_home_figures_are_the_callers_own(org_world):
    w, today = org_world, timezone.localdate()
    task(w.rep1, today - dt.timedelta(days=1))
    task(w.rep1, today - dt.timedelta(days=2))
    task(w.rep2, today - dt.timedelta(days=1))
    body = get(w.rep1, "/home").json()
    assert body["role"] == "rep"
    assert [s["key"] for s in body["sections"]] == ["tasks", "quota", "risk", "cvp"]
    tasks = body["sections"][0]
    overdue = next(f for f in tasks["figures"] if f["key"] == "overdue")
    assert overdue["value"] == 2
    assert overdue["filters"]["assignee"] == str(w.rep1.pk)
    assert overdue["filters"]["state"] == "open_overdue"
    team = get(w.manager1, "/home/compliance").json()
    assert next(f for f in team["figures"] if f["key"] == "overdue")["value"] == 3


def test_a_rep_cannot_read_team_sections(org_world):
    response = get(org_world.rep1, "/home/compliance")
    assert response.status_code == 403
    assert get(org_world.rep1, "/home/retention").status_code == 403
    assert get(org_world.dcrc, "/home/queues").status_code == 200


def test_scorecard_rows_follow_the_scope(org_world):
    w, month = org_world, timezone.localdate().strftime("%Y-%m")
    task(w.rep1, timezone.localdate().replace(day=1), status="missed")
    body = get(w.manager1, "/scorecard", month=month).json()
    assert [r["username"] for r in body["rows"]] == ["rep1", "rep2"]
    assert body["rows"][0]["tasks_missed"] == 1
    assert body["totals"]["tasks_missed"] == 1
    assert [r["username"] for r in get(w.rep1, "/scorecard", month=month).json()["rows"]] == ["rep1"]
    assert get(w.dcrc, "/scorecard").status_code == 403
    assert get(w.owner, "/scorecard", month="2025-13").status_code == 422
