"""JSON endpoints for working the plan (mounted at ``/api/v1/plan``): tasks, outcomes, gifts, routes.

Thin, like the pages: selectors decide what the caller may see (a task of someone else's customer
is a 404, never a 403), services do every write and raise the errors the API maps to 403/404/409/422.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE

from . import selectors, services
from .models import Channel, Gift, Purpose, Task

router = Router(tags=["plan"])


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


class _In(Schema):
    model_config = ConfigDict(use_enum_values=True, extra="forbid")


# ---------------------------------------------------------------- schemas


class TaskListQuery(Schema):
    status: Task.Status | None = None
    kind: Channel | None = None
    due_from: dt.date | None = None
    due_to: dt.date | None = None
    assignee: int | None = Field(None, description="Id of the person the task is assigned to")
    customer: int | None = Field(None, description="Id of the customer")
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class TaskOut(Schema):
    id: int
    customer_id: int
    customer_name: str
    rule_id: int | None
    occurrence: str
    kind: str
    purpose: str
    priority: int
    title: str
    script: str
    due_on: dt.date
    due_at: dt.datetime | None
    assignee_id: int | None
    assignee_name: str
    status: str
    outcome: str
    note: str
    gift_id: int | None
    completed_at: dt.datetime | None
    completed_by_id: int | None
    parent_id: int | None
    created_at: dt.datetime
    version: int

    @staticmethod
    def resolve_customer_name(obj: Task) -> str:
        return obj.customer.name

    @staticmethod
    def resolve_assignee_name(obj: Task) -> str:
        return obj.assignee.label if obj.assignee else ""


class TaskListOut(Schema):
    items: list[TaskOut]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool = Field(description="True when there are more than ``total`` matches")


class TaskCreateIn(_In):
    customer_id: int
    kind: Channel = Field(description="call, visit or wechat")
    title: str = Field(..., min_length=1, max_length=200)
    due_on: dt.date
    due_at: dt.datetime | None = None
    script: str = ""
    assignee_id: int | None = Field(
        None, description="Someone in your scope (owner and managers); default you"
    )
    purpose: Purpose = Purpose.SERVICE
    priority: int = Field(50, ge=0, le=100)


class OutcomeIn(_In):
    outcome: Task.Outcome
    note: str = Field("", max_length=2000)
    gift_id: int | None = None
    callback_at: dt.datetime | None = Field(None, description="Required for outcome call_back")
    next_kind: Channel | None = Field(None, description="With next_due_on: plan the next step")
    next_due_on: dt.date | None = None
    next_title: str = Field("", max_length=200)
    version: int | None = Field(None, ge=1, description="The version read; a newer one on the server → 409")


class OutcomeOut(Schema):
    task: TaskOut
    follow_ups: list[TaskOut] = Field(description="Tasks created by a call-back time or a next step")


class RescheduleIn(_In):
    due_on: dt.date
    due_at: dt.datetime | None = None
    version: int | None = Field(None, ge=1)


class GiftOut(Schema):
    id: int
    name: str
    value: Decimal
    active: bool
    note: str


class GiftIn(_In):
    name: str = Field(..., min_length=1, max_length=120)
    value: Decimal = Field(Decimal("0"), max_digits=10, decimal_places=2, ge=0)
    note: str = Field("", max_length=255)


class GiftListQuery(Schema):
    active: bool | None = Field(None, description="Only gifts still offered (true) or withdrawn (false)")


class RouteQuery(Schema):
    day: dt.date
    user: int | None = Field(None, description="Whose visits (owner and managers); default you")
    start_lat: float | None = Field(None, ge=-90, le=90)
    start_lng: float | None = Field(None, ge=-180, le=180)


class RouteStopOut(Schema):
    seq: int
    task_id: int
    title: str
    customer_id: int
    customer_name: str
    address: str
    latitude: float | None
    longitude: float | None
    leg_km: float


class RouteOut(Schema):
    day: dt.date
    user_id: int
    total_km: float
    stops: list[RouteStopOut]
    without_coordinates: list[RouteStopOut]


# ---------------------------------------------------------------- endpoints


def _task_out(viewer: Any, task_id: int) -> Task:
    return selectors.task_get(viewer, task_id)


@router.get("/tasks", response=_responses(TaskListOut), summary="List tasks")
def task_list(request: AuthedRequest, filters: Query[TaskListQuery]) -> Any:
    page = selectors.task_list(
        request.user,
        selectors.TaskFilters(
            status=filters.status or "",
            kind=filters.kind or "",
            due_from=filters.due_from,
            due_to=filters.due_to,
            assignee_id=filters.assignee,
            customer_id=filters.customer,
        ),
        page=filters.page,
        size=filters.size,
    )
    return page_out(page)


@router.post("/tasks", response=_responses(TaskOut, 201), summary="Plan a task by hand")
def task_create(request: AuthedRequest, payload: TaskCreateIn) -> Any:
    task = services.task_create(actor=request.user, **payload.model_dump())
    return Status(201, _task_out(request.user, task.pk))


@router.get("/tasks/{int:task_id}", response=_responses(TaskOut), summary="One task")
def task_detail(request: AuthedRequest, task_id: int) -> Any:
    return selectors.task_get(request.user, task_id)


@router.post("/tasks/{int:task_id}/outcome", response=_responses(OutcomeOut), summary="Record an outcome")
def task_outcome(request: AuthedRequest, task_id: int, payload: OutcomeIn) -> Any:
    task = services.task_complete(actor=request.user, task_id=task_id, **payload.model_dump())
    return {
        "task": _task_out(request.user, task.pk),
        "follow_ups": selectors.task_follow_ups(request.user, task.pk),
    }


@router.post("/tasks/{int:task_id}/reschedule", response=_responses(TaskOut), summary="Move a task")
def task_reschedule(request: AuthedRequest, task_id: int, payload: RescheduleIn) -> Any:
    task = services.task_reschedule(actor=request.user, task_id=task_id, **payload.model_dump())
    return _task_out(request.user, task.pk)


@router.get("/gifts", response=_responses(list[GiftOut]), summary="Gift catalogue")
def gift_list(request: AuthedRequest, filters: Query[GiftListQuery]) -> Any:
    gifts = selectors.gifts_list(request.user)
    if filters.active is not None:
        gifts = [g for g in gifts if g.active == filters.active]
    return gifts


@router.post("/gifts", response=_responses(GiftOut, 201), summary="Add a gift (owner and managers)")
def gift_create(request: AuthedRequest, payload: GiftIn) -> Any:
    gift: Gift = services.gift_create(actor=request.user, **payload.model_dump())
    return Status(201, gift)


@router.get("/route", response=_responses(RouteOut), summary="A day's visits in a short driving order")
def visit_route(request: AuthedRequest, filters: Query[RouteQuery]) -> Any:
    start = (
        (filters.start_lat, filters.start_lng)
        if filters.start_lat is not None and filters.start_lng is not None
        else None
    )
    route = selectors.visit_route(request.user, day=filters.day, user_id=filters.user, start=start)

    def stop(s: selectors.RouteStop) -> dict[str, Any]:
        return {
            "seq": s.seq,
            "task_id": s.task_id,
            "title": s.title,
            "customer_id": s.customer_id,
            "customer_name": s.customer_name,
            "address": s.address,
            "latitude": s.latitude,
            "longitude": s.longitude,
            "leg_km": round(s.leg_m / 1000, 3),
        }

    return {
        "day": route.day,
        "user_id": route.user.pk,
        "total_km": round(route.total_m / 1000, 3),
        "stops": [stop(s) for s in route.stops],
        "without_coordinates": [stop(s) for s in route.unplaced],
    }
