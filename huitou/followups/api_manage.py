"""JSON endpoints for managing the contact plan (mounted at /api/v1/plan-admin).

Same rules as the pages: owner edits rules, managers read them; compliance and reply reports are
scoped to the people the caller reviews; absences and notices are for the owner and managers.
Something outside the caller's scope answers 404, a role that may never do the action 403.
"""

import datetime as dt
from typing import Any

from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from huitou.api.schemas import ERROR_RESPONSES
from huitou.core.errors import PermissionDenied
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE, paginate

from . import compliance, plan_admin, requests, rules
from .models import Absence, Assignee, Channel, CustomerRequest, ProductNotice, Purpose, Trigger

router = Router(tags=["plan-admin"])


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


class _In(Schema):
    model_config = ConfigDict(use_enum_values=True, extra="forbid")


# ---------------------------------------------------------------------------------------------
# Rules


class RuleOut(Schema):
    id: int
    code: str
    name: str
    description: str
    active: bool
    trigger: str
    offset_days: int
    params: dict[str, Any]
    channel: str
    purpose: str
    priority: int
    assignee: str
    template: str
    sms_template_code: str
    script: str
    tiers: list[str]
    customer_types: list[str]
    customer_kinds: list[str]
    store_ids: list[int]
    product_ids: list[int]
    product_categories: list[str]
    tags: list[str]
    version: int
    updated_at: dt.datetime


class _RuleFields(_In):
    name: str = Field("", max_length=120)
    description: str = ""
    active: bool = True
    trigger: Trigger = Trigger.DELIVERED
    offset_days: int = Field(0, description="Days after the trigger date; negative means before")
    params: dict[str, Any] = Field(
        default_factory=dict, description="What the trigger reads (festival, interval_days, dates, …)"
    )
    channel: Channel = Channel.CALL
    purpose: Purpose = Purpose.SERVICE
    priority: int = 50
    assignee: Assignee = Assignee.OWNER
    template: str = Field("", description="Text with {name}, {product}, {date}, {store}, {rep}, …")
    sms_template_code: str = Field("", max_length=64)
    script: str = ""
    tiers: list[str] = Field(default_factory=list, description="Empty: every customer")
    customer_types: list[str] = Field(default_factory=list)
    customer_kinds: list[str] = Field(default_factory=list)
    store_ids: list[int] = Field(default_factory=list)
    product_ids: list[int] = Field(default_factory=list)
    product_categories: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class RuleCreateIn(_RuleFields):
    code: str = Field(..., min_length=1, max_length=48)
    name: str = Field(..., min_length=1, max_length=120)
    trigger: Trigger
    channel: Channel
    purpose: Purpose


class RulePatchIn(_RuleFields):
    """Only the fields sent change. ``version`` is the one read; a newer one on the server → 409."""

    version: int = Field(..., ge=1)


class RuleListQuery(Schema):
    trigger: Trigger | None = None
    active: bool | None = None


@router.get("/rules", response=_responses(list[RuleOut]), summary="Contact-plan rules")
def rule_list(request: AuthedRequest, filters: Query[RuleListQuery]) -> Any:
    return rules.rule_list(request.user, trigger=filters.trigger or "", active=filters.active)


@router.get("/rules/{int:rule_id}", response=_responses(RuleOut), summary="One rule")
def rule_detail(request: AuthedRequest, rule_id: int) -> Any:
    return rules.rule_get(request.user, rule_id)


@router.post("/rules", response=_responses(RuleOut, 201), summary="Create a rule (owner)")
def rule_create(request: AuthedRequest, payload: RuleCreateIn) -> Any:
    rule = rules.rule_create(actor=request.user, data=payload.model_dump())
    return Status(201, rule)


@router.patch("/rules/{int:rule_id}", response=_responses(RuleOut), summary="Change a rule (owner)")
def rule_update(request: AuthedRequest, rule_id: int, payload: RulePatchIn) -> Any:
    rules.rule_get(request.user, rule_id)  # 404 outside the organisation before anything else
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    return rules.rule_update(actor=request.user, rule_id=rule_id, data=data, version=version)


# ---------------------------------------------------------------------------------------------
# Compliance


class PeriodQuery(Schema):
    start: dt.date | None = Field(None, description="Default: the first day of the current month")
    end: dt.date | None = Field(None, description="Default: today")

    def period(self) -> tuple[dt.date, dt.date]:
        today = timezone.localdate()
        return self.start or today.replace(day=1), self.end or today


class ComplianceQuery(PeriodQuery):
    start: dt.date | None = Field(None, description="Default: the first day of the current month")
    end: dt.date | None = Field(None, description="Default: the last day of the current month")
    store_id: int | None = None
    team_id: int | None = None

    def period(self) -> tuple[dt.date, dt.date]:
        first, last = compliance.this_month()
        return self.start or first, self.end or last


class ComplianceRowOut(Schema):
    user_id: int
    username: str
    name: str
    on_time: int
    late: int
    missed: int
    open_overdue: int
    open_upcoming: int
    total: int
    on_time_rate: float | None = Field(description="on_time / tasks due by today or done; null if none")


class ComplianceTasksQuery(ComplianceQuery):
    assignee_id: int | None = None
    state: str = Field("", pattern="^(|on_time|late|missed|open_overdue|open_upcoming)$")
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class TaskOut(Schema):
    id: int
    title: str
    kind: str
    status: str
    due_on: dt.date
    completed_at: dt.datetime | None
    customer_id: int
    assignee_id: int | None


class TaskPageOut(Schema):
    items: list[TaskOut]
    page: int
    size: int
    has_next: bool


@router.get("/compliance", response=_responses(list[ComplianceRowOut]), summary="Plan compliance per person")
def compliance_report(request: AuthedRequest, filters: Query[ComplianceQuery]) -> Any:
    start, end = filters.period()
    rows = compliance.plan_compliance(
        request.user, start=start, end=end, store_id=filters.store_id, team_id=filters.team_id
    )
    return [
        {
            "user_id": r.user_id,
            "username": r.username,
            "name": r.name,
            **{s: r.count(s) for s in compliance.STATES},
            "total": r.total,
            "on_time_rate": r.on_time_rate,
        }
        for r in rows
    ]


@router.get("/compliance/tasks", response=_responses(TaskPageOut), summary="The tasks behind a number")
def compliance_task_list(request: AuthedRequest, filters: Query[ComplianceTasksQuery]) -> Any:
    start, end = filters.period()
    qs = compliance.compliance_tasks(
        request.user,
        start=start,
        end=end,
        assignee_id=filters.assignee_id,
        state=filters.state,
        store_id=filters.store_id,
        team_id=filters.team_id,
    )
    page = paginate(
        qs.values("id", "title", "kind", "status", "due_on", "completed_at", "customer_id", "assignee_id"),
        page=filters.page,
        size=filters.size,
        count=False,
    )
    return {"items": page.items, "page": page.number, "size": page.size, "has_next": page.has_next}


# ---------------------------------------------------------------------------------------------
# Requests


class RequestOut(Schema):
    id: int
    customer_id: int
    customer_name: str
    channel: str
    summary: str
    status: str
    received_at: dt.datetime
    reply_due_at: dt.datetime
    first_reply_at: dt.datetime | None
    answered_at: dt.datetime | None
    owner_id: int | None
    logged_by_id: int | None
    reply_note: str
    breached: bool = Field(description="First reply after the deadline, or none and the deadline passed")

    @staticmethod
    def resolve_customer_name(obj: CustomerRequest) -> str:
        return obj.customer.name

    @staticmethod
    def resolve_breached(obj: CustomerRequest) -> bool:
        if obj.first_reply_at is not None:
            return obj.first_reply_at > obj.reply_due_at
        return obj.reply_due_at < timezone.now()


class RequestPageOut(Schema):
    items: list[RequestOut]
    page: int
    size: int
    has_next: bool


class RequestListQuery(Schema):
    owner_id: int | None = None
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class RequestIn(_In):
    customer_id: int
    summary: str = Field(..., min_length=1, max_length=255)
    channel: Channel = Channel.CALL
    received_at: dt.datetime | None = Field(None, description="Default: now")


class ReplyIn(_In):
    note: str = ""


class BreachRowOut(Schema):
    owner_id: int | None
    username: str
    name: str
    received: int
    replied_in_time: int
    replied_late: int
    open_past_due: int
    pending: int
    breached: int


class BreachQuery(PeriodQuery):
    owner_id: int | None = None
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class BreachReportOut(Schema):
    summary: list[BreachRowOut]
    breached: RequestPageOut


@router.get("/requests", response=_responses(RequestPageOut), summary="Requests waiting for an answer")
def request_list(request: AuthedRequest, filters: Query[RequestListQuery]) -> Any:
    if not requests.can_log_request(request.user):
        raise PermissionDenied("no access")
    qs = requests.request_open_list(request.user, owner_id=filters.owner_id)
    page = paginate(qs, page=filters.page, size=filters.size, count=False)
    return {"items": page.items, "page": page.number, "size": page.size, "has_next": page.has_next}


@router.post("/requests", response=_responses(RequestOut, 201), summary="Log a customer's request")
def request_create(request: AuthedRequest, payload: RequestIn) -> Any:
    item = requests.request_log(actor=request.user, **payload.model_dump())
    return Status(201, requests.request_get(request.user, item.pk))


@router.post(
    "/requests/{int:request_id}/acknowledge",
    response=_responses(RequestOut),
    summary="The customer was told it is being handled",
)
def request_acknowledge(request: AuthedRequest, request_id: int, payload: ReplyIn) -> Any:
    requests.request_acknowledge(actor=request.user, request_id=request_id, note=payload.note)
    return requests.request_get(request.user, request_id)


@router.post("/requests/{int:request_id}/answer", response=_responses(RequestOut), summary="Answered")
def request_answer(request: AuthedRequest, request_id: int, payload: ReplyIn) -> Any:
    requests.request_answer(actor=request.user, request_id=request_id, note=payload.note)
    return requests.request_get(request.user, request_id)


@router.get("/requests/breaches", response=_responses(BreachReportOut), summary="Same-day reply report")
def request_breach_report(request: AuthedRequest, filters: Query[BreachQuery]) -> Any:
    if not requests.can_log_request(request.user):
        raise PermissionDenied("no access")
    start, end = filters.period()
    now = timezone.now()
    summary = requests.request_breaches(request.user, start=start, end=end, now=now)
    qs = requests.request_breach_list(request.user, start=start, end=end, owner_id=filters.owner_id, now=now)
    page = paginate(qs, page=filters.page, size=filters.size, count=False)
    return {
        "summary": [{**r.__dict__, "breached": r.breached} for r in summary],
        "breached": {"items": page.items, "page": page.number, "size": page.size, "has_next": page.has_next},
    }


# ---------------------------------------------------------------------------------------------
# Absences and notices


class AbsenceOut(Schema):
    id: int
    user_id: int
    user_name: str
    starts_on: dt.date
    ends_on: dt.date
    delegate_id: int | None
    reason: str

    @staticmethod
    def resolve_user_name(obj: Absence) -> str:
        return obj.user.label


class AbsenceIn(_In):
    user_id: int
    starts_on: dt.date
    ends_on: dt.date
    delegate_id: int | None = None
    reason: str = Field("", max_length=120)


@router.get("/absences", response=_responses(list[AbsenceOut]), summary="Current and upcoming absences")
def absence_list(request: AuthedRequest) -> Any:
    return list(plan_admin.absence_list(request.user)[:500])


@router.post("/absences", response=_responses(AbsenceOut, 201), summary="Record an absence")
def absence_create(request: AuthedRequest, payload: AbsenceIn) -> Any:
    return Status(201, plan_admin.absence_create(actor=request.user, **payload.model_dump()))


class NoticeOut(Schema):
    id: int
    product_id: int
    product_name: str
    kind: str
    title: str
    body: str
    effective_on: dt.date
    created_by: str
    created_at: dt.datetime
    owners: int = Field(description="Customers who own the product now")


class NoticeIn(_In):
    product_id: int
    kind: ProductNotice.Kind
    title: str = Field(..., min_length=1, max_length=200)
    body: str = ""
    effective_on: dt.date | None = Field(None, description="Default: today; never in the past")


@router.get("/notices", response=_responses(list[NoticeOut]), summary="Product notices")
def notice_list(request: AuthedRequest) -> Any:
    return [r.__dict__ for r in plan_admin.notice_list(request.user)]


@router.post("/notices", response=_responses(NoticeOut, 201), summary="Create a product notice")
def notice_create(request: AuthedRequest, payload: NoticeIn) -> Any:
    notice = plan_admin.notice_create(actor=request.user, **payload.model_dump())
    return Status(201, plan_admin.notice_get(request.user, notice.pk).__dict__)
