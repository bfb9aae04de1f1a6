"""JSON endpoints of the outbox, mounted by the lead at /api/v1/outbox.

Same rules as the pages: the selectors apply the viewer's scope (another rep's customer, another
organisation, or a role without an outbox: 404), services do every write, phones leave the server
only through ``permissions.phone_for``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from huitou.accounts import permissions
from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE
from huitou.core.phones import mask_phone

from ..models import Channel, Message, PrintBatch, Purpose
from . import selectors, services

router = Router(tags=["outbox"])


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


def _shown_to(context: dict[str, Any] | None, message: Message) -> str:
    if message.channel != Channel.SMS or not message.to:
        return message.to
    request = (context or {}).get("request")
    user = getattr(request, "user", None)
    if user is None:
        return mask_phone(message.to)
    full = getattr(request, "_huitou_full_phone", None)
    if full is None:
        full = permissions.sees_full_phone(user)
        request._huitou_full_phone = full  # type: ignore[union-attr]
    return permissions.phone_for(user, message.to, full=full)


class MessageListQuery(Schema):
    status: Message.Status | None = None
    channel: Channel | None = None
    purpose: Purpose | None = None
    date_from: dt.date | None = Field(None, description="First local day of the send time")
    date_to: dt.date | None = Field(None, description="Last local day of the send time (included)")
    q: str = Field("", max_length=64, description="Customer name (2+ characters), phone, plate or VIN")
    customer_id: int | None = None
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class MessageOut(Schema):
    id: int
    customer_id: int
    customer_name: str
    channel: str
    purpose: str
    status: str
    to: str = Field(description="Phone (masked by role), e-mail or postal address")
    subject: str
    body: str
    template_code: str
    params: dict[str, Any] | list[Any]
    rule_id: int | None
    occurrence: str
    provider: str
    provider_message_id: str
    attempts: int
    last_error: str
    scheduled_for: dt.datetime
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    batch_id: int | None
    created_at: dt.datetime

    @staticmethod
    def resolve_customer_name(obj: Message) -> str:
        return obj.customer.name

    @staticmethod
    def resolve_to(obj: Message, context: dict[str, Any] | None) -> str:
        return _shown_to(context, obj)


class MessageListOut(Schema):
    items: list[MessageOut]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool = Field(description="True when there are more than ``total`` matches")


class BatchOut(Schema):
    id: int
    created_at: dt.datetime
    created_by_id: int | None
    count: int


class BatchListOut(Schema):
    items: list[BatchOut]
    page: int
    size: int
    has_next: bool


class BatchListQuery(Schema):
    page: int = Field(1, ge=1)
    size: int = Field(20, ge=1, le=MAX_PAGE_SIZE)


class BatchCreateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(
        None, pattern="^(letter|card)$", description="letter, card, or both when empty"
    )
    message_ids: list[int] | None = Field(None, description="Only these messages (those due and visible)")


@router.get("/messages", response=_responses(MessageListOut), summary="List outbox messages")
def message_list(request: AuthedRequest, filters: Query[MessageListQuery]) -> Any:
    page = selectors.message_list(
        request.user,
        selectors.MessageFilters(
            status=filters.status or "",
            channel=filters.channel or "",
            purpose=filters.purpose or "",
            date_from=filters.date_from,
            date_to=filters.date_to,
            q=filters.q.strip(),
            customer_id=filters.customer_id,
        ),
        page=filters.page,
        size=filters.size,
    )
    return page_out(page)


@router.get("/messages/{int:message_id}", response=_responses(MessageOut), summary="One outbox message")
def message_detail(request: AuthedRequest, message_id: int) -> Any:
    return selectors.message_get(request.user, message_id)


@router.post("/messages/{int:message_id}/cancel", response=_responses(MessageOut), summary="Cancel a message")
def message_cancel(request: AuthedRequest, message_id: int) -> Any:
    services.message_cancel(actor=request.user, message_id=message_id)
    return selectors.message_get(request.user, message_id)


@router.post(
    "/messages/{int:message_id}/retry",
    response=_responses(MessageOut),
    summary="Queue a failed message again",
)
def message_retry(request: AuthedRequest, message_id: int) -> Any:
    services.message_retry(actor=request.user, message_id=message_id)
    return selectors.message_get(request.user, message_id)


@router.get("/batches", response=_responses(BatchListOut), summary="Print batches")
def batch_list(request: AuthedRequest, filters: Query[BatchListQuery]) -> Any:
    page = selectors.print_batches(request.user, page=filters.page, size=filters.size)
    return {"items": page.items, "page": page.number, "size": page.size, "has_next": page.has_next}


@router.post("/batches", response=_responses(BatchOut, 201), summary="Print the due letters and cards")
def batch_create(request: AuthedRequest, payload: BatchCreateIn) -> Any:
    batch: PrintBatch = services.print_batch_create(
        actor=request.user, channel=payload.channel or None, message_ids=payload.message_ids
    )
    return Status(201, batch)


@router.get(
    "/batches/{int:batch_id}/pdf",
    response={200: None, **ERROR_RESPONSES},
    summary="A print batch as one PDF",
    openapi_extra={"responses": {200: {"content": {"application/pdf": {}}, "description": "The PDF"}}},
)
def batch_pdf(request: AuthedRequest, batch_id: int) -> Any:
    data = services.print_batch_pdf(actor=request.user, batch_id=batch_id)
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="print-batch-{batch_id}.pdf"'
    return response
