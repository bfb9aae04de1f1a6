"""JSON endpoints of the crisis-signal part, mounted at ``/api/v1/analytics/risk``. Same checks
as the pages: owner, managers and reps only (403 for other roles), customers outside the
caller's scope are 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.errors import PermissionDenied
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE, paginate

from . import risk_selectors as sel
from . import risk_services
from .models import CustomerLoss, CustomerRisk, WinBack

router = Router(tags=["analytics"])


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


def _viewer(request: AuthedRequest) -> Any:
    if not sel.can_view_risk(request.user):
        raise PermissionDenied("only the owner, managers and reps see crisis signals")
    return request.user


class ListQuery(Schema):
    store_id: int | None = None
    rep_id: int | None = None
    min_score: int | None = Field(None, ge=0, le=100, description="Default: the policy threshold")
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class ReasonOut(Schema):
    code: str
    text: str
    values: dict[str, Any]


class RiskOut(Schema):
    customer_id: int
    customer_name: str
    owner_id: int | None
    store_id: int | None
    as_of: dt.date
    score: int
    p_alive: float | None
    days_since_last: int
    gap_ratio: float | None
    spend_trend: float | None
    open_complaints: int
    low_satisfaction: int
    late_payment_days: int
    competitor_contact: bool
    reasons: list[ReasonOut]
    open_winback_id: int | None = None


class RiskPageOut(Schema):
    as_of: dt.date | None
    threshold: int
    items: list[RiskOut]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool


class WinBackOut(Schema):
    id: int
    customer_id: int
    task_id: int | None
    approach: str
    status: str
    score_at_start: int
    started_on: dt.date
    saved_on: dt.date | None


class LossOut(Schema):
    id: int
    customer_id: int
    reason: str
    note: str
    lost_on: dt.date
    won_back_on: dt.date | None


class CustomerRiskOut(Schema):
    customer_id: int
    status: str
    risk: RiskOut | None
    threshold: int
    open_winback: WinBackOut | None
    winbacks: list[WinBackOut]
    losses: list[LossOut]
    concession_ids: list[int] = Field(description="Concessions of the customer's complaints (feedback app)")


class WinBackIn(Schema):
    model_config = ConfigDict(extra="forbid")
    approach: WinBack.Approach


class LostIn(Schema):
    model_config = ConfigDict(extra="forbid")
    reason: CustomerLoss.Reason
    note: str = Field("", max_length=255)


class SavesQuery(Schema):
    start: dt.date
    end: dt.date


class SavesOut(Schema):
    rep_id: int | None
    rep: str
    month: dt.date
    saves: int


def _risk(r: CustomerRisk, open_winback_id: int | None = None) -> dict[str, Any]:
    return {
        "customer_id": r.customer_id,
        "customer_name": r.customer.name,
        "owner_id": r.owner_id,
        "store_id": r.store_id,
        "as_of": r.as_of,
        "score": r.score,
        "p_alive": r.p_alive,
        "days_since_last": r.days_since_last,
        "gap_ratio": r.gap_ratio,
        "spend_trend": r.spend_trend,
        "open_complaints": r.open_complaints,
        "low_satisfaction": r.low_satisfaction,
        "late_payment_days": r.late_payment_days,
        "competitor_contact": r.competitor_contact,
        "reasons": [
            {"code": reason["code"], "text": text, "values": {k: v for k, v in reason.items() if k != "code"}}
            for reason, text in zip(r.reasons, sel.reasons_text(r.reasons), strict=True)
        ],
        "open_winback_id": open_winback_id,
    }


@router.get(
    "",
    response=_responses(RiskPageOut),
    summary="At-risk customers in the caller's scope, highest score first",
)
def risk_list(request: AuthedRequest, filters: Query[ListQuery]) -> Any:
    viewer = _viewer(request)
    f = sel.RiskFilters(store_id=filters.store_id, rep_id=filters.rep_id, min_score=filters.min_score)
    day, qs = sel.at_risk_list(viewer, f)
    page = paginate(qs, page=filters.page, size=filters.size)
    open_wb = sel.open_winbacks([r.customer_id for r in page.items])
    out = page_out(page)
    out["items"] = [_risk(r, getattr(open_wb.get(r.customer_id), "pk", None)) for r in page.items]
    out["as_of"] = day
    out["threshold"] = f.min_score if f.min_score is not None else sel.threshold(viewer)
    return out


def _card(viewer: Any, customer_id: int) -> dict[str, Any]:
    card = sel.customer_risk(viewer, customer_id)
    s = card.snapshot
    if s is not None:
        s.customer = card.customer
    return {
        "customer_id": card.customer.pk,
        "status": card.customer.status,
        "risk": _risk(s, getattr(card.open_winback, "pk", None)) if s else None,
        "threshold": card.threshold,
        "open_winback": card.open_winback,
        "winbacks": card.winbacks,
        "losses": card.losses,
        "concession_ids": [k.pk for k in card.concessions],
    }


@router.get(
    "/customers/{customer_id}", response=_responses(CustomerRiskOut), summary="A customer's risk with reasons"
)
def risk_customer(request: AuthedRequest, customer_id: int) -> Any:
    return _card(_viewer(request), customer_id)


@router.post(
    "/customers/{customer_id}/winback",
    response=_responses(WinBackOut, 201),
    summary="Start a win-back: a call task with the playbook's script (409 if one is open)",
)
def risk_winback(request: AuthedRequest, customer_id: int, body: WinBackIn) -> Any:
    viewer = _viewer(request)
    wb = risk_services.winback_start(actor=viewer, customer_id=customer_id, approach=str(body.approach))
    return Status(201, wb)


@router.post(
    "/customers/{customer_id}/lost",
    response=_responses(LossOut, 201),
    summary="Mark a customer lost with a termination reason (409 if already lost)",
)
def risk_lost(request: AuthedRequest, customer_id: int, body: LostIn) -> Any:
    viewer = _viewer(request)
    loss = risk_services.customer_mark_lost(
        actor=viewer, customer_id=customer_id, reason=str(body.reason), note=body.note
    )
    return Status(201, loss)


@router.get("/saves", response=_responses(list[SavesOut]), summary="Saves per rep and month")
def risk_saves(request: AuthedRequest, q: Query[SavesQuery]) -> Any:
    viewer = _viewer(request)
    return [r.__dict__ for r in sel.saves_by_rep_month(viewer, start=q.start, end=q.end)]
