"""JSON endpoints of the account reports (mounted at /api/v1/reports).

Same rules as the pages: figures come from the selectors, limited to the caller's scope; writes go
through the services. An account outside the scope answers 404, a role that may never do it 403.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from huitou.accounts import permissions
from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.errors import NotFound, PermissionDenied
from huitou.core.http import AuthedRequest
from huitou.core.months import add_months, month_first
from huitou.core.pagination import MAX_PAGE_SIZE, paginate

from . import selectors as sel
from . import services
from .models import StockCheck, WalletEstimate

router = Router(tags=["reports"])

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


def _member(request: AuthedRequest) -> Any:
    if not permissions.is_active_member(request.user):
        raise PermissionDenied("not a member")
    return request.user


# ---------------------------------------------------------------------------------------------
# Schemas


class PeriodOut(Schema):
    key: str
    start: dt.date
    end: dt.date
    sales: Decimal
    previous_sales: Decimal
    last_year_sales: Decimal
    growth_previous: float | None
    growth_last_year: float | None
    wallet: Decimal | None
    share_of_wallet: float | None
    cost: Decimal | None
    expense_ratio: float | None
    cost_growth: float | None
    cost_vs_sales: float | None
    promotion_sales: Decimal
    promotion_purchases: int
    paid: int
    late: int
    mean_delay_days: float | None
    max_delay_days: int | None
    visits_planned: int
    visits_planned_done: int
    visits_done: int


class AgeingOut(Schema):
    edges: list[int] = Field(description="Last day past due of each bucket after 'current'")
    buckets: list[Decimal] = Field(description="current, then one per edge, then past the last edge")
    outstanding: Decimal
    overdue: Decimal
    open_count: int
    overdue_count: int


class DelaysOut(Schema):
    paid: int
    late: int
    mean_days: float | None
    max_days: int | None


class PromotionRowOut(Schema):
    promotion_id: int
    name: str
    starts_on: dt.date
    ends_on: dt.date
    purchases: int
    promotion_sales: Decimal
    sales_during: Decimal
    sales_before: Decimal
    baseline_days: int
    lift: Decimal
    lift_rate: float | None


class StockCheckOut(Schema):
    id: int
    customer_id: int
    checked_on: dt.date
    checked_by: str
    display: str = Field(description="good, partial, poor or none")
    facings: int | None
    stock: str = Field(description="enough, low or out")
    out_of_stock: str
    note: str


class StockMonthOut(Schema):
    key: str
    check: StockCheckOut | None = Field(description="The month's latest check; null: not checked")


class StockStatusOut(Schema):
    latest: StockCheckOut | None
    months: list[StockMonthOut]
    checks_in_year: int


class AccountReportOut(Schema):
    customer_id: int
    name: str
    year: int
    months: list[PeriodOut]
    years: list[PeriodOut]
    receivables: AgeingOut
    delays: DelaysOut
    promotions: list[PromotionRowOut]
    stock: StockStatusOut | None = Field(
        description="Display and stock checks (null: the policy does not check this kind of account)"
    )


def _stock_check(c: StockCheck | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "id": c.pk,
        "customer_id": c.customer_id,
        "checked_on": c.checked_on,
        "checked_by": c.checked_by.label if c.checked_by else "",
        "display": c.display,
        "facings": c.facings,
        "stock": c.stock,
        "out_of_stock": c.out_of_stock,
        "note": c.note,
    }


def _stock_status(s: sel.StockStatus | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "latest": _stock_check(s.latest),
        "months": [{"key": m.key, "check": _stock_check(m.check)} for m in s.months],
        "checks_in_year": s.checks_in_year,
    }


def _period(r: sel.PeriodRow) -> dict[str, Any]:
    names = PeriodOut.model_fields.keys()
    return {k: getattr(r, k) for k in names}


@router.get(
    "/accounts/{int:customer_id}",
    response=_responses(AccountReportOut),
    summary="Account report: months of a year and the years up to it",
)
def account_report(request: AuthedRequest, customer_id: int, year: int | None = None) -> Any:
    viewer = _member(request)
    customer = sel.account_or_none(viewer, customer_id)
    if customer is None:
        raise NotFound("customer")
    report = sel.account_report(viewer, customer, year=year or timezone.localdate().year)
    a = report.ageing
    return {
        "customer_id": customer.pk,
        "name": customer.name,
        "year": report.year,
        "months": [_period(r) for r in report.months],
        "years": [_period(r) for r in report.years],
        "receivables": {
            "edges": list(report.ageing_edges),
            "buckets": list(a.buckets),
            "outstanding": a.outstanding,
            "overdue": a.overdue,
            "open_count": a.open_count,
            "overdue_count": a.overdue_count,
        },
        "delays": vars(report.delays),
        "promotions": [{**vars(p), "lift": p.lift, "lift_rate": p.lift_rate} for p in report.promotions],
        "stock": _stock_status(report.stock),
    }


class AccountsQuery(Schema):
    year: int | None = Field(None, ge=1900, le=2200, description="Default: this year (to date)")
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None
    kind: Literal["", "person", "company"] = ""
    sort: Literal["-id", "id", "name"] = "-id"
    stock_out: bool = Field(False, description="Only accounts whose latest stock check found stock out")
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class AccountRowOut(Schema):
    id: int
    name: str
    kind: str
    rep: str
    store: str
    sales: Decimal
    previous_sales: Decimal
    growth: float | None
    wallet: Decimal | None
    share_of_wallet: float | None
    outstanding: Decimal
    overdue: Decimal
    visits_planned: int
    visits_done: int


class AccountPageOut(Schema):
    items: list[AccountRowOut]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool


@router.get("/accounts", response=_responses(AccountPageOut), summary="Accounts in scope with their figures")
def accounts(request: AuthedRequest, filters: Query[AccountsQuery]) -> Any:
    viewer = _member(request)
    f = sel.AccountFilters(
        year=filters.year or timezone.localdate().year,
        store_id=filters.store_id,
        team_id=filters.team_id,
        rep_id=filters.rep_id,
        kind=filters.kind,
        sort=filters.sort,
        stock_out=filters.stock_out,
    )
    qs = sel.accounts_queryset(viewer, f).select_related("owner", "store")
    page = paginate(qs, page=filters.page, size=filters.size)
    rows = sel.account_rows(page.items, year=f.year, today=timezone.localdate())
    out = page_out(page)
    out["items"] = [{**vars(r), "growth": r.growth, "share_of_wallet": r.share_of_wallet} for r in rows]
    return out


class WalletIn(Schema):
    amount: Decimal = Field(ge=0, max_digits=16, decimal_places=2)
    source: Literal["rep", "customer", "import", "market"] = "rep"
    category: str = Field("", max_length=64)
    estimated_on: dt.date | None = None
    note: str = Field("", max_length=255)


class WalletOut(Schema):
    customer_id: int
    year: int
    amount: Decimal
    source: str
    category: str
    estimated_on: dt.date


@router.put(
    "/accounts/{int:customer_id}/wallet/{int:year}",
    response=_responses(WalletOut),
    summary="Set the account's total purchases in the category for a year",
)
def wallet_set(request: AuthedRequest, customer_id: int, year: int, payload: WalletIn) -> Any:
    e = services.wallet_estimate_set(
        actor=_member(request),
        customer_id=customer_id,
        year=year,
        amount=payload.amount,
        source=payload.source,
        category=payload.category,
        estimated_on=payload.estimated_on,
        note=payload.note,
    )
    return _wallet(e)


def _wallet(e: WalletEstimate) -> dict[str, Any]:
    return {
        "customer_id": e.customer_id,
        "year": e.year,
        "amount": e.amount,
        "source": e.source,
        "category": e.category,
        "estimated_on": e.estimated_on,
    }


@router.get(
    "/accounts/{int:customer_id}/wallet",
    response=_responses(list[WalletOut]),
    summary="The account's estimates of total purchases in the category",
)
def wallet_list(request: AuthedRequest, customer_id: int) -> Any:
    viewer = _member(request)
    customer = sel.account_or_none(viewer, customer_id)
    if customer is None:
        raise NotFound("customer")
    return [_wallet(e) for e in sel.wallet_estimates(viewer, customer)]


class StockCheckIn(Schema):
    checked_on: dt.date | None = Field(None, description="Default: today")
    display: Literal["good", "partial", "poor", "none"]
    facings: int | None = Field(None, ge=1)
    stock: Literal["enough", "low", "out"]
    out_of_stock: str = Field("", max_length=255, description="Which products are out")
    note: str = Field("", max_length=255)


@router.post(
    "/accounts/{int:customer_id}/stock-checks",
    response=_responses(StockCheckOut, 201),
    summary="Record a display and stock check of the account",
)
def stock_check_record(request: AuthedRequest, customer_id: int, payload: StockCheckIn) -> Any:
    c = services.stock_check_record(
        actor=_member(request),
        customer_id=customer_id,
        checked_on=payload.checked_on or timezone.localdate(),
        display=payload.display,
        stock=payload.stock,
        facings=payload.facings,
        out_of_stock=payload.out_of_stock,
        note=payload.note,
    )
    return Status(201, _stock_check(c))


@router.get(
    "/accounts/{int:customer_id}/stock-checks",
    response=_responses(list[StockCheckOut]),
    summary="The account's display and stock checks, newest first",
)
def stock_check_list(
    request: AuthedRequest,
    customer_id: int,
    limit: int = Query(100, ge=1, le=MAX_PAGE_SIZE),  # type: ignore[type-arg]
) -> Any:
    viewer = _member(request)
    customer = sel.account_or_none(viewer, customer_id)
    if customer is None:
        raise NotFound("customer")
    return [_stock_check(c) for c in sel.stock_checks(viewer, customer, limit=limit)]


# ---------------------------------------------------------------------------------------------
# Receivables and funnel


class ScopeQuery(Schema):
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None


class ReceivablesQuery(ScopeQuery):
    group: Literal["store", "rep"] = "store"


class AgeingRowOut(Schema):
    key: int | None
    name: str
    buckets: list[Decimal]
    outstanding: Decimal
    overdue: Decimal
    open_count: int
    overdue_count: int


class ReceivablesOut(Schema):
    edges: list[int]
    rows: list[AgeingRowOut]
    total: AgeingRowOut


def _ageing_row(r: sel.AgeingRow) -> dict[str, Any]:
    return {
        "key": r.key,
        "name": r.name,
        "buckets": list(r.buckets),
        "outstanding": r.outstanding,
        "overdue": r.overdue,
        "open_count": r.open_count,
        "overdue_count": r.overdue_count,
    }


@router.get(
    "/receivables", response=_responses(ReceivablesOut), summary="Receivables ageing per store or rep"
)
def receivables(request: AuthedRequest, filters: Query[ReceivablesQuery]) -> Any:
    viewer = _member(request)
    rows, total, edges = sel.receivables_ageing(
        viewer, group=filters.group, store_id=filters.store_id, team_id=filters.team_id, rep_id=filters.rep_id
    )
    return {"edges": list(edges), "rows": [_ageing_row(r) for r in rows], "total": _ageing_row(total)}


class FunnelQuery(ScopeQuery):
    start: str | None = Field(
        None, pattern=MONTH, description="First month, YYYY-MM (default: 11 months before end)"
    )
    end: str | None = Field(None, pattern=MONTH, description="Last month, YYYY-MM (default: this month)")


class FunnelRowOut(Schema):
    key: str | None
    name: str
    leads: int
    verified: int
    contacted: int
    quoted: int
    won: int
    prospects: int
    converted: int
    first_purchases: int
    first_purchase_sales: Decimal


class FunnelOut(Schema):
    start: dt.date
    end: dt.date
    by_rep: list[FunnelRowOut]
    by_store: list[FunnelRowOut]
    by_month: list[FunnelRowOut]
    total: FunnelRowOut


def _funnel_row(r: sel.FunnelRow) -> dict[str, Any]:
    out = {s: r.count(s) for s in sel.FUNNEL_STAGES}
    key = r.key.isoformat()[:7] if isinstance(r.key, dt.date) else (None if r.key is None else str(r.key))
    return {**out, "key": key, "name": r.name, "first_purchase_sales": r.first_purchase_sales}


@router.get("/funnel", response=_responses(FunnelOut), summary="Sales funnel per rep, store and month")
def funnel(request: AuthedRequest, filters: Query[FunnelQuery]) -> Any:
    viewer = _member(request)
    end = dt.date.fromisoformat(filters.end + "-01") if filters.end else month_first(timezone.localdate())
    start = dt.date.fromisoformat(filters.start + "-01") if filters.start else add_months(end, -11)
    months = (end.year * 12 + end.month) - (start.year * 12 + start.month)
    if months < 0 or months >= sel.MAX_FUNNEL_MONTHS:
        from huitou.core.errors import ValidationFailed

        raise ValidationFailed({"end": [f"a period covers 1 to {sel.MAX_FUNNEL_MONTHS} months"]})
    f = sel.sales_funnel(
        viewer,
        start=start,
        end=end,
        store_id=filters.store_id,
        team_id=filters.team_id,
        rep_id=filters.rep_id,
    )
    return {
        "start": f.start,
        "end": f.end,
        "by_rep": [_funnel_row(r) for r in f.by_rep],
        "by_store": [_funnel_row(r) for r in f.by_store],
        "by_month": [_funnel_row(r) for r in f.by_month],
        "total": _funnel_row(f.total),
    }


# ---------------------------------------------------------------------------------------------
# Promotions


class PromotionIn(Schema):
    name: str = Field(max_length=120)
    starts_on: dt.date
    ends_on: dt.date
    store_ids: list[int] = Field(default_factory=list, description="Empty: every store")
    purchase_kinds: list[Literal["first", "replacement", "expansion", "service"]] = Field(
        default_factory=list, description="Empty: every kind of purchase"
    )
    note: str = Field("", max_length=255)


class PromotionOut(Schema):
    id: int
    name: str
    starts_on: dt.date
    ends_on: dt.date
    store_ids: list[int]
    purchase_kinds: list[str]
    note: str


def _promotion(p: Any) -> dict[str, Any]:
    return {
        "id": p.pk,
        "name": p.name,
        "starts_on": p.starts_on,
        "ends_on": p.ends_on,
        "store_ids": sorted(s.pk for s in p.stores.all()),
        "purchase_kinds": list(p.purchase_kinds),
        "note": p.note,
    }


@router.get("/promotions", response=_responses(list[PromotionOut]), summary="Promotions, newest first")
def promotions(request: AuthedRequest, limit: int = Query(100, ge=1, le=MAX_PAGE_SIZE)) -> Any:  # type: ignore[type-arg]
    viewer = _member(request)
    rows = sel.promotion_queryset(viewer).prefetch_related("stores").order_by("-starts_on", "-id")[:limit]
    return [_promotion(p) for p in rows]


@router.post("/promotions", response=_responses(PromotionOut, 201), summary="Create a promotion")
def promotion_create(request: AuthedRequest, payload: PromotionIn) -> Any:
    p = services.promotion_create(
        actor=_member(request),
        name=payload.name,
        starts_on=payload.starts_on,
        ends_on=payload.ends_on,
        store_ids=payload.store_ids,
        purchase_kinds=list(payload.purchase_kinds),
        note=payload.note,
    )
    return Status(201, _promotion(p))


@router.put(
    "/promotions/{int:promotion_id}",
    response=_responses(PromotionOut),
    summary="Change a promotion (every field, as on create)",
)
def promotion_update(request: AuthedRequest, promotion_id: int, payload: PromotionIn) -> Any:
    p = services.promotion_update(
        actor=_member(request),
        promotion_id=promotion_id,
        name=payload.name,
        starts_on=payload.starts_on,
        ends_on=payload.ends_on,
        store_ids=payload.store_ids,
        purchase_kinds=list(payload.purchase_kinds),
        note=payload.note,
    )
    return _promotion(p)


class TagIn(Schema):
    purchase_id: int


class TagOut(Schema):
    promotion_id: int
    purchase_id: int
    customer_id: int


@router.post(
    "/promotions/{int:promotion_id}/purchases",
    response=_responses(TagOut, 201),
    summary="Tag a purchase as taking part in the promotion",
)
def promotion_tag(request: AuthedRequest, promotion_id: int, payload: TagIn) -> Any:
    t = services.promotion_purchase_tag(
        actor=_member(request), promotion_id=promotion_id, purchase_id=payload.purchase_id
    )
    return Status(
        201, {"promotion_id": t.promotion_id, "purchase_id": t.purchase_id, "customer_id": t.customer_id}
    )


@router.delete(
    "/promotion-purchases/{int:purchase_id}",
    response=_responses(None, 204),
    summary="Remove a purchase's promotion tag",
)
def promotion_untag(request: AuthedRequest, purchase_id: int) -> Any:
    services.promotion_purchase_untag(actor=_member(request), purchase_id=purchase_id)
    return Status(204, None)
