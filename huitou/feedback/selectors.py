"""Reads of surveys and tickets. Every function takes the viewer and applies ``access`` scopes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from huitou.accounts import permissions
from huitou.core.errors import NotFound

from . import access
from .models import (
    Answer,
    Concession,
    SupervisorReply,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
    SurveyTemplate,
    Ticket,
    TicketEvent,
    ValueAddedService,
)

if TYPE_CHECKING:
    from huitou.accounts.models import User
    from huitou.customers.models import Customer

OPEN_STATUSES = (Ticket.Status.OPEN, Ticket.Status.REPLIED)


# ---------------------------------------------------------------------------------------------
# Tickets


def ticket_queryset(viewer: User) -> QuerySet[Ticket]:
    return Ticket.objects.filter(access.ticket_scope(viewer))


@dataclass(frozen=True)
class TicketFilters:
    status: str = "active"  # active (open or replied), open, replied, resolved, closed, all
    mine: bool = False
    escalated: bool = False  # escalated to the viewer
    overdue: bool = False
    store_id: int | None = None
    owner_id: int | None = None
    customer_id: int | None = None
    channel: str = ""
    severity: str = ""
    category: str = ""


def ticket_list(viewer: User, filters: TicketFilters, *, now: dt.datetime | None = None) -> QuerySet[Ticket]:
    """Tickets for a list page, most urgent first while open, newest first otherwise."""
    now = now or timezone.now()
    qs = ticket_queryset(viewer)
    if permissions.is_active_member(viewer):
        qs = qs.filter(organisation_id=permissions.org_id(viewer))  # lets the org indexes lead
    if filters.status == "active":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif filters.status in Ticket.Status.values:
        qs = qs.filter(status=filters.status)
    if filters.mine:
        qs = qs.filter(owner_id=viewer.pk)
    if filters.escalated:
        qs = qs.filter(escalated_to_id=viewer.pk)
    if filters.overdue:
        qs = qs.filter(status__in=OPEN_STATUSES).filter(
            Q(first_reply_at__isnull=True, first_reply_due_at__lt=now) | Q(resolve_due_at__lt=now)
        )
    if filters.store_id is not None:
        qs = qs.filter(store_id=filters.store_id)
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.severity:
        qs = qs.filter(severity=filters.severity)
    if filters.category:
        qs = qs.filter(category=filters.category)
    qs = qs.select_related("customer", "owner", "store", "escalated_to")
    if filters.status in ("active", Ticket.Status.OPEN, Ticket.Status.REPLIED):
        return qs.order_by("resolve_due_at", "id")
    return qs.order_by("-received_at", "-id")


def ticket_get(viewer: User, ticket_id: int) -> Ticket:
    try:
        return (
            ticket_queryset(viewer)
            .select_related("customer", "owner", "store", "escalated_to", "purchase", "created_by")
            .get(pk=ticket_id)
        )
    except (Ticket.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("ticket") from exc


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    events: list[TicketEvent]
    reply: SupervisorReply | None
    concessions: list[Concession]
    followups: list[SurveyInvitation]
    answers: list[Answer] | None  # the survey answers behind it, when the viewer may read them
    source_response_id: int | None
    value_added: list[ValueAddedService] = field(default_factory=list)


def ticket_detail(viewer: User, ticket_id: int) -> TicketDetail:
    ticket = ticket_get(viewer, ticket_id)
    reply = SupervisorReply.objects.filter(ticket=ticket).select_related("manager").first()
    answers = None
    source_id = SurveyResponse.objects.filter(ticket=ticket).values_list("pk", flat=True).first()
    if source_id is not None:
        visible = SurveyResponse.objects.filter(access.response_scope(viewer), pk=source_id)
        if visible.exists():
            answers = list(
                Answer.objects.filter(response_id=source_id)
                .select_related("question")
                .order_by("question__order", "question_id")
            )
    return TicketDetail(
        ticket=ticket,
        events=list(ticket.events.select_related("actor").order_by("at", "id")),
        reply=reply,
        concessions=list(
            ticket.concessions.select_related("proposed_by", "decided_by").order_by("created_at", "id")
        ),
        followups=list(
            SurveyInvitation.objects.filter(ticket=ticket).select_related("template").order_by("-created_at")
        ),
        answers=answers,
        source_response_id=source_id,
        value_added=list(ticket.value_added_services.select_related("given_by").order_by("-given_on", "-id")),
    )


def pending_concessions(viewer: User) -> QuerySet[Concession]:
    """Concessions waiting for this viewer's approval (managers: up to their limit; owner: all)."""
    if not access.can_supervise(viewer):
        return Concession.objects.none()
    qs = Concession.objects.filter(
        status=Concession.Status.PROPOSED, ticket__in=ticket_queryset(viewer)
    ).exclude(proposed_by_id=viewer.pk)
    if viewer.role == permissions.MANAGER:
        qs = qs.filter(approver_role=permissions.MANAGER)
    return qs.select_related("ticket", "ticket__customer", "proposed_by").order_by("created_at", "id")


# ---------------------------------------------------------------------------------------------
# Surveys


def template_list(viewer: User) -> list[SurveyTemplate]:
    if not access.can_read_templates(viewer):
        return []
    return list(
        SurveyTemplate.objects.filter(organisation_id=permissions.org_id(viewer))
        .prefetch_related("questions")
        .order_by("kind", "-active", "code")
    )


def template_get(viewer: User, template_id: int) -> SurveyTemplate:
    if not access.can_read_templates(viewer):
        raise NotFound("survey template")
    try:
        return SurveyTemplate.objects.prefetch_related("questions").get(
            pk=template_id, organisation_id=permissions.org_id(viewer)
        )
    except (SurveyTemplate.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("survey template") from exc


def response_queryset(viewer: User) -> QuerySet[SurveyResponse]:
    return SurveyResponse.objects.filter(access.response_scope(viewer))


@dataclass(frozen=True)
class ResponseFilters:
    kind: str = ""
    store_id: int | None = None
    rep_id: int | None = None
    low: bool = False
    audit: bool | None = None
    start: dt.date | None = None
    end: dt.date | None = None


def response_list(viewer: User, filters: ResponseFilters) -> QuerySet[SurveyResponse]:
    qs = response_queryset(viewer)
    if permissions.is_active_member(viewer):
        qs = qs.filter(organisation_id=permissions.org_id(viewer))
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.store_id is not None:
        qs = qs.filter(store_id=filters.store_id)
    if filters.rep_id is not None:
        qs = qs.filter(rep_id=filters.rep_id)
    if filters.low:
        qs = qs.filter(low=True)
    if filters.audit is not None:
        qs = qs.filter(audit=filters.audit)
    if filters.start is not None:
        qs = qs.filter(period__gte=filters.start.replace(day=1), event_on__gte=filters.start)
    if filters.end is not None:
        qs = qs.filter(period__lte=filters.end, event_on__lte=filters.end)
    return qs.select_related("customer", "rep", "store", "template", "taken_by").order_by(
        "-submitted_at", "-id"
    )


def response_get(viewer: User, response_id: int) -> SurveyResponse:
    try:
        return (
            response_queryset(viewer)
            .select_related("customer", "rep", "store", "template", "taken_by", "invitation", "ticket")
            .prefetch_related(Prefetch("answers", queryset=Answer.objects.select_related("question")))
            .get(pk=response_id)
        )
    except (SurveyResponse.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("survey response") from exc


def invitation_get(viewer: User, invitation_id: int) -> SurveyInvitation:
    try:
        return (
            SurveyInvitation.objects.filter(access.invitation_scope(viewer))
            .select_related("customer", "template", "rep", "store", "purchase", "ticket")
            .get(pk=invitation_id)
        )
    except (SurveyInvitation.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("survey") from exc


def phone_queue(
    viewer: User, *, mode: str = "survey", today: dt.date | None = None, kind: str = ""
) -> QuerySet[SurveyInvitation]:
    """The DCRC's call list. ``survey``: invitations due and not answered, customers without an
    address on the link's channel first. ``audit``: events answered in the last 60 days, to
    re-check by phone. Never the events the caller served."""
    today = today or timezone.localdate()
    if not access.can_take_phone_surveys(viewer):
        return SurveyInvitation.objects.none()
    qs = SurveyInvitation.objects.filter(
        access.invitation_scope(viewer), organisation_id=permissions.org_id(viewer)
    )
    qs = qs.exclude(rep_id=viewer.pk)
    if kind in SurveyKind.values:
        qs = qs.filter(template__kind=kind)
    if mode == "audit":
        qs = qs.filter(
            status=SurveyInvitation.Status.ANSWERED,
            send_on__gte=today - dt.timedelta(days=60),
            send_on__lte=today,
        ).order_by("-send_on", "-id")
    else:
        qs = qs.filter(
            status__in=[
                SurveyInvitation.Status.PENDING,
                SurveyInvitation.Status.SENT,
                SurveyInvitation.Status.EXPIRED,
            ],
            send_on__lte=today,
            send_on__gte=today - dt.timedelta(days=60),
        ).order_by("send_on", "id")
    return qs.select_related("customer", "template", "rep", "store")


# ---------------------------------------------------------------------------------------------
# The customer page


@dataclass(frozen=True)
class CustomerFeedback:
    customer: Customer
    tickets: list[Ticket]
    invitations: list[SurveyInvitation]
    responses: list[SurveyResponse] | None  # None: the viewer reads no single answers
    value_added: list[ValueAddedService]
    open_tickets: int


CARD_ROWS = 10


def customer_feedback(viewer: User, customer_id: int) -> CustomerFeedback:
    from huitou.customers.selectors import customer_get

    customer = customer_get(viewer, customer_id)
    tickets = list(
        ticket_queryset(viewer)
        .filter(customer_id=customer.pk)
        .select_related("owner")
        .order_by("-received_at", "-id")[:CARD_ROWS]
    )
    responses = None
    if access.reads_answers(viewer):
        responses = list(
            response_queryset(viewer)
            .filter(customer_id=customer.pk)
            .select_related("template", "rep")
            .order_by("-submitted_at", "-id")[:CARD_ROWS]
        )
    return CustomerFeedback(
        customer=customer,
        tickets=tickets,
        invitations=list(
            SurveyInvitation.objects.filter(customer_id=customer.pk)
            .select_related("template")
            .order_by("-event_on", "-id")[:CARD_ROWS]
        ),
        responses=responses,
        value_added=list(
            ValueAddedService.objects.filter(customer_id=customer.pk)
            .select_related("given_by")
            .order_by("-given_on", "-id")[:CARD_ROWS]
        ),
        open_tickets=sum(1 for t in tickets if t.status in OPEN_STATUSES),
    )
