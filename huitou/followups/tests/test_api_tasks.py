"""The plan API at /api/v1/plan: tasks, outcomes, reschedule, gifts, routes — with the same scope
rules as the pages (someone else's task is a 404, a refused action a 403, nothing changed)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huitou.accounts.services import api_token_create
from huitou.customers.models import Activity
from huitou.followups.models import Channel, Gift, Task
from tests.factories import CustomerFactory, GiftFactory, TaskFactory

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, user: Any):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user)}", "Accept-Language": "en"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get("/api/v1/plan" + path, params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            "/api/v1/plan" + path,
            json.dumps(body or {}),
            content_type="application/json",
            headers=self.headers,
        )


@pytest.fixture
def w(org_world):
    w = org_world
    w.today = timezone.localdate()
    w.zhang = CustomerFactory(
        owner=w.rep1, name="张伟", latitude=Decimal("23.1"), longitude=Decimal("113.02")
    )
    w.li = CustomerFactory(owner=w.rep1, name="李娜", latitude=Decimal("23.1"), longitude=Decimal("113.00"))
    w.call = TaskFactory(customer=w.zhang, kind=Channel.CALL, title="回访", due_on=w.today)
    w.visit1 = TaskFactory(customer=w.zhang, kind=Channel.VISIT, title="拜访张", due_on=w.today)
    w.visit2 = TaskFactory(customer=w.li, kind=Channel.VISIT, title="拜访李", due_on=w.today)
    w.later = TaskFactory(
        customer=w.li, kind=Channel.CALL, title="以后", due_on=w.today + dt.timedelta(days=10)
    )
    w.rep2_task = TaskFactory(customer=CustomerFactory(owner=w.rep2), title="别人的", due_on=w.today)
    w.rep3_task = TaskFactory(customer=CustomerFactory(owner=w.rep3), title="番禺的", due_on=w.today)
    w.gift = GiftFactory(organisation=w.org, name="车载香薰", value=Decimal("88.00"))
    return w


def state():
    return {
        "tasks": list(Task.objects.order_by("pk").values()),
        "activities": Activity.objects.count(),
        "gifts": list(Gift.objects.order_by("pk").values()),
    }


# ---------------------------------------------------------------- list and detail


def test_a_rep_lists_only_their_tasks(w):
    body = Api(w.rep1).get("/tasks").json()
    assert [t["id"] for t in body["items"]] == [w.call.pk, w.visit1.pk, w.visit2.pk, w.later.pk]
    assert (body["page"], body["size"], body["has_next"], body["total"], body["total_capped"]) == (
        1,
        50,
        False,
        4,
        False,
    )
    first = body["items"][0]
    assert {
        k: first[k]
        for k in ("customer_id", "customer_name", "kind", "title", "status", "assignee_id", "version")
    } == {
        "customer_id": w.zhang.pk,
        "customer_name": "张伟",
        "kind": "call",
        "title": "回访",
        "status": "open",
        "assignee_id": w.rep1.pk,
        "version": 1,
    }
    assert first["due_on"] == w.today.isoformat()


def test_list_filters(w):
    api = Api(w.rep1)
    assert [t["id"] for t in api.get("/tasks", kind="visit").json()["items"]] == [w.visit1.pk, w.visit2.pk]
    later = (w.today + dt.timedelta(days=1)).isoformat()
    assert [t["id"] for t in api.get("/tasks", due_from=later).json()["items"]] == [w.later.pk]
    assert [t["id"] for t in api.get("/tasks", due_to=w.today.isoformat(), kind="call").json()["items"]] == [
        w.call.pk
    ]
    assert api.get("/tasks", status="done").json()["items"] == []
    assert api.get("/tasks", assignee=w.rep2.pk).json()["items"] == []


def test_list_pages(w):
    body = Api(w.rep1).get("/tasks", size=3, page=2).json()
    assert ([t["id"] for t in body["items"]], body["has_next"], body["total"]) == ([w.later.pk], False, 4)


def test_a_manager_lists_the_tasks_of_their_store(w):
    ids = {t["id"] for t in Api(w.manager1).get("/tasks").json()["items"]}
    assert ids == {w.call.pk, w.visit1.pk, w.visit2.pk, w.later.pk, w.rep2_task.pk}


def test_another_organisation_lists_nothing(w):
    assert Api(w.other_owner).get("/tasks").json()["items"] == []


def test_bad_filters_are_422(w):
    response = Api(w.rep1).get("/tasks", kind="fax")
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["kind"]


def test_task_detail(w):
    body = Api(w.rep1).get(f"/tasks/{w.call.pk}").json()
    assert (body["id"], body["title"], body["customer_name"], body["outcome"], body["parent_id"]) == (
        w.call.pk,
        "回访",
        "张伟",
        "",
        None,
    )


@pytest.mark.parametrize("who", ["rep2", "manager2", "other_owner"])
def test_another_reps_task_is_404(w, who):
    response = Api(getattr(w, who)).get(f"/tasks/{w.call.pk}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "errors": {}}


def test_no_token_is_401(w):
    assert Client().get("/api/v1/plan/tasks").status_code == 401


# ---------------------------------------------------------------- create


def test_create_a_task(w):
    due = (w.today + dt.timedelta(days=3)).isoformat()
    response = Api(w.rep1).post(
        "/tasks", {"customer_id": w.li.pk, "kind": "visit", "title": "送照片", "due_on": due}
    )
    assert response.status_code == 201
    body = response.json()
    task = Task.objects.get(pk=body["id"])
    assert (task.customer_id, task.kind, task.title, task.due_on.isoformat(), task.assignee_id) == (
        w.li.pk,
        "visit",
        "送照片",
        due,
        w.rep1.pk,
    )
    assert body["assignee_name"] == "rep1"


def test_create_for_another_reps_customer_is_404(w):
    before = state()
    response = Api(w.rep2).post(
        "/tasks", {"customer_id": w.li.pk, "kind": "call", "title": "x", "due_on": str(w.today)}
    )
    assert response.status_code == 404
    assert state() == before


def test_create_with_a_past_date_is_422(w):
    before = state()
    yesterday = (w.today - dt.timedelta(days=1)).isoformat()
    response = Api(w.rep1).post(
        "/tasks", {"customer_id": w.li.pk, "kind": "call", "title": "x", "due_on": yesterday}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {"due_on": ["the due date cannot be in the past"]}
    assert state() == before


def test_create_rejects_unknown_fields(w):
    response = Api(w.rep1).post(
        "/tasks",
        {"customer_id": w.li.pk, "kind": "call", "title": "x", "due_on": str(w.today), "status": "done"},
    )
    assert response.status_code == 422


# ---------------------------------------------------------------- outcome


def test_record_an_outcome_with_a_next_step(w):
    due = (w.today + dt.timedelta(days=5)).isoformat()
    response = Api(w.rep1).post(
        f"/tasks/{w.call.pk}/outcome",
        {"outcome": "reached", "note": "满意", "next_kind": "visit", "next_due_on": due, "version": 1},
    )
    assert response.status_code == 200
    body = response.json()
    assert (
        body["task"]["status"],
        body["task"]["outcome"],
        body["task"]["note"],
        body["task"]["version"],
    ) == (
        "done",
        "reached",
        "满意",
        2,
    )
    assert [(f["kind"], f["due_on"], f["parent_id"], f["status"]) for f in body["follow_ups"]] == [
        ("visit", due, w.call.pk, "open")
    ]
    assert Activity.objects.filter(customer=w.zhang, kind="call").count() == 1


def test_call_back_through_the_api(w):
    at = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=16, minute=0, second=0, microsecond=0)
    body = (
        Api(w.rep1)
        .post(f"/tasks/{w.call.pk}/outcome", {"outcome": "call_back", "callback_at": at.isoformat()})
        .json()
    )
    follow = body["follow_ups"][0]
    assert (follow["kind"], follow["due_on"], dt.datetime.fromisoformat(follow["due_at"])) == (
        "call",
        at.date().isoformat(),
        at,
    )


def test_a_gift_through_the_api(w):
    body = (
        Api(w.rep1)
        .post(f"/tasks/{w.call.pk}/outcome", {"outcome": "gift_given", "gift_id": w.gift.pk})
        .json()
    )
    assert body["task"]["gift_id"] == w.gift.pk
    assert list(Activity.objects.values_list("kind", "gift_name")) == [("gift", "车载香薰")]


def test_outcome_twice_is_409(w):
    api = Api(w.rep1)
    api.post(f"/tasks/{w.call.pk}/outcome", {"outcome": "reached"})
    before = state()
    response = api.post(f"/tasks/{w.call.pk}/outcome", {"outcome": "no_answer"})
    assert response.status_code == 409
    assert state() == before


def test_outcome_with_a_stale_version_is_409(w):
    before = state()
    response = Api(w.rep1).post(f"/tasks/{w.call.pk}/outcome", {"outcome": "reached", "version": 7})
    assert response.status_code == 409
    assert state() == before


def test_outcome_missing_call_back_time_is_422(w):
    before = state()
    response = Api(w.rep1).post(f"/tasks/{w.call.pk}/outcome", {"outcome": "call_back"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"callback_at": ["say when to call back"]}
    assert state() == before


@pytest.mark.parametrize(
    ("who", "status"), [("rep2", 404), ("manager2", 404), ("other_owner", 404), ("dcrc", 403)]
)
def test_outcome_on_someone_elses_task_is_refused(w, who, status):
    before = state()
    response = Api(getattr(w, who)).post(f"/tasks/{w.call.pk}/outcome", {"outcome": "reached"})
    assert response.status_code == status
    assert state() == before


def test_a_guessed_task_id_is_404(w):
    response = Api(w.rep1).post(f"/tasks/{w.rep3_task.pk + 1000}/outcome", {"outcome": "reached"})
    assert response.status_code == 404


# ---------------------------------------------------------------- reschedule


def test_reschedule(w):
    due = (w.today + dt.timedelta(days=2)).isoformat()
    body = Api(w.rep1).post(f"/tasks/{w.call.pk}/reschedule", {"due_on": due, "version": 1}).json()
    assert (body["due_on"], body["version"]) == (due, 2)
    assert Task.objects.get(pk=w.call.pk).due_on.isoformat() == due


def test_reschedule_another_reps_task_is_404(w):
    before = state()
    response = Api(w.rep1).post(f"/tasks/{w.rep2_task.pk}/reschedule", {"due_on": str(w.today)})
    assert response.status_code == 404
    assert state() == before


# ---------------------------------------------------------------- gifts


def test_gift_list_is_the_organisations(w):
    GiftFactory(organisation=w.org, name="旧礼品", active=False)
    GiftFactory(organisation=w.other_org, name="别家礼品")
    api = Api(w.rep1)
    assert [(g["name"], g["value"], g["active"]) for g in api.get("/gifts").json()] == [
        ("车载香薰", "88.00", True),
        ("旧礼品", "50.00", False),
    ]
    assert [g["name"] for g in api.get("/gifts", active="true").json()] == ["车载香薰"]


def test_a_manager_adds_a_gift(w):
    response = Api(w.manager1).post("/gifts", {"name": "保温杯", "value": "45.5", "note": "交车礼"})
    assert response.status_code == 201
    gift = Gift.objects.get(pk=response.json()["id"])
    assert (gift.organisation_id, gift.name, gift.value, gift.note) == (
        w.org.pk,
        "保温杯",
        Decimal("45.50"),
        "交车礼",
    )


def test_a_rep_cannot_add_a_gift(w):
    before = state()
    assert Api(w.rep1).post("/gifts", {"name": "保温杯"}).status_code == 403
    assert state() == before


def test_a_duplicate_gift_is_422(w):
    before = state()
    response = Api(w.owner).post("/gifts", {"name": "车载香薰"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"name": ["a gift of this name exists already"]}
    assert state() == before


# ---------------------------------------------------------------- route


def test_route(w):
    body = Api(w.rep1).get("/route", day=w.today.isoformat(), start_lat=23.1, start_lng=112.99).json()
    assert [s["task_id"] for s in body["stops"]] == [w.visit2.pk, w.visit1.pk]
    assert [s["seq"] for s in body["stops"]] == [1, 2]
    assert body["without_coordinates"] == []
    assert body["user_id"] == w.rep1.pk
    assert body["total_km"] == pytest.approx(3.07, abs=0.01)
    assert body["stops"][1]["leg_km"] == pytest.approx(2.047, abs=0.002)


def test_route_of_another_rep_is_404_for_a_rep(w):
    assert Api(w.rep1).get("/route", day=w.today.isoformat(), user=w.rep2.pk).status_code == 404


def test_route_needs_a_day(w):
    assert Api(w.rep1).get("/route").status_code == 422
