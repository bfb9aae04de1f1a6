"""Reads of the outbox. Every function takes the viewer first and applies their scope.

Who sees the outbox: owner, managers and DCRC agents (each within their customer scope) and reps
(only messages to the customers they own). After-sales staff do not; for them every list is empty
and every id is "not found".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils import timezone

from huitou.accounts import permissions
from huitou.core.errors import NotFound
from huitou.core.pagination import Page, paginate
from huitou.customers.models import Customer
from huitou.customers.selectors import search_condition

from ..models import PRINT_CHANNELS, Message, PrintBatch

if TYPE_CHECKING:
    from huitou.accounts.models import User

OUTBOX_ROLES = frozenset({permissions.OWNER, permissions.MANAGER, permissions.DCRC, permissions.REP})

# What a list row needs; the message text is cut in Python, the rest stays in the database.
LIST_FIELDS = (
    "id",
    "customer_id",
    "customer__name",
    "channel",
    "purpose",
    "status",
    "to",
    "subject",
    "body",
    "scheduled_for",
    "sent_at",
    "delivered_at",
    "attempts",
    "last_error",
    "batch_id",
)


def can_use_outbox(viewer: User) -> bool:
    return permissions.is_active_member(viewer) and viewer.role in OUTBOX_ROLES


def message_queryset(viewer: User) -> QuerySet[Message]:
    """Messages to the customers this viewer may see (nothing for roles without an outbox)."""
    if not can_use_outbox(viewer):
        return Message.objects.none()
    return Message.objects.filter(
        permissions.customer_scope(viewer, "customer__"), organisation_id=permissions.org_id(viewer)
    )


@dataclass(frozen=True)
class MessageFilters:
    status: str = ""
    channel: str = ""
    purpose: str = ""
    date_from: dt.date | None = None  # local days of ``scheduled_for``, both ends included
    date_to: dt.date | None = None
    q: str = ""
    customer_id: int | None = None


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def _filtered(viewer: User, filters: MessageFilters, *, with_status: bool = True) -> QuerySet[Message]:
    qs = message_queryset(viewer)
    if with_status and filters.status:
        qs = qs.filter(status=filters.status)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.purpose:
        qs = qs.filter(purpose=filters.purpose)
    if filters.date_from:
        qs = qs.filter(scheduled_for__gte=_day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(scheduled_for__lt=_day_start(filters.date_to + dt.timedelta(days=1)))
    if filters.customer_id:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.q:
        region = viewer.organisation.policy.archive.default_region if viewer.organisation else "CN"
        cond = search_condition(filters.q, region)
        if cond is not None:
            # The customer search is indexed (search keys); the messages follow by customer id.
            qs = qs.filter(customer_id__in=Customer.objects.filter(cond).values("pk"))
    return qs


def message_list_rows(viewer: User, filters: MessageFilters, *, page: int = 1, size: int = 50) -> Page:
    """One page of list rows as plain dicts, newest first."""
    qs = _filtered(viewer, filters).order_by("-id").values(*LIST_FIELDS)
    return paginate(qs, page=page, size=size)


def message_list(viewer: User, filters: MessageFilters, *, page: int = 1, size: int = 50) -> Page:
    """One page of messages (model instances with their customer), newest first."""
    qs = _filtered(viewer, filters).select_related("customer").order_by("-id")
    return paginate(qs, page=page, size=size)


def message_status_counts(viewer: User, filters: MessageFilters) -> dict[str, int]:
    """Messages per status under the other filters (the status filter itself is left out)."""
    rows = _filtered(viewer, filters, with_status=False).order_by().values("status").annotate(n=Count("id"))
    counts = {value: 0 for value in Message.Status.values}
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def message_get(viewer: User, message_id: int) -> Message:
    try:
        return message_queryset(viewer).select_related("customer", "batch").get(pk=message_id)
    except (Message.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("message") from exc


# ---------------------------------------------------------------- print batches


def print_batch_queryset(viewer: User) -> QuerySet[PrintBatch]:
    """Batches holding at least one message the viewer may see."""
    if not can_use_outbox(viewer):
        return PrintBatch.objects.none()
    visible = message_queryset(viewer).filter(batch_id=OuterRef("pk"))
    return PrintBatch.objects.filter(organisation_id=permissions.org_id(viewer)).filter(Exists(visible))


def print_batches(viewer: User, *, page: int = 1, size: int = 20) -> Page:
    qs = print_batch_queryset(viewer).select_related("created_by").order_by("-id")
    return paginate(qs, page=page, size=size)


def print_batch_get(viewer: User, batch_id: int) -> PrintBatch:
    try:
        return print_batch_queryset(viewer).get(pk=batch_id)
    except (PrintBatch.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("print batch") from exc


def print_batch_messages(viewer: User, batch: PrintBatch) -> list[Message]:
    """The batch's pages the viewer may see, in print order."""
    return list(
        message_queryset(viewer)
        .filter(batch=batch)
        .select_related("customer", "customer__owner", "customer__store", "organisation")
        .order_by("id")
    )


def print_due_counts(viewer: User, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Letters and cards waiting for a print batch, per channel."""
    now = now or timezone.now()
    rows = (
        message_queryset(viewer)
        .filter(channel__in=PRINT_CHANNELS, status=Message.Status.QUEUED, scheduled_for__lte=now)
        .order_by()
        .values("channel")
        .annotate(n=Count("id"))
    )
    counts: dict[str, Any] = {channel: 0 for channel in sorted(PRINT_CHANNELS)}
    for row in rows:
        counts[row["channel"]] = row["n"]
    return counts
