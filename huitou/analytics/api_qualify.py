"""JSON endpoints of lead qualification, mounted at ``/api/v1/analytics/qualify``. Same checks as the
pages: every active member reads within their scope, the owner, managers and reps qualify and see
the time split (403 for other roles); customers outside the caller's scope are 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.errors import PermissionDenied, ValidationFailed
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE, paginate

from . import qualify
from .forms_qualify import MAX_PERIOD_DAYS
from .models_qualify import Qualification


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


class QualificationOut(Schema):
    customer_id: int
    customer_name: str
    customer_status: str
    owner_id: int | None
    store_id: int | None
    need: bool
    money: bool
    authority: bool
    apple: str
    note: str
    updated_by_id: int | None
    updated_at: dt.datetime
    version: int


class QualificationPageOut(Schema):
    items: list[QualificationOut]
    counts: dict[str, int]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool


class ListQuery(Schema):
    apple: Qualification.Apple | None = None
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None
    status: str = Field("", max_length=10)
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class CardOut(Schema):
    customer_id: int
    qualification: QualificationOut | None
    customer_type: str
    type_strategy: str
    suggested_type: str
    suggested_strategy: str
    can_edit: bool


class QualifyIn(Schema):
    model_config = ConfigDict(extra="forbid")
    need: bool
    money: bool
    authority: bool
    note: str = Field("", max_length=255)
    version: int | None = Field(
        None, ge=0, description="The version you read (0: none yet), to refuse a lost update"
    )


class TimeQuery(Schema):
    start: dt.date | None = Field(None, description="Default: 90 days before the end")
    end: dt.date | None = Field(None, description="Default: today")
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None


class TimeRowOut(Schema):
    rep_id: int
    rep: str
    minutes: dict[str, float]
    shares: dict[str, float]
    off_target: dict[str, bool]
    total_minutes: float


class TimeSplitOut(Schema):
    start: dt.date
    end: dt.date
    targets: dict[str, int] = Field(description="red and green: minimum %, rotten: maximum %")
    minutes_per_kind: dict[str, int]
    rows: list[TimeRowOut]
    total_minutes: dict[str, float]
    total_shares: dict[str, float]


def _q(q: Qualification) -> dict[str, Any]:
    c = q.customer
    return {
        "customer_id": q.customer_id,
        "customer_name": c.name,
        "customer_status": c.status,
        "owner_id": c.owner_id,
        "store_id": c.store_id,
        "need": q.need,
        "money": q.money,
        "authority": q.authority,
        "apple": q.apple,
        "note": q.note,
        "updated_by_id": q.updated_by_id,
        "updated_at": q.updated_at,
        "version": q.version,
    }


def _card(viewer: Any, customer_id: int) -> dict[str, Any]:
    card = qualify.qualify_card(viewer, customer_id)
    q = card.qualification
    if q is not None:
        q.customer = card.customer
    return {
        "customer_id": card.customer.pk,
        "qualification": _q(q) if q else None,
        "customer_type": card.customer.customer_type,
        "type_strategy": card.type_strategy,
        "suggested_type": card.suggested_type,
        "suggested_strategy": card.suggested_strategy,
        "can_edit": card.can_edit,
    }


def _by_apple(values: tuple[Any, Any, Any]) -> dict[str, Any]:
    return dict(zip(qualify.APPLES, values, strict=True))


def build_router() -> Router:
    """A fresh router (a router can be attached to one API only; tests attach their own)."""
    router = Router(tags=["analytics"])

    def _viewer(request: AuthedRequest) -> Any:
        if not qualify.can_view(request.user):
            raise PermissionDenied("only members of the organisation see qualifications")
        return request.user

    @router.get(
        "", response=_responses(QualificationPageOut), summary="Qualified leads in the caller's scope"
    )
    def qualify_list(request: AuthedRequest, filters: Query[ListQuery]) -> Any:
        viewer = _viewer(request)
        f = qualify.QualifyFilters(
            apple=filters.apple or "",
            store_id=filters.store_id,
            team_id=filters.team_id,
            rep_id=filters.rep_id,
            status=filters.status,
        )
        page = paginate(qualify.qualified_list(viewer, f), page=filters.page, size=filters.size)
        out = page_out(page)
        out["items"] = [_q(q) for q in page.items]
        out["counts"] = qualify.apple_counts(viewer, f)
        return out

    @router.get(
        "/customers/{customer_id}",
        response=_responses(CardOut),
        summary="A customer's apple, and their type with its strategy",
    )
    def qualify_customer(request: AuthedRequest, customer_id: int) -> Any:
        return _card(_viewer(request), customer_id)

    @router.put(
        "/customers/{customer_id}",
        response=_responses(CardOut),
        summary="Set a customer's need, money and decision power (their rep, a manager or the owner)",
    )
    def qualify_set(request: AuthedRequest, customer_id: int, data: QualifyIn) -> Any:
        viewer = _viewer(request)
        if not qualify.can_qualify(viewer):
            raise PermissionDenied("only the customer's rep, a manager or the owner qualify customers")
        qualify.qualification_set(
            actor=viewer,
            customer_id=customer_id,
            need=data.need,
            money=data.money,
            authority=data.authority,
            note=data.note,
            version=data.version,
        )
        return _card(viewer, customer_id)

    @router.get(
        "/time",
        response=_responses(TimeSplitOut),
        summary="Each rep's time on red, green and rotten apples against the policy",
    )
    def qualify_time(request: AuthedRequest, filters: Query[TimeQuery]) -> Any:
        viewer = request.user
        if not qualify.can_view_time(viewer):
            raise PermissionDenied("only the owner, managers and reps see the time split")
        end = filters.end or timezone.localdate()
        start = filters.start or end - dt.timedelta(days=89)
        if end < start or (end - start).days > MAX_PERIOD_DAYS:
            raise ValidationFailed({"start": ["choose a period of at most three years, start before end"]})
        split = qualify.time_split(
            viewer,
            start=start,
            end=end,
            store_id=filters.store_id,
            team_id=filters.team_id,
            rep_id=filters.rep_id,
        )
        return {
            "start": start,
            "end": end,
            "targets": _by_apple(split.targets),
            "minutes_per_kind": split.minutes_per_kind,
            "rows": [
                {
                    "rep_id": r.rep_id,
                    "rep": r.rep,
                    "minutes": _by_apple(r.minutes),
                    "shares": _by_apple(r.shares),
                    "off_target": _by_apple(r.flags),
                    "total_minutes": r.total,
                }
                for r in split.rows
            ],
            "total_minutes": _by_apple(split.total_minutes),
            "total_shares": _by_apple(split.total_shares),
        }

    return router


router = build_router()
