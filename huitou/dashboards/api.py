"""JSON of the home page and the unified rep scorecard (to mount at /api/v1/dashboards).

Same rules as the pages: the figures are the caller's own dashboard (a rep's own work, a
manager's team, the owner's organisation, the DCRC's and after-sales' queues); the scorecard is
for reps (their own row), managers (their people) and the owner. A role without it gets 403.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from huitou.api.schemas import ERROR_RESPONSES
from huitou.core.errors import PermissionDenied
from huitou.core.http import AuthedRequest
from huitou.core.months import month_first

from . import scorecard as sc
from . import selectors

router = Router(tags=["dashboards"])

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _responses(ok: Any) -> dict[int, Any]:
    return {200: ok, **ERROR_RESPONSES}


class FigureOut(Schema):
    key: str
    label: str
    value: float | None = Field(description="Shares are 0..1; money in yuan")
    kind: str = Field(description="count, percent, money or number")
    capped: bool = Field(description="The count stopped at 1,000")
    url: str = Field(description="The page listing what the figure counts")
    filters: dict[str, str] = Field(description="The filters that page applies")


class ChartOut(Schema):
    kind: str
    labels: list[str]
    datasets: list[dict[str, Any]]
    percent: bool


class SectionOut(Schema):
    key: str
    title: str
    figures: list[FigureOut]
    chart: ChartOut | None
    note: str


class DashboardOut(Schema):
    role: str
    sections: list[SectionOut]


def _section_out(s: selectors.Section) -> dict[str, Any]:
    return {
        "key": s.key,
        "title": s.title,
        "note": s.note,
        "chart": s.chart.data if s.chart else None,
        "figures": [
            {
                "key": f.key,
                "label": f.label,
                "value": None if f.value is None else float(f.value),
                "kind": f.kind,
                "capped": f.capped,
                "url": f.url,
                "filters": f.filters,
            }
            for f in s.figures
        ],
    }


@router.get("/home", response=_responses(DashboardOut), summary="The caller's home-page figures")
def home(request: AuthedRequest) -> Any:
    viewer = request.user
    if not selectors.sections_for(viewer):
        raise PermissionDenied("no home page for this account")
    return {"role": viewer.role, "sections": [_section_out(s) for s in selectors.dashboard(viewer)]}


@router.get("/home/{key}", response=_responses(SectionOut), summary="One section of the caller's home page")
def home_section(request: AuthedRequest, key: str) -> Any:
    viewer = request.user
    if not selectors.can_view_section(viewer, key):
        raise PermissionDenied("not a section of this home page")
    return _section_out(selectors.dashboard_section(viewer, key))


class ScorecardQuery(Schema):
    month: str | None = Field(None, pattern=MONTH, description="YYYY-MM; default: this month")
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None


class RepScoreOut(Schema):
    user_id: int
    username: str
    name: str
    store: str
    team: str
    tasks_due: int = Field(description="Plan tasks due in the month, already due or done")
    tasks_on_time: int
    tasks_late: int
    tasks_missed: int
    tasks_overdue: int
    on_time_rate: float | None
    sold: int = Field(description="Sales whose referral-quota deadline falls in the month")
    quota_met: int
    quota_pending: int
    quota_missed: int
    verified: int
    won: int
    faked: int
    cvp_answers: int
    cvp_top: int
    cvp: float | None
    saved: int = Field(description="At-risk or lost customers won back in the month")
    lost: int = Field(description="Customers recorded lost in the month")
    reward: Decimal
    penalty: Decimal
    net: Decimal


class RepScorecardOut(Schema):
    month: str
    start: dt.date
    end: dt.date
    rows: list[RepScoreOut]
    totals: RepScoreOut


@router.get("/scorecard", response=_responses(RepScorecardOut), summary="Unified rep scorecard for a month")
def scorecard(request: AuthedRequest, filters: Query[ScorecardQuery]) -> Any:
    viewer = request.user
    if not sc.can_view_scorecard(viewer):
        raise PermissionDenied("scorecards are for reps, managers and the owner")
    month = (
        dt.date.fromisoformat(filters.month + "-01") if filters.month else month_first(timezone.localdate())
    )
    card = sc.rep_scorecard(
        viewer, month=month, store_id=filters.store_id, team_id=filters.team_id, rep_id=filters.rep_id
    )
    return {
        "month": f"{card.month:%Y-%m}",
        "start": card.start,
        "end": card.end,
        "rows": [sc.row_dict(r) for r in card.rows],
        "totals": sc.row_dict(card.totals),
    }
