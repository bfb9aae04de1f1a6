"""JSON endpoints of surveys, answers, tickets, concessions and the measures (/api/v1/feedback).

Same rules as the pages: rows through the selectors' scopes (404 outside), role checks for what
a role may never do (403), every write through a service. Times are ISO 8601 with offsets.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.errors import PermissionDenied
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE, paginate

from . import access, measures, selectors, services, tickets
from .models import (
    Concession,
    SupervisorReply,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
    SurveyTemplate,
    Ticket,
    ValueAddedService,
)

router = Router(tags=["feedback"])


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


class PageQuery(Schema):
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


def _page(items_schema: type[Schema], name: str) -> type[Schema]:
    return type(
        name,
        (Schema,),
        {
            "__annotations__": {
                "items": list[items_schema],  # type: ignore[valid-type]
                "page": int,
                "size": int,
                "has_next": bool,
                "total": int,
                "total_capped": bool,
            }
        },
    )


# ---------------------------------------------------------------------------------------------
# Surveys


class QuestionOut(Schema):
    id: int
    order: int
    factor: str
    text: str
    kind: str
    weight: Decimal
    expectation: bool
    required: bool
    active: bool


class TemplateOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    intro: str
    active: bool
    version: int
    questions: list[QuestionOut]

    @staticmethod
    def resolve_questions(obj: SurveyTemplate) -> list[Any]:
        return sorted(obj.questions.all(), key=lambda q: (q.order, q.pk))


@router.get(
    "/templates", response=_responses(list[TemplateOut]), summary="Survey templates (owner, managers)"
)
def template_list(request: AuthedRequest) -> Any:
    if not access.can_read_templates(request.user):
        raise PermissionDenied("surveys are managed by the owner")
    return selectors.template_list(request.user)


@router.get("/templates/{int:template_id}", response=_responses(TemplateOut), summary="One survey template")
def template_detail(request: AuthedRequest, template_id: int) -> Any:
    if not access.can_read_templates(request.user):
        raise PermissionDenied("surveys are managed by the owner")
    return selectors.template_get(request.user, template_id)


class InvitationOut(Schema):
    id: int
    template_id: int
    customer_id: int
    customer_name: str
    event: str
    purchase_id: int | None
    ticket_id: int | None
    rep_id: int | None
    store_id: int | None
    event_on: dt.date
    send_on: dt.date
    channel: str
    status: str
    expires_at: dt.datetime

    @staticmethod
    def resolve_customer_name(obj: SurveyInvitation) -> str:
        return obj.customer.name


InvitationPageOut = _page(InvitationOut, "InvitationPageOut")


class PhoneQueueQuery(PageQuery):
    mode: Literal["survey", "audit"] = "survey"
    kind: SurveyKind | None = None


@router.get(
    "/invitations/phone",
    response=_responses(InvitationPageOut),
    summary="The DCRC's call list: surveys due and not answered, or answered ones to audit",
)
def phone_queue(request: AuthedRequest, filters: Query[PhoneQueueQuery]) -> Any:
    if not access.can_take_phone_surveys(request.user):
        raise PermissionDenied("your role does not take phone surveys")
    qs = selectors.phone_queue(request.user, mode=filters.mode, kind=filters.kind or "")
    return page_out(paginate(qs, page=filters.page, size=filters.size, count=False))


class AnswerIn(_In):
    question_id: int
    score: int | None = None
    text: str = Field("", max_length=2000, description="The reason for a low score, or the free text")


class PhoneResponseIn(_In):
    answers: list[AnswerIn]


class AnswerOut(Schema):
    question_id: int
    factor: str
    question_kind: str
    expectation: bool
    score: int | None
    text: str
    low: bool


class ResponseOut(Schema):
    id: int
    invitation_id: int
    template_id: int
    kind: str
    customer_id: int
    rep_id: int | None
    store_id: int | None
    event_on: dt.date
    period: dt.date
    channel: str
    audit: bool
    taken_by_id: int | None
    submitted_at: dt.datetime
    overall: int | None
    top_box: bool | None
    low: bool
    comment: str
    ticket_id: int | None = Field(None, description="The complaint a low answer opened")


class ResponseDetailOut(ResponseOut):
    answers: list[AnswerOut]

    @staticmethod
    def resolve_answers(obj: SurveyResponse) -> list[Any]:
        return sorted(obj.answers.all(), key=lambda a: (a.question.order, a.question_id))


@router.post(
    "/invitations/{int:invitation_id}/phone-response",
    response=_responses(ResponseDetailOut, 201),
    summary="Answers taken on the phone (never by the person who served); an audit on an answered event",
)
def phone_response(request: AuthedRequest, invitation_id: int, payload: PhoneResponseIn) -> Any:
    answers = {a.question_id: services.AnswerIn(score=a.score, text=a.text) for a in payload.answers}
    response = services.response_record_phone(
        actor=request.user, invitation_id=invitation_id, answers=answers
    )
    return Status(201, selectors.response_get(request.user, response.pk))


class ResponseListQuery(PageQuery):
    kind: SurveyKind | None = None
    store_id: int | None = None
    rep_id: int | None = None
    low: bool = False
    audit: bool | None = None
    start: dt.date | None = None
    end: dt.date | None = None


ResponsePageOut = _page(ResponseOut, "ResponsePageOut")


@router.get(
    "/responses", response=_responses(ResponsePageOut), summary="Survey answers (not for reps by default)"
)
def response_list(request: AuthedRequest, filters: Query[ResponseListQuery]) -> Any:
    if not access.reads_answers(request.user):
        raise PermissionDenied("reps see their CVP, not single answers")
    qs = selectors.response_list(
        request.user,
        selectors.ResponseFilters(
            kind=filters.kind or "",
            store_id=filters.store_id,
            rep_id=filters.rep_id,
            low=filters.low,
            audit=filters.audit,
            start=filters.start,
            end=filters.end,
        ),
    )
    return page_out(paginate(qs, page=filters.page, size=filters.size, count=False))


@router.get(
    "/responses/{int:response_id}", response=_responses(ResponseDetailOut), summary="One survey answer"
)
def response_detail(request: AuthedRequest, response_id: int) -> Any:
    return selectors.response_get(request.user, response_id)


# ---------------------------------------------------------------------------------------------
# Tickets


class TicketOut(Schema):
    id: int
    customer_id: int
    customer_name: str
    store_id: int | None
    kind: str
    channel: str
    category: str
    severity: str
    summary: str
    status: str
    owner_id: int | None
    received_at: dt.datetime
    first_reply_due_at: dt.datetime
    resolve_due_at: dt.datetime
    first_reply_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    escalation_level: int
    escalated_to_id: int | None
    version: int

    @staticmethod
    def resolve_customer_name(obj: Ticket | dict[str, Any]) -> str:
        # A ticket from a list, or the detail's dict (which already carries the name).
        return str(obj["customer_name"]) if isinstance(obj, dict) else obj.customer.name


class EventOut(Schema):
    kind: str
    at: dt.datetime
    actor_id: int | None
    text: str


class SupervisorReplyOut(Schema):
    cause: str
    answer: str
    measures: str
    customer_reaction: str
    reaction_note: str
    manager_id: int | None
    signed_at: dt.datetime | None
    version: int


class ConcessionOut(Schema):
    id: int
    ticket_id: int
    kind: str
    value: Decimal
    description: str
    status: str
    approver_role: str
    proposed_by_id: int | None
    decided_by_id: int | None
    decided_at: dt.datetime | None
    decision_note: str
    offered_at: dt.datetime | None


class TicketDetailOut(TicketOut):
    detail: str
    purchase_id: int | None
    source_response_id: int | None
    events: list[EventOut]
    supervisor_reply: SupervisorReplyOut | None
    concessions: list[ConcessionOut]
    followup_invitations: list[InvitationOut]


def _detail_out(viewer: Any, ticket_id: int) -> dict[str, Any]:
    d = selectors.ticket_detail(viewer, ticket_id)
    fields = {f: getattr(d.ticket, f) for f in TicketOut.model_fields if f != "customer_name"}
    return {
        **fields,
        "customer_name": d.ticket.customer.name,
        "detail": d.ticket.detail,
        "purchase_id": d.ticket.purchase_id,
        "source_response_id": d.source_response_id,
        "events": d.events,
        "supervisor_reply": d.reply,
        "concessions": d.concessions,
        "followup_invitations": d.followups,
    }


class TicketListQuery(PageQuery):
    status: Literal["active", "open", "replied", "resolved", "closed", "all"] = "active"
    mine: bool = False
    escalated: bool = Field(False, description="Only tickets escalated to me")
    overdue: bool = False
    store_id: int | None = None
    owner_id: int | None = None
    customer_id: int | None = None
    channel: Ticket.Channel | None = None
    severity: Ticket.Severity | None = None
    category: Ticket.Category | None = None


TicketPageOut = _page(TicketOut, "TicketPageOut")


@router.get("/tickets", response=_responses(TicketPageOut), summary="Tickets, most urgent first while open")
def ticket_list(request: AuthedRequest, filters: Query[TicketListQuery]) -> Any:
    qs = selectors.ticket_list(
        request.user,
        selectors.TicketFilters(
            status=filters.status,
            mine=filters.mine,
            escalated=filters.escalated,
            overdue=filters.overdue,
            store_id=filters.store_id,
            owner_id=filters.owner_id,
            customer_id=filters.customer_id,
            channel=filters.channel or "",
            severity=filters.severity or "",
            category=filters.category or "",
        ),
    )
    return page_out(paginate(qs, page=filters.page, size=filters.size, count=False))


class TicketCreateIn(_In):
    customer_id: int
    summary: str = Field(..., min_length=1, max_length=200)
    channel: Literal["phone", "walk_in", "sms", "web"]
    kind: Ticket.Kind = Ticket.Kind.COMPLAINT
    category: Ticket.Category = Ticket.Category.OTHER
    severity: Ticket.Severity = Ticket.Severity.MEDIUM
    detail: str = Field("", max_length=4000)
    owner_id: int | None = Field(None, description="Who handles it; default the customer's rep")
    purchase_id: int | None = None
    received_at: dt.datetime | None = Field(None, description="Default: now")


@router.post(
    "/tickets", response=_responses(TicketDetailOut, 201), summary="Open a complaint or service request"
)
def ticket_create(request: AuthedRequest, payload: TicketCreateIn) -> Any:
    ticket = tickets.ticket_open(
        actor=request.user,
        customer_id=payload.customer_id,
        summary=payload.summary,
        channel=payload.channel,
        kind=payload.kind,
        category=payload.category,
        severity=payload.severity,
        detail=payload.detail,
        owner_id=payload.owner_id,
        purchase_id=payload.purchase_id,
        received_at=payload.received_at,
    )
    return Status(201, _detail_out(request.user, ticket.pk))


@router.get(
    "/tickets/{int:ticket_id}", response=_responses(TicketDetailOut), summary="One ticket with its history"
)
def ticket_detail(request: AuthedRequest, ticket_id: int) -> Any:
    return _detail_out(request.user, ticket_id)


class TextIn(_In):
    text: str = Field(..., min_length=1, max_length=4000)
    version: int | None = Field(None, description="The version read; a newer one on the server → 409")


@router.post("/tickets/{int:ticket_id}/reply", response=_responses(TicketDetailOut), summary="Record a reply")
def ticket_reply(request: AuthedRequest, ticket_id: int, payload: TextIn) -> Any:
    tickets.ticket_reply(actor=request.user, ticket_id=ticket_id, text=payload.text, version=payload.version)
    return _detail_out(request.user, ticket_id)


@router.post(
    "/tickets/{int:ticket_id}/resolve", response=_responses(TicketDetailOut), summary="Mark as resolved"
)
def ticket_resolve(request: AuthedRequest, ticket_id: int, payload: TextIn) -> Any:
    tickets.ticket_resolve(
        actor=request.user, ticket_id=ticket_id, text=payload.text, version=payload.version
    )
    return _detail_out(request.user, ticket_id)


@router.post(
    "/tickets/{int:ticket_id}/notes", response=_responses(TicketDetailOut), summary="Add an internal note"
)
def ticket_note(request: AuthedRequest, ticket_id: int, payload: TextIn) -> Any:
    tickets.ticket_note(actor=request.user, ticket_id=ticket_id, text=payload.text)
    return _detail_out(request.user, ticket_id)


class AssignIn(_In):
    owner_id: int
    version: int | None = None


@router.post(
    "/tickets/{int:ticket_id}/assign",
    response=_responses(TicketDetailOut),
    summary="Hand over (managers, owner)",
)
def ticket_assign(request: AuthedRequest, ticket_id: int, payload: AssignIn) -> Any:
    tickets.ticket_assign(
        actor=request.user, ticket_id=ticket_id, owner_id=payload.owner_id, version=payload.version
    )
    return _detail_out(request.user, ticket_id)


class SupervisorReplyIn(_In):
    cause: str = Field("", max_length=4000)
    answer: str = Field(..., min_length=1, max_length=4000)
    measures: str = Field(..., min_length=1, max_length=4000)
    customer_reaction: SupervisorReply.Reaction
    reaction_note: str = Field("", max_length=4000)
    sign: bool = Field(False, description="Sign off now (required before closing)")
    version: int | None = None


@router.put(
    "/tickets/{int:ticket_id}/supervisor-reply",
    response=_responses(SupervisorReplyOut),
    summary="The supervisor reply form (主管回复表; managers, owner)",
)
def supervisor_reply(request: AuthedRequest, ticket_id: int, payload: SupervisorReplyIn) -> Any:
    return tickets.supervisor_reply_save(
        actor=request.user,
        ticket_id=ticket_id,
        cause=payload.cause,
        answer=payload.answer,
        measures=payload.measures,
        customer_reaction=payload.customer_reaction,
        reaction_note=payload.reaction_note,
        sign=payload.sign,
        version=payload.version,
    )


class VersionIn(_In):
    version: int | None = None


@router.post(
    "/tickets/{int:ticket_id}/close",
    response=_responses(TicketDetailOut),
    summary="Close (signed supervisor reply needed); schedules the satisfaction check",
)
def ticket_close(request: AuthedRequest, ticket_id: int, payload: VersionIn) -> Any:
    tickets.ticket_close(actor=request.user, ticket_id=ticket_id, version=payload.version)
    return _detail_out(request.user, ticket_id)


class ReopenIn(_In):
    reason: str = Field(..., min_length=1, max_length=4000)
    version: int | None = None


@router.post("/tickets/{int:ticket_id}/reopen", response=_responses(TicketDetailOut), summary="Reopen")
def ticket_reopen(request: AuthedRequest, ticket_id: int, payload: ReopenIn) -> Any:
    tickets.ticket_reopen(
        actor=request.user, ticket_id=ticket_id, reason=payload.reason, version=payload.version
    )
    return _detail_out(request.user, ticket_id)


class ConcessionIn(_In):
    kind: Concession.Kind
    value: Decimal = Field(..., ge=0, le=10_000_000)
    description: str = Field(..., min_length=1, max_length=255)


@router.post(
    "/tickets/{int:ticket_id}/concessions",
    response=_responses(ConcessionOut, 201),
    summary="Propose a concession (beyond the proposer's authority it waits for approval)",
)
def concession_create(request: AuthedRequest, ticket_id: int, payload: ConcessionIn) -> Any:
    concession = tickets.concession_propose(
        actor=request.user,
        ticket_id=ticket_id,
        kind=payload.kind,
        value=payload.value,
        description=payload.description,
    )
    return Status(201, concession)


class DecisionIn(_In):
    note: str = Field("", max_length=255)


@router.get(
    "/concessions/pending",
    response=_responses(list[ConcessionOut]),
    summary="Concessions waiting for my approval",
)
def concession_pending(request: AuthedRequest) -> Any:
    return list(selectors.pending_concessions(request.user)[:200])


@router.post(
    "/concessions/{int:concession_id}/approve", response=_responses(ConcessionOut), summary="Approve"
)
def concession_approve(request: AuthedRequest, concession_id: int, payload: DecisionIn) -> Any:
    return tickets.concession_decide(
        actor=request.user, concession_id=concession_id, approve=True, note=payload.note
    )


@router.post("/concessions/{int:concession_id}/reject", response=_responses(ConcessionOut), summary="Reject")
def concession_reject(request: AuthedRequest, concession_id: int, payload: DecisionIn) -> Any:
    return tickets.concession_decide(
        actor=request.user, concession_id=concession_id, approve=False, note=payload.note
    )


@router.post(
    "/concessions/{int:concession_id}/offer",
    response=_responses(ConcessionOut),
    summary="Mark an approved one offered",
)
def concession_offer(request: AuthedRequest, concession_id: int) -> Any:
    return tickets.concession_offer(actor=request.user, concession_id=concession_id)


# ---------------------------------------------------------------------------------------------
# Value-added services


class ValueAddedOut(Schema):
    id: int
    customer_id: int
    kind: str
    value: Decimal
    note: str
    given_on: dt.date
    given_by_id: int | None
    ticket_id: int | None


class ValueAddedIn(_In):
    kind: ValueAddedService.Kind
    note: str = Field(..., min_length=1, max_length=255)
    value: Decimal = Field(Decimal("0"), ge=0, le=10_000_000)
    given_on: dt.date | None = None
    ticket_id: int | None = None


@router.get(
    "/customers/{int:customer_id}/value-added-services",
    response=_responses(list[ValueAddedOut]),
    summary="Value-added services given to a customer",
)
def value_added_list(request: AuthedRequest, customer_id: int) -> Any:
    return selectors.customer_feedback(request.user, customer_id).value_added


@router.post(
    "/customers/{int:customer_id}/value-added-services",
    response=_responses(ValueAddedOut, 201),
    summary="Record a value-added service",
)
def value_added_create(request: AuthedRequest, customer_id: int, payload: ValueAddedIn) -> Any:
    service = tickets.value_added_service_add(
        actor=request.user,
        customer_id=customer_id,
        kind=payload.kind,
        note=payload.note,
        value=payload.value,
        given_on=payload.given_on,
        ticket_id=payload.ticket_id,
    )
    return Status(201, service)


# ---------------------------------------------------------------------------------------------
# Measures


class PeriodQuery(Schema):
    start: dt.date = Field(..., description="First month (any day of it)")
    end: dt.date = Field(..., description="Last month (any day of it)")
    kind: SurveyKind = SurveyKind.SALES
    store_id: int | None = None


class CvpQuery(PeriodQuery):
    by: Literal["rep", "store"] = "rep"


class CvpRowOut(Schema):
    id: int | None = Field(description="The rep or store")
    name: str
    month: dt.date
    answers: int
    top_box: int
    cvp: float | None


@router.get("/cvp", response=_responses(list[CvpRowOut]), summary="CVP per rep or store and month")
def cvp(request: AuthedRequest, filters: Query[CvpQuery]) -> Any:
    if filters.by == "store":
        rows = measures.cvp_by_store(request.user, start=filters.start, end=filters.end, kind=filters.kind)
    else:
        rows = measures.cvp_by_rep(
            request.user, start=filters.start, end=filters.end, kind=filters.kind, store_id=filters.store_id
        )
    return [
        {"id": r.key, "name": r.name, "month": r.period, "answers": r.answers, "top_box": r.top, "cvp": r.cvp}
        for r in rows
    ]


class AwardQuery(Schema):
    month: dt.date = Field(..., description="The sales month (any day of it)")
    store_id: int | None = None


class AwardRowOut(Schema):
    rep_id: int
    name: str
    store: str
    month: dt.date
    payroll_month: dt.date
    answers: int
    top: int
    cvp: float | None
    retail_cars: int
    wholesale_buyers: int
    units: int
    eligible: bool
    amount: Decimal


@router.get(
    "/cvp/award", response=_responses(list[AwardRowOut]), summary="The CVP 100% award of a sales month"
)
def cvp_award(request: AuthedRequest, filters: Query[AwardQuery]) -> Any:
    return measures.cvp_award(request.user, month=filters.month, store_id=filters.store_id)


class FactorOut(Schema):
    factor: str
    label: str
    importance: float
    importance_source: str
    satisfaction: float
    answers: int
    top_share: float | None
    quadrant: Literal["urgent", "keep", "low_priority", "over_served"]


class QuadrantOut(Schema):
    points: list[FactorOut]
    importance_cut: float
    satisfaction_cut: float
    split: str


@router.get(
    "/quadrants", response=_responses(QuadrantOut), summary="Importance–satisfaction quadrants per factor"
)
def quadrants(request: AuthedRequest, filters: Query[PeriodQuery]) -> Any:
    return measures.quadrant_analysis(
        request.user, start=filters.start, end=filters.end, kind=filters.kind, store_id=filters.store_id
    )


class TrendOut(Schema):
    period: dt.date
    responses: int
    cvp: float | None
    mean_overall: float | None
    perceived: float | None
    expected: float | None
    ratio: float | None = Field(description="Perceived ÷ expected")


@router.get(
    "/trend", response=_responses(list[TrendOut]), summary="Satisfaction (perceived ÷ expected) by month"
)
def trend(request: AuthedRequest, filters: Query[PeriodQuery]) -> Any:
    return measures.satisfaction_trend(
        request.user, start=filters.start, end=filters.end, kind=filters.kind, store_id=filters.store_id
    )


class GamingOut(Schema):
    rep_id: int
    name: str
    answers: int
    top: int
    audits: int
    audit_top: int
    flagged: bool


@router.get(
    "/gaming", response=_responses(list[GamingOut]), summary="Reps whose answers and audit calls disagree"
)
def gaming(request: AuthedRequest, filters: Query[PeriodQuery]) -> Any:
    return measures.gaming_check(request.user, start=filters.start, end=filters.end, kind=filters.kind)
