"""JSON endpoints of the lead pipeline (mounted at /api/v1/referrals).

Same rules as the pages: a referral outside the caller's scope is 404, a role that may never do
the action 403 (the phone audit: DCRC, managers and the owner, never the lead's rep; working the
lead: its rep, managers, the owner; the fraud review: managers and the owner). A stage that does
not allow the move answers 409 with the reason. Phones are masked unless the caller's role sees
full numbers.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from huitou.accounts import permissions
from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.errors import Conflict, ValidationFailed
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE

from . import fraud, links, services
from .models import AuditOutcome, Channel, Referral, Relation, Stage

router = Router(tags=["referrals"])


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


class _In(Schema):
    model_config = ConfigDict(use_enum_values=True, extra="forbid")


def _refusal(call: Callable[[], Any]) -> Any:
    """Run a stage change; a refused move is 409 with its reason (not the generic "changed by
    someone else" of the API's Conflict handler)."""
    try:
        return call()
    except Conflict as exc:
        text = _(str(exc))
        text = text[:1].upper() + text[1:]
        return Status(409, {"detail": text, "errors": {"__all__": [text]}})


# ---------------------------------------------------------------------------------------------
# Schemas


class ReferralRowOut(Schema):
    id: int
    name: str
    phone: str = Field(description="Masked unless the caller's role sees full numbers")
    relation: str
    interest: str
    stage: str
    channel: str
    review: str = Field(description='"" (not flagged), pending, approved or rejected')
    flags: list[str] = Field(description="self_referral, duplicate, existing_customer, monthly_cap")
    submitted_at: dt.datetime
    audit_attempts: int
    version: int
    referrer_id: int
    referrer_name: str
    rep_id: int | None
    rep_name: str
    store_id: int | None
    store_name: str | None
    customer_id: int | None = Field(description="The referred person's customer record, once there is one")
    duplicate_of_id: int | None = Field(description="The first claim on the same person, for a duplicate")


class ReferralPageOut(Schema):
    items: list[ReferralRowOut]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool


class EventOut(Schema):
    at: dt.datetime
    action: str = Field(description="submit, audit, contact, quote, convert, win, lose, approve, reject")
    from_stage: str
    to_stage: str
    actor_id: int | None
    note: str


class ReferralOut(Schema):
    id: int
    name: str
    phone: str = Field(description="Masked unless the caller's role sees full numbers")
    wechat: str
    city: str
    relation: str
    interest: str
    product_id: int | None
    note: str
    channel: str
    event_name: str
    stage: str
    referrer_id: int
    rep_id: int | None
    store_id: int | None
    customer_id: int | None
    submitted_at: dt.datetime
    submitted_by_id: int | None
    audit_outcome: str
    audit_note: str
    audit_attempts: int
    audited_at: dt.datetime | None
    verified_at: dt.datetime | None
    contacted_at: dt.datetime | None
    quoted_at: dt.datetime | None
    closed_at: dt.datetime | None
    won_purchase_id: int | None
    lost_reason: str
    flags: list[str]
    duplicate_of_id: int | None
    review: str
    reviewed_at: dt.datetime | None
    review_note: str
    faked: bool
    counts: bool = Field(description="Counts toward quotas and rewards: verified and not held for review")
    version: int


class ReferralDetailOut(ReferralOut):
    reasons: list[str] = Field(description="The fraud flags in words")
    events: list[EventOut]


def _out(viewer: Any, referral: Referral) -> dict[str, Any]:
    data = {name: getattr(referral, name) for name in ReferralOut.model_fields if hasattr(referral, name)}
    data["phone"] = permissions.phone_for(viewer, referral.phone)
    data["counts"] = referral.counts
    return data


def _detail(viewer: Any, referral_id: int) -> dict[str, Any]:
    referral = services.referral_get(viewer, referral_id)
    data = _out(viewer, referral)
    data["reasons"] = fraud.explain(referral, policy=referral.organisation.policy.referrals)
    data["events"] = services.referral_events(referral)
    return data


class ListQuery(Schema):
    stage: Stage | None = None
    store_id: int | None = None
    rep_id: int | None = None
    channel: Channel | None = None
    flagged: bool | None = Field(None, description="true: flagged by a fraud rule; false: not flagged")
    start: dt.date | None = Field(None, description="Submitted on or after this day")
    end: dt.date | None = Field(None, description="Submitted on or before this day")
    q: str = Field("", max_length=64, description="Name, phone, or the phone's last 3–6 digits")
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class SubmitIn(_In):
    referrer_id: int = Field(..., description="The customer who refers (in the caller's scope)")
    name: str = Field(..., max_length=120)
    phone: str = Field(..., max_length=32, description="Mobile number; stored in E.164")
    relation: Relation = Relation.FRIEND
    interest: str = Field("", max_length=200)
    product_id: int | None = None
    wechat: str = Field("", max_length=64)
    city: str = Field("", max_length=32)
    note: str = ""
    channel: Literal["delivery", "call", "event", "club", "other"] = "delivery"
    event_name: str = Field("", max_length=120)


class AuditIn(_In):
    outcome: AuditOutcome
    note: str = ""
    version: int | None = Field(None, description="The version read; a newer one on the server → 409")


class AdvanceIn(_In):
    to: Literal["contacted", "quoted"]
    note: str = ""
    version: int | None = None


class WinIn(_In):
    purchase_id: int = Field(..., description="A sale (not a workshop visit) of the referred customer")
    version: int | None = None


class LoseIn(_In):
    reason: str = Field(..., max_length=255)
    version: int | None = None


class ReviewIn(_In):
    decision: Literal["approve", "reject"]
    note: str = ""
    faked: bool = Field(False, description="Mark a rejected referral as faked (a penalty for the rep)")


class BulkRowIn(_In):
    referrer: str = Field(..., description="Customer number or mobile phone of the referrer")
    name: str = ""
    phone: str = ""
    relation: str = Field("", description="A relation code, or friend/family/…, 朋友/家人/…; blank: other")
    interest: str = ""
    wechat: str = ""
    city: str = ""
    note: str = ""


class BulkIn(_In):
    channel: Literal["event", "club"]
    event_name: str = Field(..., max_length=120)
    rows: list[BulkRowIn] = Field(..., max_length=services.MAX_BULK_ROWS)


class BulkErrorOut(Schema):
    row: int = Field(description="Position of the row in ``rows``, from 1")
    field: str
    message: str


class BulkOut(Schema):
    created: list[int]
    flagged: list[int] = Field(description="Saved, but waiting for a manager's review")
    errors: list[BulkErrorOut]


class ConvertOut(Schema):
    customer_id: int


class LinkIn(_In):
    referrer_id: int


class LinkOut(Schema):
    id: int
    referrer_id: int
    url: str = Field(description="The public self-service page; put it in a QR code or an SMS")
    token: str
    expires_at: dt.datetime


# ---------------------------------------------------------------------------------------------
# Endpoints


@router.get(
    "",
    response=_responses(ReferralPageOut),
    summary="Referral leads in the caller's scope",
    url_name="referral_collection",
)
def referral_list(request: AuthedRequest, filters: Query[ListQuery]) -> Any:
    lead_filters = services.LeadFilters(
        stage=filters.stage or "",
        store_id=filters.store_id,
        rep_id=filters.rep_id,
        channel=filters.channel or "",
        flagged=filters.flagged,
        start=filters.start,
        end=filters.end,
        q=filters.q,
    )
    page = services.referral_list(request.user, lead_filters, page=filters.page, size=filters.size)
    out = page_out(page)
    out["items"] = [
        {
            **row,
            "phone": row["phone_display"],
            "referrer_name": row["referrer__name"],
            "store_name": row["store__name"],
        }
        for row in page.items
    ]
    return out


@router.post("", response=_responses(ReferralOut, 201), summary="Submit a referral")
def referral_submit(request: AuthedRequest, payload: SubmitIn) -> Any:
    from huitou.customers.models import Product
    from huitou.customers.selectors import customer_get

    viewer = request.user
    referrer = customer_get(viewer, payload.referrer_id)
    product = None
    if payload.product_id is not None:
        product = Product.objects.filter(
            pk=payload.product_id, organisation_id=referrer.organisation_id
        ).first()
        if product is None:
            raise ValidationFailed({"product_id": ["Unknown product."]})
    referral = services.referral_submit(
        actor=viewer,
        referrer=referrer,
        name=payload.name,
        phone=payload.phone,
        relation=str(payload.relation),
        interest=payload.interest,
        product=product,
        wechat=payload.wechat,
        city=payload.city,
        note=payload.note,
        channel=payload.channel,
        event_name=payload.event_name,
    )
    return Status(201, _out(viewer, referral))


@router.get(
    "/{int:referral_id}", response=_responses(ReferralDetailOut), summary="One referral and its history"
)
def referral_detail(request: AuthedRequest, referral_id: int) -> Any:
    return _detail(request.user, referral_id)


@router.post(
    "/{int:referral_id}/audit",
    response=_responses(ReferralOut),
    summary="Record the DCRC phone audit (DCRC, managers, owner; never the lead's rep)",
)
def referral_audit(request: AuthedRequest, referral_id: int, payload: AuditIn) -> Any:
    viewer = request.user
    return _refusal(
        lambda: _out(
            viewer,
            services.referral_audit(
                actor=viewer,
                referral_id=referral_id,
                outcome=str(payload.outcome),
                note=payload.note,
                version=payload.version,
            ),
        )
    )


@router.post(
    "/{int:referral_id}/advance", response=_responses(ReferralOut), summary="Contacted / visited, or quoted"
)
def referral_advance(request: AuthedRequest, referral_id: int, payload: AdvanceIn) -> Any:
    viewer = request.user
    return _refusal(
        lambda: _out(
            viewer,
            services.referral_advance(
                actor=viewer,
                referral_id=referral_id,
                to=payload.to,
                note=payload.note,
                version=payload.version,
            ),
        )
    )


@router.post(
    "/{int:referral_id}/convert",
    response=_responses(ConvertOut),
    summary="Create (or link) the referred person's customer record",
)
def referral_convert(request: AuthedRequest, referral_id: int) -> Any:
    return _refusal(
        lambda: {"customer_id": services.referral_convert(actor=request.user, referral_id=referral_id).pk}
    )


@router.post("/{int:referral_id}/win", response=_responses(ReferralOut), summary="Won: link the sale")
def referral_win(request: AuthedRequest, referral_id: int, payload: WinIn) -> Any:
    viewer = request.user
    return _refusal(
        lambda: _out(
            viewer,
            services.referral_win(
                actor=viewer,
                referral_id=referral_id,
                purchase_id=payload.purchase_id,
                version=payload.version,
            ),
        )
    )


@router.post(
    "/{int:referral_id}/lose",
    response=_responses(ReferralOut),
    summary="Lost (or a win undone in the refund window)",
)
def referral_lose(request: AuthedRequest, referral_id: int, payload: LoseIn) -> Any:
    viewer = request.user
    return _refusal(
        lambda: _out(
            viewer,
            services.referral_lose(
                actor=viewer, referral_id=referral_id, reason=payload.reason, version=payload.version
            ),
        )
    )


@router.post(
    "/{int:referral_id}/review",
    response=_responses(ReferralOut),
    summary="Approve or reject a flagged referral (managers, owner)",
)
def referral_review(request: AuthedRequest, referral_id: int, payload: ReviewIn) -> Any:
    viewer = request.user
    return _refusal(
        lambda: _out(
            viewer,
            services.referral_review(
                actor=viewer,
                referral_id=referral_id,
                decision=payload.decision,
                note=payload.note,
                faked=payload.faked,
            ),
        )
    )


@router.post("/bulk", response=_responses(BulkOut), summary="Referrals from an event or a customer club")
def referral_bulk(request: AuthedRequest, payload: BulkIn) -> Any:
    result = services.referrals_bulk_submit(
        actor=request.user,
        rows=[row.model_dump() for row in payload.rows],
        channel=payload.channel,
        event_name=payload.event_name,
    )
    return {
        "created": result.created,
        "flagged": result.flagged,
        "errors": [{"row": e.row, "field": e.field, "message": _(e.message)} for e in result.errors],
    }


@router.post("/links", response=_responses(LinkOut, 201), summary="A self-service link for a referrer")
def referral_link(request: AuthedRequest, payload: LinkIn) -> Any:
    link, token = services.referral_link_create(actor=request.user, referrer_id=payload.referrer_id)
    return Status(
        201,
        {
            "id": link.pk,
            "referrer_id": link.referrer_id,
            "url": links.public_url(token),
            "token": token,
            "expires_at": link.expires_at,
        },
    )
