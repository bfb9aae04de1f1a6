"""JSON endpoints of vouchers (mounted at /api/v1/referrals/vouchers).

Same rules as the pages: the list and a voucher by holder scope (404 outside it); redeeming by
code for the DCRC and after-sales desks, managers and the owner (403 for a rep); voiding for
managers and the owner. A refused redemption answers 409 with the reason (who redeemed it, where,
when), a mistyped code 422, an unknown one 404.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from huitou.accounts import permissions
from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.errors import PermissionDenied, ValidationFailed
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE, paginate

from . import voucher_selectors as sel
from .models import Voucher, VoucherEntry
from .vouchers import REDEEM_ROLES, VoucherRefused, code_display, voucher_redeem, voucher_void

router = Router(tags=["vouchers"])


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


class _In(Schema):
    model_config = ConfigDict(use_enum_values=True, extra="forbid")


class VoucherOut(Schema):
    id: int
    code: str
    code_display: str = Field(description="The code in two groups of five, as printed")
    kind: str
    value: Decimal
    status: str = Field(description="issued (outstanding), redeemed, expired or void")
    customer_id: int
    customer_name: str
    customer_phone: str = Field(description="Masked unless the caller's role sees full numbers")
    referral_id: int | None
    store_id: int | None
    rep_id: int | None
    issued_at: dt.datetime
    expires_on: dt.date = Field(description="Last day the voucher can be redeemed")
    redeemed_at: dt.datetime | None
    redeemed_store_id: int | None
    redeemed_by_id: int | None
    closed_at: dt.datetime | None = Field(description="When it expired or was voided")
    void_reason: str


class VoucherEntryOut(Schema):
    action: str = Field(description="issue, redeem, expire, void or refused")
    at: dt.datetime
    actor_id: int | None
    store_id: int | None
    note: str


class VoucherDetailOut(VoucherOut):
    entries: list[VoucherEntryOut]


class VoucherPageOut(Schema):
    items: list[VoucherOut]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool


class VoucherListQuery(Schema):
    status: Voucher.Status | None = None
    kind: Voucher.Kind | None = None
    store_id: int | None = None
    rep_id: int | None = None
    customer_id: int | None = None
    month: str = Field("", pattern=r"^(|\d{4}-(0[1-9]|1[0-2]))$", description="Month of issue, YYYY-MM")
    code: str = Field("", max_length=32, description="The code or its beginning")
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class RedeemIn(_In):
    code: str = Field(..., min_length=1, max_length=200, description="As typed or scanned")
    store_id: int | None = Field(None, description="The desk's store; default: the caller's store")


class VoidIn(_In):
    reason: str = Field(..., min_length=1, max_length=255)


class StatsQuery(Schema):
    start: dt.date | None = Field(None, description="First day of issue; default: 1 January this year")
    end: dt.date | None = Field(None, description="Last day of issue; default: today")
    store_id: int | None = None
    rep_id: int | None = None


class StatsRowOut(Schema):
    month: dt.date | None = Field(description="First day of the month of issue; null in the totals")
    store_id: int | None
    store: str
    rep_id: int | None
    rep: str
    issued: int
    issued_value: Decimal
    redeemed: int
    redeemed_value: Decimal
    expired: int
    expired_value: Decimal
    void: int
    void_value: Decimal
    outstanding: int
    outstanding_value: Decimal
    redemption_rate: float | None = Field(description="redeemed / issued; null when none were issued")


class StatsOut(Schema):
    start: dt.date
    end: dt.date
    rows: list[StatsRowOut]
    totals: StatsRowOut


def _voucher(v: Voucher, viewer: Any, full: bool) -> dict[str, Any]:
    phone = v.customer.phone
    return {
        "id": v.pk,
        "code": v.code,
        "code_display": code_display(v.code),
        "kind": v.kind,
        "value": v.value,
        "status": v.status,
        "customer_id": v.customer_id,
        "customer_name": v.customer.name,
        "customer_phone": permissions.phone_for(viewer, phone, full=full) if phone else "",
        "referral_id": v.referral_id,
        "store_id": v.store_id,
        "rep_id": v.rep_id,
        "issued_at": v.issued_at,
        "expires_on": v.expires_on,
        "redeemed_at": v.redeemed_at,
        "redeemed_store_id": v.redeemed_store_id,
        "redeemed_by_id": v.redeemed_by_id,
        "closed_at": v.closed_at,
        "void_reason": v.void_reason,
    }


def _entry(e: VoucherEntry) -> dict[str, Any]:
    return {"action": e.action, "at": e.at, "actor_id": e.actor_id, "store_id": e.store_id, "note": e.note}


def _row(r: sel.StatsRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "month": r.month,
        "store_id": r.store_id,
        "store": r.store,
        "rep_id": r.rep_id,
        "rep": r.rep,
        "redemption_rate": r.redemption_rate,
    }
    for c in sel.STAT_COLUMNS:
        out[c] = r.count(c)
        out[f"{c}_value"] = r.value(c)
    return out


@router.get("", response=_responses(VoucherPageOut), summary="Vouchers whose holder the caller may see")
def voucher_list(request: AuthedRequest, filters: Query[VoucherListQuery]) -> Any:
    viewer = request.user
    if not permissions.is_active_member(viewer):
        raise PermissionDenied("not a member")
    month = dt.date.fromisoformat(filters.month + "-01") if filters.month else None
    qs = sel.voucher_list(
        viewer,
        sel.VoucherFilters(
            status=filters.status or "",
            kind=filters.kind or "",
            store_id=filters.store_id,
            rep_id=filters.rep_id,
            customer_id=filters.customer_id,
            month=month,
            code=filters.code,
        ),
    )
    page = paginate(qs, page=filters.page, size=filters.size)
    full = permissions.sees_full_phone(viewer)
    out = page_out(page)
    out["items"] = [_voucher(v, viewer, full) for v in page.items]
    return out


@router.get(
    "/statistics", response=_responses(StatsOut), summary="The voucher statistics table (转介绍保养券统计表)"
)
def voucher_statistics(request: AuthedRequest, filters: Query[StatsQuery]) -> Any:
    viewer = request.user
    if not permissions.is_active_member(viewer):
        raise PermissionDenied("not a member")
    today = timezone.localdate()
    start = filters.start or today.replace(month=1, day=1)
    end = filters.end or today
    rows = sel.voucher_stats(viewer, start=start, end=end, store_id=filters.store_id, rep_id=filters.rep_id)
    return {
        "start": start,
        "end": end,
        "rows": [_row(r) for r in rows],
        "totals": _row(sel.stats_totals(rows)),
    }


@router.get("/{int:voucher_id}", response=_responses(VoucherDetailOut), summary="One voucher with its ledger")
def voucher_detail(request: AuthedRequest, voucher_id: int) -> Any:
    viewer = request.user
    voucher = sel.voucher_get(viewer, voucher_id)
    out = _voucher(voucher, viewer, permissions.sees_full_phone(viewer))
    out["entries"] = [_entry(e) for e in sel.voucher_ledger(voucher)]
    return out


@router.post(
    "/redeem",
    response=_responses(VoucherOut),
    summary="Redeem a voucher by its code (DCRC, after-sales, managers, owner); 409 if already used",
)
def voucher_redeem_endpoint(request: AuthedRequest, payload: RedeemIn) -> Any:
    from huitou.accounts.models import Store

    viewer = request.user
    if not permissions.is_active_member(viewer) or viewer.role not in REDEEM_ROLES:
        raise PermissionDenied("only the DCRC and after-sales desks, managers and the owner redeem")
    store = None
    if payload.store_id is not None:
        store = Store.objects.filter(organisation_id=permissions.org_id(viewer), pk=payload.store_id).first()
        if store is None:
            raise ValidationFailed({"store_id": ["not a store of your organisation"]})
    try:
        voucher = voucher_redeem(actor=viewer, code=payload.code, store=store)
    except VoucherRefused as exc:
        return Status(409, {"detail": exc.describe(), "errors": {"status": [exc.reason]}})
    return _voucher(voucher, viewer, permissions.sees_full_phone(viewer))


@router.post(
    "/{int:voucher_id}/void",
    response=_responses(VoucherOut),
    summary="Void an outstanding voucher (managers, owner)",
)
def voucher_void_endpoint(request: AuthedRequest, voucher_id: int, payload: VoidIn) -> Any:
    viewer = request.user
    voucher = voucher_void(actor=viewer, voucher_id=voucher_id, reason=payload.reason)
    voucher = sel.voucher_get(viewer, voucher.pk)
    return _voucher(voucher, viewer, permissions.sees_full_phone(viewer))
