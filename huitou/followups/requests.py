"""Customer requests and their same-day reply clock (DOMAIN §3).

Any request from a customer gets a reply the same day; when it cannot be solved that day, the
customer is told the same day that it is being handled. The clock: a request received on a
working day before the policy's ``request_reply_cutoff`` is due by the end of that day (23:59:59
local time); otherwise by the end of the next working day (official holidays and make-up working
days from ``calendar``). Acknowledging and answering both stop the clock (``first_reply_at``).

A request is *breached* when its first reply came after ``reply_due_at``, or when it has none and
``reply_due_at`` has passed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from huitou.accounts import permissions
from huitou.accounts.policy import ContactPolicy
from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed

from .calendar import is_working_day, next_working_day
from .models import Channel, CustomerRequest
from .pace import clock_time

if TYPE_CHECKING:
    from huitou.accounts.models import User

END_OF_DAY = dt.time(23, 59, 59)
# A clock a little ahead of the server's is not "the future"; an hour is not a typing slip.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
SUMMARY_MAX = 255


def reply_due_at(received_at: dt.datetime, policy: ContactPolicy, tz: dt.tzinfo | None = None) -> dt.datetime:
    """When the first reply to a request received at ``received_at`` (aware) is due."""
    tz = tz or timezone.get_current_timezone()
    local = received_at.astimezone(tz)
    day = local.date()
    if is_working_day(day) and local.time() < clock_time(policy.request_reply_cutoff):
        due_day = day
    else:
        due_day = next_working_day(day, include_self=False)
    return dt.datetime.combine(due_day, END_OF_DAY, tzinfo=tz)


def can_log_request(user: User) -> bool:
    return permissions.can_log_activity(user)


# ---------------------------------------------------------------------------------------------
# Writes


@transaction.atomic
def request_log(
    *,
    actor: User,
    customer_id: int,
    summary: str,
    channel: str = Channel.CALL,
    received_at: dt.datetime | None = None,
) -> CustomerRequest:
    """Record a customer's request and start its clock. The customer's owner rep owns the reply."""
    from huitou.customers.selectors import customer_get

    if not can_log_request(actor):
        raise PermissionDenied("your role cannot log requests")
    customer = customer_get(actor, customer_id)  # NotFound outside the actor's scope
    errors: dict[str, list[str]] = {}
    summary = (summary or "").strip()
    if not summary:
        errors["summary"] = ["required"]
    elif len(summary) > SUMMARY_MAX:
        errors["summary"] = [f"at most {SUMMARY_MAX} characters"]
    if channel not in Channel.values:
        errors["channel"] = ["not a valid choice"]
    now = timezone.now()
    if received_at is None:
        received_at = now
    elif timezone.is_naive(received_at):
        received_at = timezone.make_aware(received_at)
    if received_at > now + FUTURE_TOLERANCE:
        errors["received_at"] = ["cannot be in the future"]
    if errors:
        raise ValidationFailed(errors)
    policy = customer.organisation.policy.contact
    return CustomerRequest.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        channel=channel,
        summary=summary,
        received_at=received_at,
        reply_due_at=reply_due_at(received_at, policy),
        owner_id=customer.owner_id,
        logged_by=actor,
    )


def _locked(actor: User, request_id: int) -> CustomerRequest:
    if not can_log_request(actor):
        raise NotFound("request")
    try:
        return (
            CustomerRequest.objects.select_for_update(of=("self",))
            .filter(permissions.customer_scope(actor, "customer__"))
            .get(pk=request_id)
        )
    except (CustomerRequest.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("request") from exc


@transaction.atomic
def request_acknowledge(*, actor: User, request_id: int, note: str = "") -> CustomerRequest:
    """The customer was told the request is being handled: the clock stops, the request stays open."""
    item = _locked(actor, request_id)
    if item.status == CustomerRequest.Status.ANSWERED:
        raise ValidationFailed({"status": ["this request is already answered"]})
    fields = []
    if item.first_reply_at is None:
        item.first_reply_at = timezone.now()
        fields.append("first_reply_at")
    if item.status != CustomerRequest.Status.ACKNOWLEDGED:
        item.status = CustomerRequest.Status.ACKNOWLEDGED
        fields.append("status")
    note = (note or "").strip()
    if note:
        item.reply_note = f"{item.reply_note}\n{note}".strip()
        fields.append("reply_note")
    if fields:
        item.save(update_fields=fields)
    return item


@transaction.atomic
def request_answer(*, actor: User, request_id: int, note: str = "") -> CustomerRequest:
    item = _locked(actor, request_id)
    if item.status == CustomerRequest.Status.ANSWERED:
        raise ValidationFailed({"status": ["this request is already answered"]})
    now = timezone.now()
    item.first_reply_at = item.first_reply_at or now
    item.answered_at = now
    item.status = CustomerRequest.Status.ANSWERED
    note = (note or "").strip()
    if note:
        item.reply_note = f"{item.reply_note}\n{note}".strip()
    item.save(update_fields=["first_reply_at", "answered_at", "status", "reply_note"])
    return item


# ---------------------------------------------------------------------------------------------
# Reads


def request_queryset(viewer: User) -> QuerySet[CustomerRequest]:
    return CustomerRequest.objects.filter(permissions.customer_scope(viewer, "customer__"))


def request_get(viewer: User, request_id: int) -> CustomerRequest:
    try:
        return request_queryset(viewer).select_related("customer", "owner").get(pk=request_id)
    except (CustomerRequest.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("request") from exc


def request_open_list(viewer: User, *, owner_id: int | None = None) -> QuerySet[CustomerRequest]:
    """Requests not answered yet, the most urgent first (the clock index leads)."""
    qs = request_queryset(viewer).filter(
        status__in=[CustomerRequest.Status.OPEN, CustomerRequest.Status.ACKNOWLEDGED]
    )
    if permissions.is_active_member(viewer):
        qs = qs.filter(organisation_id=permissions.org_id(viewer))
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    return qs.select_related("customer", "owner").order_by("reply_due_at", "id")


def breached_q(now: dt.datetime) -> Q:
    """Requests whose clock ran out: a late first reply, or none and the deadline passed."""
    return Q(first_reply_at__gt=F("reply_due_at")) | Q(first_reply_at__isnull=True, reply_due_at__lt=now)


def _period(viewer: User, start: dt.date, end: dt.date) -> QuerySet[CustomerRequest]:
    if end < start:
        raise ValidationFailed({"end": ["must not be before the start"]})
    tz = timezone.get_current_timezone()
    since = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    qs = request_queryset(viewer)
    if permissions.is_active_member(viewer):
        qs = qs.filter(organisation_id=permissions.org_id(viewer))
    return qs.filter(received_at__gte=since, received_at__lt=until)


@dataclass(frozen=True)
class BreachRow:
    owner_id: int | None
    username: str
    name: str
    received: int
    replied_in_time: int
    replied_late: int
    open_past_due: int
    pending: int  # no reply yet, still within the clock

    @property
    def breached(self) -> int:
        return self.replied_late + self.open_past_due

    @property
    def in_time_rate(self) -> float | None:
        settled = self.replied_in_time + self.breached
        return self.replied_in_time / settled if settled else None


def request_breaches(
    viewer: User, *, start: dt.date, end: dt.date, now: dt.datetime | None = None
) -> list[BreachRow]:
    """Per owner rep, the requests received from ``start`` to ``end`` (local dates, inclusive) and
    how their clocks ended. One aggregate query."""
    now = now or timezone.now()
    no_reply = Q(first_reply_at__isnull=True)
    rows = (
        _period(viewer, start, end)
        .values("owner_id", "owner__username", "owner__display_name")
        .annotate(
            received=Count("pk"),
            replied_in_time=Count("pk", filter=Q(first_reply_at__lte=F("reply_due_at"))),
            replied_late=Count("pk", filter=Q(first_reply_at__gt=F("reply_due_at"))),
            open_past_due=Count("pk", filter=no_reply & Q(reply_due_at__lt=now)),
            pending=Count("pk", filter=no_reply & Q(reply_due_at__gte=now)),
        )
        .order_by("owner__username")
    )
    return [
        BreachRow(
            owner_id=r["owner_id"],
            username=r["owner__username"] or "",
            name=r["owner__display_name"] or r["owner__username"] or "",
            received=r["received"],
            replied_in_time=r["replied_in_time"],
            replied_late=r["replied_late"],
            open_past_due=r["open_past_due"],
            pending=r["pending"],
        )
        for r in rows
    ]


def request_breach_list(
    viewer: User,
    *,
    start: dt.date,
    end: dt.date,
    owner_id: int | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[CustomerRequest]:
    """The breached requests behind ``request_breaches``, oldest deadline first."""
    now = now or timezone.now()
    qs = _period(viewer, start, end).filter(breached_q(now))
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    return qs.select_related("customer", "owner").order_by("reply_due_at", "id")
