"""JSON endpoints of the referral insights (mounted at /api/v1/referrals/insights).

Same rules as the pages: everything is limited to the caller's scope; the scorecard is for reps
(their own row), managers (their people) and the owner; the referrer type is set by the customer's
rep, a manager or the owner. Outside the scope answers 404, a role that may never do it 403.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone
from ninja import Field, Query, Router, Schema
from pydantic import ConfigDict

from huitou.accounts import permissions
from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.errors import PermissionDenied
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE, paginate

from . import insights, referrers
from .models import ReferrerType

router = Router(tags=["referrals"])


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


def _month(value: str | None) -> dt.date | None:
    if not value:
        return None
    return dt.date.fromisoformat(value + "-01")


MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class PeriodQuery(Schema):
    start: str | None = Field(
        None, pattern=MONTH, description="First month, YYYY-MM (default: 11 months before end)"
    )
    end: str | None = Field(None, pattern=MONTH, description="Last month, YYYY-MM (default: this month)")
    store_id: int | None = None

    def period(self) -> tuple[dt.date, dt.date]:
        end = _month(self.end) or insights.month_first(timezone.localdate())
        start = _month(self.start) or insights.add_months(end, -11)
        return start, end


# ---------------------------------------------------------------------------------------------
# Scorecard


class ScorecardQuery(Schema):
    month: str | None = Field(None, pattern=MONTH, description="YYYY-MM; default: this month")
    store_id: int | None = None
    team_id: int | None = None


class ScoreRowOut(Schema):
    user_id: int
    username: str
    name: str
    store: str
    team: str
    sold: int = Field(description="Sales by the rep whose quota deadline falls in the month")
    met: int
    pending: int
    missed: int
    verified: int = Field(description="Credited referrals verified in the month that still count")
    won: int = Field(description="Credited referrals won in the month")
    faked: int = Field(description="Credited referrals found faked in the month")
    reward: Decimal = Field(description="verified × rep_reward_verified + won × rep_reward_won")
    penalty: Decimal = Field(description="missed × rep_penalty_missed + faked × rep_penalty_fake")
    net: Decimal


class ScoreRulesOut(Schema):
    quota: int
    quota_days: int
    rep_reward_verified: Decimal
    rep_reward_won: Decimal
    rep_penalty_missed: Decimal
    rep_penalty_fake: Decimal


class ScorecardOut(Schema):
    month: str
    delivered_from: dt.date = Field(description="Sales delivered from this day…")
    delivered_to: dt.date = Field(description="…to this day have their deadline in the month")
    rules: ScoreRulesOut
    rows: list[ScoreRowOut]
    totals: ScoreRowOut


def _score_out(r: insights.ScoreRow) -> dict[str, Any]:
    return {**r.__dict__, "net": r.net}


@router.get("/scorecard", response=_responses(ScorecardOut), summary="Rep scorecard for a month")
def scorecard(request: AuthedRequest, filters: Query[ScorecardQuery]) -> Any:
    viewer = request.user
    if not insights.can_view_scorecard(viewer):
        raise PermissionDenied("scorecards are for reps, managers and the owner")
    month = _month(filters.month) or insights.month_first(timezone.localdate())
    card = insights.scorecard(viewer, month=month, store_id=filters.store_id, team_id=filters.team_id)
    p = card.policy
    return {
        "month": card.month.strftime("%Y-%m"),
        "delivered_from": card.delivered_from,
        "delivered_to": card.delivered_to,
        "rules": {
            "quota": p.quota,
            "quota_days": p.quota_days,
            "rep_reward_verified": p.rep_reward_verified,
            "rep_reward_won": p.rep_reward_won,
            "rep_penalty_missed": p.rep_penalty_missed,
            "rep_penalty_fake": p.rep_penalty_fake,
        },
        "rows": [_score_out(r) for r in card.rows],
        "totals": _score_out(card.totals),
    }


# ---------------------------------------------------------------------------------------------
# Figures


class ViralOut(Schema):
    store_id: int | None
    store: str
    month: str
    sold: int = Field(description="Customers with a sale delivered in the month")
    won: int = Field(description="Referrals won in the month")
    coefficient: float | None = Field(description="won ÷ sold; null without sales")


@router.get("/viral", response=_responses(list[ViralOut]), summary="Viral coefficient per store and month")
def viral(request: AuthedRequest, filters: Query[PeriodQuery]) -> Any:
    start, end = filters.period()
    rows = insights.viral_coefficient(request.user, start=start, end=end, store_id=filters.store_id)
    return [
        {
            "store_id": r.store_id,
            "store": r.store,
            "month": r.month.strftime("%Y-%m"),
            "sold": r.sold,
            "won": r.won,
            "coefficient": r.coefficient,
        }
        for r in rows
    ]


class CurveBinOut(Schema):
    month: int = Field(description="Whole months since delivery (0: the first month)")
    eligible: int = Field(description="Sales whose month k is over")
    referred: int = Field(description="Of those, sales whose customer made a counted referral in month k")
    share: float | None


@router.get(
    "/curve", response=_responses(list[CurveBinOut]), summary="Referral rate by months since delivery"
)
def curve(request: AuthedRequest, filters: Query[PeriodQuery]) -> Any:
    start, end = filters.period()
    bins = insights.referral_curve(request.user, start=start, end=end, store_id=filters.store_id)
    return [
        {"month": b.month, "eligible": b.eligible, "referred": b.referred, "share": b.share} for b in bins
    ]


class FunnelRowOut(Schema):
    id: int | None
    name: str
    submitted: int
    verified: int
    contacted: int
    quoted: int
    won: int
    overall: float | None = Field(description="won ÷ submitted")


class FunnelOut(Schema):
    by_rep: list[FunnelRowOut]
    by_store: list[FunnelRowOut]
    total: FunnelRowOut


def _funnel_row(r: insights.FunnelRow) -> dict[str, Any]:
    return {
        "id": r.key,
        "name": r.name,
        **{s: r.count(s) for s in insights.FUNNEL_STAGES},
        "overall": r.overall,
    }


@router.get("/funnel", response=_responses(FunnelOut), summary="Referral funnel per rep and store")
def funnel(request: AuthedRequest, filters: Query[PeriodQuery]) -> Any:
    start, end = filters.period()
    f = insights.referral_funnel(request.user, start=start, end=end, store_id=filters.store_id)
    return {
        "by_rep": [_funnel_row(r) for r in f.by_rep],
        "by_store": [_funnel_row(r) for r in f.by_store],
        "total": _funnel_row(f.total),
    }


# ---------------------------------------------------------------------------------------------
# Base customers and chains


class BaseCustomersQuery(Schema):
    store_id: int | None = None
    referrer_type: ReferrerType | None = None
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class SuggestionOut(Schema):
    referrer_type: str
    reason: str


class BaseCustomerOut(Schema):
    customer_id: int
    name: str
    store: str
    owner: str
    won: int
    verified: int
    submitted: int
    revenue_brought: Decimal
    referrer_type: str
    suggestion: SuggestionOut | None
    last_referral_at: dt.datetime | None


class BaseCustomerPageOut(Schema):
    items: list[BaseCustomerOut]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool


@router.get(
    "/base-customers",
    response=_responses(BaseCustomerPageOut),
    summary="Base customers ranked by referrals won",
)
def base_customers(request: AuthedRequest, filters: Query[BaseCustomersQuery]) -> Any:
    viewer = request.user
    qs = insights.base_customer_queryset(
        viewer, store_id=filters.store_id, referrer_type=filters.referrer_type or ""
    )
    page = paginate(qs, page=filters.page, size=filters.size)
    out = page_out(page)
    out["items"] = [
        {
            "customer_id": r["referrer_id"],
            "name": r["name"],
            "store": r["store"],
            "owner": r["owner"],
            "won": r["won"],
            "verified": r["counted"],
            "submitted": r["made"],
            "revenue_brought": r["revenue"],
            "referrer_type": r["referrer_type"],
            "suggestion": (
                {"referrer_type": r["suggestion"].referrer_type, "reason": r["suggestion"].reason}
                if r["suggestion"]
                else None
            ),
            "last_referral_at": r["last_at"],
        }
        for r in insights.base_customer_rows(viewer, page.items)
    ]
    return out


class ChainNodeOut(Schema):
    customer_id: int | None = Field(description="null for someone outside the caller's scope")
    name: str = Field(description="empty for someone outside the caller's scope")
    generation: int
    revenue: Decimal = Field(description="Their own sales (non-service purchases)")
    subtree_revenue: Decimal = Field(description="Theirs and everyone they brought, over the generations")
    descendants: int
    children: list[ChainNodeOut]


class ChainOut(Schema):
    customer_id: int
    tree: ChainNodeOut
    upward: list[ChainNodeOut] = Field(
        description="From the first referrer down to this customer's referrer (revenue not read: 0)"
    )
    brought_revenue: Decimal
    truncated: bool
    depth_limited: bool


def _node(n: insights.ChainNode, *, with_children: bool = True) -> dict[str, Any]:
    return {
        "customer_id": n.customer_id if n.visible else None,
        "name": n.name if n.visible else "",
        "generation": n.depth,
        "revenue": n.revenue,
        "subtree_revenue": n.subtree_revenue,
        "descendants": n.descendants,
        "children": [_node(c) for c in n.children] if with_children else [],
    }


@router.get(
    "/chains/{int:customer_id}", response=_responses(ChainOut), summary="Referral chain of a customer"
)
def chain(request: AuthedRequest, customer_id: int) -> Any:
    c = insights.referral_chain(request.user, customer_id)
    upward = [_node(n, with_children=False) for n in c.upward]
    return {
        "customer_id": customer_id,
        "tree": _node(c.root),
        "upward": upward,
        "brought_revenue": c.brought_revenue,
        "truncated": c.truncated,
        "depth_limited": c.depth_limited,
    }


# ---------------------------------------------------------------------------------------------
# Referrer type


class ReferrerIn(Schema):
    model_config = ConfigDict(use_enum_values=True, extra="forbid")

    referrer_type: ReferrerType | None = Field(None, description="null or omitted clears the type")
    refuses_rewards: bool | None = Field(None, description="Omitted: unchanged")
    asked_for_help: str | None = Field(None, max_length=255, description="Omitted: unchanged")
    note: str | None = Field(None, max_length=2000, description="Omitted: unchanged")
    version: int | None = Field(
        None, ge=0, description="The profile version read (0: none yet); another one on the server → 409"
    )


class ReferrerOut(Schema):
    customer_id: int
    referrer_type: str
    refuses_rewards: bool
    asked_for_help: str
    note: str
    version: int
    advice: str
    suggestion: SuggestionOut | None


def _referrer_out(viewer: Any, customer_id: int) -> dict[str, Any]:
    profile = referrers.referrer_profile_get(viewer, customer_id)
    evidence = referrers.referrer_evidence(viewer, [customer_id])[customer_id]
    suggestion = referrers.suggestions_for([evidence])[0]
    kind = profile.referrer_type if profile else ""
    return {
        "customer_id": customer_id,
        "referrer_type": kind,
        "refuses_rewards": profile.refuses_rewards if profile else False,
        "asked_for_help": profile.asked_for_help if profile else "",
        "note": profile.note if profile else "",
        "version": profile.version if profile else 0,
        "advice": referrers.advice_for(kind),
        "suggestion": (
            {"referrer_type": suggestion.referrer_type, "reason": suggestion.reason} if suggestion else None
        ),
    }


@router.get(
    "/referrers/{int:customer_id}", response=_responses(ReferrerOut), summary="A customer as a referrer"
)
def referrer_get(request: AuthedRequest, customer_id: int) -> Any:
    return _referrer_out(request.user, customer_id)


@router.put(
    "/referrers/{int:customer_id}",
    response=_responses(ReferrerOut),
    summary="Set a customer's referrer type (their rep, a manager or the owner)",
)
def referrer_put(request: AuthedRequest, customer_id: int, payload: ReferrerIn) -> Any:
    if not permissions.is_active_member(request.user):
        raise PermissionDenied("no organisation")
    data = payload.model_dump()
    referrers.referrer_type_set(
        actor=request.user,
        customer_id=customer_id,
        referrer_type=data.pop("referrer_type") or "",
        **data,
    )
    return _referrer_out(request.user, customer_id)
