"""Writes of complaints and service requests: opening (from any channel, or by a low survey
answer), replying, the supervisor reply form (主管回复表), closing with its satisfaction check,
escalation on a missed deadline, concessions with their approval rule, value-added services.

Every ticket is reached through ``access.ticket_scope``: outside it is ``NotFound``; inside it,
a role that may never do the action gets ``PermissionDenied``. Each change writes a
``TicketEvent``; opening and closing also go on the customer's timeline.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_noop

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from . import access, sla
from .defaults import FACTOR_CATEGORY
from .models import Concession, SupervisorReply, SurveyResponse, Ticket, TicketEvent, ValueAddedService
from .services import followup_schedule, site_text, store_of_customer

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User
    from huitou.customers.models import Customer

SUMMARY_MAX = 200
TEXT_MAX = 4000
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
_ROLE_LABELS = {permissions.MANAGER: gettext_noop("Manager"), permissions.OWNER: gettext_noop("Owner")}
STAFF_CHANNELS = tuple(c for c in Ticket.Channel.values if c != Ticket.Channel.SURVEY)


# ---------------------------------------------------------------------------------------------
# The customer's timeline


def timeline_log(
    *,
    customer: Customer,
    actor: User | None,
    kind: str,
    subject: str,
    body: str = "",
    at: dt.datetime | None = None,
) -> None:
    """One row on the customer's timeline, through the customers app when a person acted. The
    customer's own actions (a survey answered from the link) have no actor, which the
    customers service does not take, so those rows are written here directly."""
    from huitou.customers import services as customer_services
    from huitou.customers.models import Activity

    at = at or timezone.now()
    if actor is not None:
        customer_services.activity_log(
            actor=actor,
            customer_id=customer.pk,
            customer=customer,
            kind=kind,
            subject=subject[:200],
            body=body,
            occurred_at=at,
        )
        return
    Activity.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=kind,
        occurred_at=at,
        user=None,
        subject=subject[:200],
        body=body,
    )


# ---------------------------------------------------------------------------------------------
# Opening


def _event(
    ticket: Ticket, kind: str, actor: User | None, text: str = "", at: dt.datetime | None = None
) -> None:
    TicketEvent.objects.create(ticket=ticket, kind=kind, actor=actor, text=text, at=at or timezone.now())


def deadlines(organisation: Organisation, received_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(first reply due, resolution due) of a ticket received at ``received_at``."""
    policy = organisation.policy.feedback
    tz = timezone.get_current_timezone()
    return (
        sla.first_reply_due(received_at, cutoff=sla.parse_clock(policy.ticket_reply_cutoff), tz=tz),
        sla.resolve_due(received_at, working_days=policy.ticket_resolve_working_days, tz=tz),
    )


def _member(organisation_id: int, user_id: int) -> User | None:
    from huitou.accounts.models import User as UserModel

    return UserModel.objects.filter(
        pk=user_id, organisation_id=organisation_id, is_active=True, left_at__isnull=True
    ).first()


def _choice(errors: dict[str, list[str]], field: str, value: str, choices: list[str]) -> None:
    if value not in choices:
        errors.setdefault(field, []).append("not a valid choice")


@transaction.atomic
def ticket_open(
    *,
    actor: User,
    customer_id: int,
    summary: str,
    channel: str,
    kind: str = Ticket.Kind.COMPLAINT,
    category: str = Ticket.Category.OTHER,
    severity: str = Ticket.Severity.MEDIUM,
    detail: str = "",
    owner_id: int | None = None,
    purchase_id: int | None = None,
    received_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """Record a complaint or request that came in by phone, in person, by SMS or on the web. It is
    handled by ``owner_id`` or, by default, the customer's rep (a rep opening one handles it)."""
    from huitou.customers.models import Purchase
    from huitou.customers.selectors import customer_get

    if not access.can_open_ticket(actor):
        raise PermissionDenied("your role cannot open tickets")
    customer = customer_get(actor, customer_id)  # NotFound outside the actor's scope
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    summary = (summary or "").strip()
    if not summary:
        errors["summary"] = ["required"]
    elif len(summary) > SUMMARY_MAX:
        errors["summary"] = ["at most 200 characters"]
    _choice(errors, "channel", channel, list(STAFF_CHANNELS))
    _choice(errors, "kind", kind, list(Ticket.Kind.values))
    _choice(errors, "category", category, list(Ticket.Category.values))
    _choice(errors, "severity", severity, list(Ticket.Severity.values))
    if received_at is None:
        received_at = now
    elif timezone.is_naive(received_at):
        received_at = timezone.make_aware(received_at)
    if received_at > now + FUTURE_TOLERANCE:
        errors["received_at"] = ["cannot be in the future"]
    owner: User | None = None
    if owner_id is not None:
        owner = _member(customer.organisation_id, owner_id)
        if owner is None:
            errors["owner_id"] = ["no such person in your organisation"]
        elif actor.role == permissions.REP and owner.pk != actor.pk:
            errors["owner_id"] = ["a rep opens tickets for themselves; a manager assigns them"]
    elif actor.role == permissions.REP:
        owner = actor
    elif customer.owner_id is not None:
        owner = _member(customer.organisation_id, customer.owner_id)
    purchase = None
    if purchase_id is not None:
        purchase = Purchase.objects.filter(pk=purchase_id, customer_id=customer.pk).first()
        if purchase is None:
            errors["purchase_id"] = ["not a purchase of this customer"]
    if errors:
        raise ValidationFailed(errors)
    first_due, resolve_due = deadlines(customer.organisation, received_at)
    ticket = Ticket.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        store_id=(purchase.store_id if purchase is not None else None) or customer.store_id,
        kind=kind,
        channel=channel,
        category=category,
        severity=severity,
        summary=summary,
        detail=(detail or "").strip()[:TEXT_MAX],
        owner=owner or actor,
        purchase=purchase,
        received_at=received_at,
        first_reply_due_at=first_due,
        resolve_due_at=resolve_due,
        created_by=actor,
    )
    _event(ticket, TicketEvent.Kind.CREATED, actor, summary, now)
    _log_open(ticket, actor, now)
    return ticket


_OPENED = {
    Ticket.Kind.COMPLAINT: gettext_noop("Complaint #%(id)s opened: %(category)s"),
    Ticket.Kind.REQUEST: gettext_noop("Service request #%(id)s opened: %(category)s"),
}
_REPLIED = gettext_noop("Reply to the customer on ticket #%(id)s")
_OFFERED = gettext_noop("Concession offered on ticket #%(id)s: %(value)s")
_CLOSED = {
    Ticket.Kind.COMPLAINT: gettext_noop("Complaint #%(id)s closed"),
    Ticket.Kind.REQUEST: gettext_noop("Service request #%(id)s closed"),
}


def _log_open(ticket: Ticket, actor: User | None, at: dt.datetime) -> None:
    timeline_log(
        customer=ticket.customer,
        actor=actor,
        kind="complaint",
        subject=site_text(_OPENED[Ticket.Kind(ticket.kind)], id=ticket.pk, category=_category_label(ticket)),
        at=at,
    )


def _category_label(ticket: Ticket) -> str:
    return site_text(str(Ticket.Category(ticket.category).label))


def ticket_from_survey(*, response: SurveyResponse, now: dt.datetime) -> Ticket:
    """The complaint a low survey answer opens. Handled by the manager of the person who served
    (that person is the one rated, so not them), else a manager of the store, else the owner."""
    from huitou.followups.routing import Router

    answers = list(
        response.answers.filter(low=True)
        .select_related("question")
        .order_by("question__order", "question_id")
    )
    policy = response.invitation.organisation.policy.feedback
    parts = []
    reasons = []
    for a in answers:
        parts.append(f"{a.question.text} {a.score}")
        if a.text:
            reasons.append(f"{a.question.text}: {a.text}")
    category = next((FACTOR_CATEGORY[a.factor] for a in answers if a.factor in FACTOR_CATEGORY), "other")
    today = timezone.localdate(now)
    router = Router(organisation=response.organisation_id, start=today)
    handler_id = router.resolve(router.manager_of(response.rep_id, store_id=response.store_id), today)
    summary = site_text("Low survey score: %(answers)s", answers="; ".join(parts))
    first_due, resolve_due = deadlines(response.invitation.organisation, now)
    ticket = Ticket.objects.create(
        organisation_id=response.organisation_id,
        customer_id=response.customer_id,
        store_id=response.store_id or store_of_customer(response.customer_id),
        kind=Ticket.Kind.COMPLAINT,
        channel=Ticket.Channel.SURVEY,
        category=category,
        severity=policy.auto_ticket_severity,
        summary=summary[:SUMMARY_MAX],
        detail="\n".join(reasons)[:TEXT_MAX],
        owner_id=handler_id,
        purchase_id=response.invitation.purchase_id,
        received_at=now,
        first_reply_due_at=first_due,
        resolve_due_at=resolve_due,
    )
    SurveyResponse.objects.filter(pk=response.pk).update(ticket=ticket)
    response.ticket = ticket
    _event(
        ticket, TicketEvent.Kind.CREATED, response.taken_by, site_text("Opened by a low survey answer"), now
    )
    _log_open(ticket, None, now)
    return ticket


# ---------------------------------------------------------------------------------------------
# Working a ticket


def ticket_locked(actor: User, ticket_id: int) -> Ticket:
    """The ticket, locked for this transaction, if the actor may see it."""
    try:
        return (
            Ticket.objects.filter(access.ticket_scope(actor))
            .select_for_update(of=("self",))
            .select_related("customer", "organisation")
            .get(pk=ticket_id)
        )
    except (Ticket.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("ticket") from exc


def can_work(actor: User, ticket: Ticket) -> bool:
    return ticket.owner_id == actor.pk or actor.role in access.TICKET_WORKERS


def _check_work(actor: User, ticket: Ticket) -> None:
    if not can_work(actor, ticket):
        raise PermissionDenied("only the person handling the ticket, the DCRC or a manager work it")


def _check_version(ticket: Ticket, version: int | None) -> None:
    if version is not None and version != ticket.version:
        raise Conflict("this ticket was changed by someone else; reload and try again")


def _check_open(ticket: Ticket) -> None:
    if ticket.status == Ticket.Status.CLOSED:
        raise ValidationFailed({"status": ["this ticket is closed"]})


def _bump(ticket: Ticket, *fields: str) -> None:
    ticket.version += 1  # the row is locked
    ticket.save(update_fields=[*fields, "version"])


def _text(value: str, field: str = "text") -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed({field: ["required"]})
    return text[:TEXT_MAX]


@transaction.atomic
def ticket_reply(
    *, actor: User, ticket_id: int, text: str, version: int | None = None, now: dt.datetime | None = None
) -> Ticket:
    """The customer was answered (or told it is being handled): the first-reply clock stops."""
    now = now or timezone.now()
    ticket = ticket_locked(actor, ticket_id)
    _check_work(actor, ticket)
    _check_version(ticket, version)
    _check_open(ticket)
    text = _text(text)
    fields = []
    if ticket.first_reply_at is None:
        ticket.first_reply_at = now
        fields.append("first_reply_at")
    if ticket.status == Ticket.Status.OPEN:
        ticket.status = Ticket.Status.REPLIED
        fields.append("status")
    _bump(ticket, *fields)
    _event(ticket, TicketEvent.Kind.REPLIED, actor, text, now)
    # The customer's timeline tells the whole story of the complaint, not only its opening and close.
    timeline_log(
        customer=ticket.customer,
        actor=actor,
        kind="complaint",
        subject=site_text(_REPLIED, id=ticket.pk),
        body=text,
        at=now,
    )
    return ticket


@transaction.atomic
def ticket_note(*, actor: User, ticket_id: int, text: str, now: dt.datetime | None = None) -> TicketEvent:
    """An internal note; anyone who sees the ticket may add one."""
    ticket = ticket_locked(actor, ticket_id)
    event = TicketEvent.objects.create(
        ticket=ticket, kind=TicketEvent.Kind.NOTE, actor=actor, text=_text(text), at=now or timezone.now()
    )
    return event


@transaction.atomic
def ticket_assign(
    *, actor: User, ticket_id: int, owner_id: int, version: int | None = None, now: dt.datetime | None = None
) -> Ticket:
    ticket = ticket_locked(actor, ticket_id)
    if not access.can_supervise(actor):
        raise PermissionDenied("only a manager or the owner assigns tickets")
    _check_version(ticket, version)
    _check_open(ticket)
    owner = _member(ticket.organisation_id, owner_id)
    if owner is None:
        raise ValidationFailed({"owner_id": ["no such person in your organisation"]})
    if owner.pk != ticket.owner_id:
        ticket.owner = owner
        _bump(ticket, "owner")
        _event(ticket, TicketEvent.Kind.ASSIGNED, actor, owner.label, now)
    return ticket


@transaction.atomic
def ticket_resolve(
    *, actor: User, ticket_id: int, text: str, version: int | None = None, now: dt.datetime | None = None
) -> Ticket:
    """The problem is solved; the ticket waits for the supervisor reply and closing."""
    now = now or timezone.now()
    ticket = ticket_locked(actor, ticket_id)
    _check_work(actor, ticket)
    _check_version(ticket, version)
    if ticket.status not in (Ticket.Status.OPEN, Ticket.Status.REPLIED):
        raise ValidationFailed({"status": ["this ticket is already resolved or closed"]})
    text = _text(text)
    ticket.status = Ticket.Status.RESOLVED
    ticket.resolved_at = now
    ticket.first_reply_at = ticket.first_reply_at or now
    _bump(ticket, "status", "resolved_at", "first_reply_at")
    _event(ticket, TicketEvent.Kind.RESOLVED, actor, text, now)
    return ticket


@transaction.atomic
def supervisor_reply_save(
    *,
    actor: User,
    ticket_id: int,
    answer: str,
    measures: str,
    customer_reaction: str,
    cause: str = "",
    reaction_note: str = "",
    sign: bool = False,
    version: int | None = None,
    now: dt.datetime | None = None,
) -> SupervisorReply:
    """Fill in (and, with ``sign``, sign off) the supervisor reply form. Saving again after a
    signature withdraws it until signed again: what was signed is what is kept."""
    now = now or timezone.now()
    ticket = ticket_locked(actor, ticket_id)
    if not access.can_supervise(actor):
        raise PermissionDenied("only a manager or the owner fills in the supervisor reply")
    _check_open(ticket)
    errors: dict[str, list[str]] = {}
    if not (answer or "").strip():
        errors["answer"] = ["required"]
    if not (measures or "").strip():
        errors["measures"] = ["required"]
    _choice(errors, "customer_reaction", customer_reaction, list(SupervisorReply.Reaction.values))
    if errors:
        raise ValidationFailed(errors)
    reply = SupervisorReply.objects.select_for_update().filter(ticket=ticket).first()
    if reply is not None and version is not None and version != reply.version:
        raise Conflict("this supervisor reply was changed by someone else; reload and try again")
    if reply is None:
        reply = SupervisorReply(ticket=ticket, version=0)
    reply.cause = (cause or "").strip()[:TEXT_MAX]
    reply.answer = answer.strip()[:TEXT_MAX]
    reply.measures = measures.strip()[:TEXT_MAX]
    reply.customer_reaction = customer_reaction
    reply.reaction_note = (reaction_note or "").strip()[:TEXT_MAX]
    reply.manager = actor
    reply.signed_at = now if sign else None
    reply.version += 1
    reply.save()
    label = site_text("Signed off by %(name)s", name=actor.label) if sign else site_text("Draft saved")
    _event(ticket, TicketEvent.Kind.SUPERVISOR, actor, f"{label}\n{reply.answer}", now)
    return reply


@transaction.atomic
def ticket_close(
    *, actor: User, ticket_id: int, version: int | None = None, now: dt.datetime | None = None
) -> Ticket:
    """Close a ticket whose supervisor reply is signed, and schedule the satisfaction check."""
    now = now or timezone.now()
    ticket = ticket_locked(actor, ticket_id)
    if not access.can_supervise(actor):
        raise PermissionDenied("only a manager or the owner closes tickets")
    _check_version(ticket, version)
    _check_open(ticket)
    reply = SupervisorReply.objects.filter(ticket=ticket).first()
    if reply is None or reply.signed_at is None:
        raise ValidationFailed(
            {"supervisor_reply": ["the supervisor reply must be filled in and signed first"]}
        )
    if ticket.concessions.filter(status=Concession.Status.PROPOSED).exists():
        raise ValidationFailed({"concessions": ["a concession still waits for approval; decide it first"]})
    ticket.status = Ticket.Status.CLOSED
    ticket.closed_at = now
    ticket.resolved_at = ticket.resolved_at or now
    ticket.first_reply_at = ticket.first_reply_at or now
    _bump(ticket, "status", "closed_at", "resolved_at", "first_reply_at")
    _event(ticket, TicketEvent.Kind.CLOSED, actor, "", now)
    timeline_log(
        customer=ticket.customer,
        actor=actor,
        kind="complaint",
        subject=site_text(_CLOSED[Ticket.Kind(ticket.kind)], id=ticket.pk),
        body=reply.answer,
        at=now,
    )
    invitation = followup_schedule(ticket=ticket, today=timezone.localdate(now))
    if invitation is not None:
        _event(
            ticket,
            TicketEvent.Kind.SURVEY,
            actor,
            site_text("Satisfaction check on %(day)s", day=invitation.send_on.isoformat()),
            now,
        )
    return ticket


@transaction.atomic
def ticket_reopen(
    *, actor: User, ticket_id: int, reason: str, version: int | None = None, now: dt.datetime | None = None
) -> Ticket:
    """The customer is still not satisfied: back to open, with a new resolution deadline."""
    now = now or timezone.now()
    ticket = ticket_locked(actor, ticket_id)
    if not access.can_supervise(actor):
        raise PermissionDenied("only a manager or the owner reopens tickets")
    _check_version(ticket, version)
    if ticket.status not in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED):
        raise ValidationFailed({"status": ["only a resolved or closed ticket can be reopened"]})
    reason = _text(reason, "reason")
    _first, resolve_due = deadlines(ticket.organisation, now)
    ticket.status = Ticket.Status.REPLIED
    ticket.resolved_at = None
    ticket.closed_at = None
    ticket.resolve_due_at = resolve_due
    ticket.escalation_level = min(ticket.escalation_level, 1)
    _bump(ticket, "status", "resolved_at", "closed_at", "resolve_due_at", "escalation_level")
    SupervisorReply.objects.filter(ticket=ticket).update(signed_at=None, version=F("version") + 1)
    _event(ticket, TicketEvent.Kind.REOPENED, actor, reason, now)
    return ticket


# ---------------------------------------------------------------------------------------------
# Escalation


def breach_filter(now: dt.datetime) -> Q:
    """Open tickets past a deadline: no first reply by its due time, or not resolved by its due time."""
    return Q(status__in=[Ticket.Status.OPEN, Ticket.Status.REPLIED]) & (
        Q(first_reply_at__isnull=True, first_reply_due_at__lt=now)
        | Q(resolved_at__isnull=True, resolve_due_at__lt=now)
    )


@transaction.atomic
def tickets_escalate(*, organisation: Organisation, now: dt.datetime | None = None) -> int:
    """Escalate every ticket past a deadline to the manager of the person handling it, once per
    deadline (level 1: the first reply, level 2: the resolution). Set-based: one read of the
    breached tickets, one UPDATE per (manager, level), one bulk insert of their events."""
    from huitou.followups.routing import Router

    now = now or timezone.now()
    if not organisation.policy.feedback.escalate_on_breach:
        return 0
    base = Ticket.objects.filter(
        organisation=organisation, status__in=[Ticket.Status.OPEN, Ticket.Status.REPLIED]
    )
    resolve_breach = Q(resolved_at__isnull=True, resolve_due_at__lt=now, escalation_level__lt=2)
    reply_breach = Q(first_reply_at__isnull=True, first_reply_due_at__lt=now, escalation_level__lt=1)
    rows = list(
        base.filter(resolve_breach | reply_breach)
        .select_for_update()
        .annotate(
            level=_breach_level(now),
        )
        .values_list("pk", "owner_id", "store_id", "level")
    )
    if not rows:
        return 0
    today = timezone.localdate(now)
    router = Router(organisation=organisation, start=today)
    groups: dict[tuple[int | None, int], list[int]] = defaultdict(list)
    for pk, owner_id, store_id, level in rows:
        target = router.resolve(router.manager_of(owner_id, store_id=store_id), today)
        groups[(target, int(level))].append(pk)
    escalated = 0
    events: list[TicketEvent] = []
    for (target, level), ids in groups.items():
        escalated += Ticket.objects.filter(pk__in=ids, escalation_level__lt=level).update(
            escalation_level=level, escalated_at=now, escalated_to_id=target, version=F("version") + 1
        )
        text = (
            site_text("Not resolved by the deadline")
            if level == 2
            else site_text("No first reply by the deadline")
        )
        events.extend(
            TicketEvent(ticket_id=pk, kind=TicketEvent.Kind.ESCALATED, actor_id=target, text=text, at=now)
            for pk in ids
        )
    TicketEvent.objects.bulk_create(events, batch_size=1000)
    return escalated


def _breach_level(now: dt.datetime) -> Case:
    return Case(
        When(Q(resolved_at__isnull=True, resolve_due_at__lt=now), then=Value(2)),
        default=Value(1),
        output_field=IntegerField(),
    )


# ---------------------------------------------------------------------------------------------
# Concessions (DOMAIN §4: beyond the rep's authority, the manager approves first)


def approver_for(actor: User, value: Decimal) -> str:
    """Who must approve a concession of ``value`` proposed by ``actor``: "" (within their own
    authority), "manager" or "owner"."""
    policy = actor.organisation.policy.feedback  # type: ignore[union-attr]
    if actor.role == permissions.OWNER:
        return ""
    if actor.role == permissions.MANAGER:
        return "" if value <= policy.manager_concession_limit else permissions.OWNER
    if value <= policy.rep_concession_limit:
        return ""
    return permissions.MANAGER if value <= policy.manager_concession_limit else permissions.OWNER


@transaction.atomic
def concession_propose(
    *,
    actor: User,
    ticket_id: int,
    kind: str,
    value: Decimal | str,
    description: str,
    now: dt.datetime | None = None,
) -> Concession:
    now = now or timezone.now()
    ticket = ticket_locked(actor, ticket_id)
    _check_work(actor, ticket)
    _check_open(ticket)
    errors: dict[str, list[str]] = {}
    _choice(errors, "kind", kind, list(Concession.Kind.values))
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        amount = Decimal("-1")
    if amount < 0 or amount > Decimal("10000000"):
        errors["value"] = ["enter an amount of at least 0"]
    description = (description or "").strip()
    if not description:
        errors["description"] = ["required"]
    if errors:
        raise ValidationFailed(errors)
    approver = approver_for(actor, amount)
    concession = Concession.objects.create(
        ticket=ticket,
        kind=kind,
        value=amount,
        description=description[:255],
        status=Concession.Status.PROPOSED if approver else Concession.Status.APPROVED,
        approver_role=approver,
        proposed_by=actor,
        decided_by=None if approver else actor,
        decided_at=None if approver else now,
    )
    state = (
        site_text("waits for approval by the %(role)s", role=site_text(str(_ROLE_LABELS[approver])))
        if approver
        else site_text("within the proposer's authority")
    )
    _event(
        ticket,
        TicketEvent.Kind.CONCESSION,
        actor,
        f"{concession.get_kind_display()} ¥{amount} · {description} · {state}",
        now,
    )
    return concession


def _concession_locked(actor: User, concession_id: int) -> Concession:
    try:
        return (
            Concession.objects.select_for_update(of=("self",))
            .select_related("ticket", "ticket__organisation")
            .filter(ticket__in=Ticket.objects.filter(access.ticket_scope(actor)))
            .get(pk=concession_id)
        )
    except (Concession.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("concession") from exc


def may_approve(actor: User, concession: Concession) -> bool:
    """The owner decides any proposal; a manager those up to their limit, never their own."""
    if concession.status != Concession.Status.PROPOSED:
        return False
    if actor.role == permissions.OWNER:
        return True
    if concession.proposed_by_id == actor.pk:
        return False
    return actor.role == permissions.MANAGER and concession.approver_role == permissions.MANAGER


@transaction.atomic
def concession_decide(
    *, actor: User, concession_id: int, approve: bool, note: str = "", now: dt.datetime | None = None
) -> Concession:
    """Approve or reject a proposed concession: a manager up to their limit, the owner any."""
    now = now or timezone.now()
    concession = _concession_locked(actor, concession_id)
    if concession.status != Concession.Status.PROPOSED:
        raise ValidationFailed({"status": ["this concession was already decided"]})
    if not may_approve(actor, concession):
        raise PermissionDenied("this concession needs the approval of someone with more authority")
    concession.status = Concession.Status.APPROVED if approve else Concession.Status.REJECTED
    concession.decided_by = actor
    concession.decided_at = now
    concession.decision_note = (note or "").strip()[:255]
    concession.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
    word = site_text("approved") if approve else site_text("rejected")
    _event(
        concession.ticket,
        TicketEvent.Kind.CONCESSION,
        actor,
        f"¥{concession.value} · {word} {concession.decision_note}".strip(),
        now,
    )
    return concession


@transaction.atomic
def concession_offer(*, actor: User, concession_id: int, now: dt.datetime | None = None) -> Concession:
    """The concession was offered to the customer; only an approved one can be."""
    now = now or timezone.now()
    concession = _concession_locked(actor, concession_id)
    _check_work(actor, concession.ticket)
    if concession.status != Concession.Status.APPROVED:
        raise ValidationFailed({"status": ["only an approved concession can be offered"]})
    concession.status = Concession.Status.OFFERED
    concession.offered_at = now
    concession.save(update_fields=["status", "offered_at", "updated_at"])
    _event(
        concession.ticket,
        TicketEvent.Kind.CONCESSION,
        actor,
        f"¥{concession.value} · {site_text('offered')}",
        now,
    )
    timeline_log(
        customer=concession.ticket.customer,
        actor=actor,
        kind="complaint",
        subject=site_text(_OFFERED, id=concession.ticket_id, value=f"¥{concession.value}"),
        body=concession.description,
        at=now,
    )
    return concession


# ---------------------------------------------------------------------------------------------
# Value-added services


@transaction.atomic
def value_added_service_add(
    *,
    actor: User,
    customer_id: int,
    kind: str,
    note: str,
    value: Decimal | str = Decimal("0"),
    given_on: dt.date | None = None,
    ticket_id: int | None = None,
) -> ValueAddedService:
    from huitou.customers.selectors import customer_get

    if not permissions.can_log_activity(actor):
        raise PermissionDenied("your role cannot record services")
    customer = customer_get(actor, customer_id)
    errors: dict[str, list[str]] = {}
    _choice(errors, "kind", kind, list(ValueAddedService.Kind.values))
    try:
        amount = Decimal(str(value or "0"))
    except (InvalidOperation, ValueError):
        amount = Decimal("-1")
    if amount < 0:
        errors["value"] = ["enter an amount of at least 0"]
    note = (note or "").strip()
    if not note:
        errors["note"] = ["required"]
    given_on = given_on or timezone.localdate()
    if given_on > timezone.localdate() + dt.timedelta(days=1):
        errors["given_on"] = ["cannot be in the future"]
    ticket = None
    if ticket_id is not None:
        ticket = Ticket.objects.filter(
            access.ticket_scope(actor), pk=ticket_id, customer_id=customer.pk
        ).first()
        if ticket is None:
            errors["ticket_id"] = ["not a ticket of this customer"]
    if errors:
        raise ValidationFailed(errors)
    service = ValueAddedService.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=kind,
        value=amount,
        note=note[:255],
        given_on=given_on,
        given_by=actor,
        ticket=ticket,
    )
    timeline_log(
        customer=customer,
        actor=actor,
        kind="note",
        subject=site_text("Value-added service: %(note)s", note=note[:150]),
    )
    return service
