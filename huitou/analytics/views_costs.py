"""Best and worst customers (DOMAIN §2): margin against cost-to-serve over a period. Thin: the role
check here, scoping and figures in ``costs``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import numpy as np
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from huitou.core.http import AuthedRequest, positive_int
from huitou.core.http import require as _require
from huitou.core.xlsx import cell, respond, workbook

from . import costs
from .forms_qualify import CostFilterForm

PAGE_SIZE = 25
CHART_POINTS = 1500
XLSX_ROWS = 5000  # per list


class _ArrayPage:
    """A page over positions of a ranked array, shaped like ``core.pagination.Page`` for the pager."""

    def __init__(self, positions: np.ndarray, number: int, size: int) -> None:
        self.total = int(positions.size)
        last = max(1, -(-self.total // size))
        self.number = min(max(1, number), last)
        self.size = size
        lo = (self.number - 1) * size
        self.positions = positions[lo : lo + size]
        self.has_previous = self.number > 1
        self.has_next = lo + size < self.total
        self.start_index = lo + 1 if self.positions.size else 0
        self.end_index = lo + int(self.positions.size)


def _links(request: AuthedRequest, page: _ArrayPage, param: str) -> tuple[str, str]:
    kept = {k: v for k, v in request.GET.items() if k != param and v}
    prev_url = next_url = ""
    if page.has_previous:
        prev_url = request.path + "?" + urlencode({**kept, param: page.number - 1})
    if page.has_next:
        next_url = request.path + "?" + urlencode({**kept, param: page.number + 1})
    return prev_url, next_url


def _chart(table: costs.CostTable) -> dict[str, Any]:
    """Margin (x) against cost (y): the worst and best customers and an even sample of the rest."""
    n = table.customers
    if n <= CHART_POINTS:
        picks = np.arange(n)
    else:
        ends = np.r_[np.arange(CHART_POINTS // 4), np.arange(n - CHART_POINTS // 4, n)]
        middle = np.linspace(0, n - 1, CHART_POINTS // 2).astype(np.intp)
        picks = np.unique(np.r_[ends, middle])
    net = table.net[picks]
    points = [
        {"x": round(float(m), 2), "y": round(float(c), 2)}
        for m, c in zip(table.margin[picks], table.cost[picks], strict=True)
    ]
    return {
        "losing": [p for p, v in zip(points, net, strict=True) if v < -0.005],
        "gaining": [p for p, v in zip(points, net, strict=True) if v >= -0.005],
        "labels": {
            "losing": _("Cost more than they bring"),
            "gaining": _("Bring more than they cost"),
            "x": _("Margin (¥)"),
            "y": _("Cost to serve (¥)"),
        },
    }


def costs_xlsx_header() -> list[str]:
    with translation.override(settings.LANGUAGE_CODE):
        return [
            _("List"),
            _("Customer id"),
            _("Customer"),
            _("Rep"),
            _("Store"),
            _("Margin (¥)"),
            _("Tasks (¥)"),
            _("Visits (¥)"),
            _("Tickets (¥)"),
            _("Concessions (¥)"),
            _("Vouchers (¥)"),
            _("Gifts (¥)"),
            _("Cost to serve (¥)"),
            _("Margin − cost (¥)"),
        ]


def _xlsx(request: AuthedRequest, table: costs.CostTable, start: dt.date, end: dt.date) -> FileResponse:
    viewer = request.user
    wb = workbook()
    with translation.override(settings.LANGUAGE_CODE):
        ws = wb.create_sheet(_("Best and worst customers")[:31])
        names = {"worst": _("Worst"), "best": _("Best")}
    ws.append(costs_xlsx_header())
    for key, positions in (("worst", table.worst()[:XLSX_ROWS]), ("best", table.best()[:XLSX_ROWS])):
        ids = [int(i) for i in table.ids[positions]]
        for r in costs.cost_rows(viewer, start=start, end=end, customer_ids=ids):
            c = r.customer
            ws.append(
                [
                    names[key],
                    c.pk,
                    cell(c.name),
                    cell(str(c.owner)) if c.owner else "",
                    cell(c.store.name) if c.store else "",
                    r.margin,
                    r.cost.tasks,
                    r.cost.visits,
                    r.cost.tickets,
                    r.cost.concessions,
                    r.cost.vouchers,
                    r.cost.gifts,
                    r.cost.total,
                    r.net,
                ]
            )
    return respond(wb, f"best-worst-customers-{start.isoformat()}-{end.isoformat()}.xlsx")


@login_required
@require_GET
def costs_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(costs.can_view_costs(viewer))
    form = CostFilterForm(request.GET or None, viewer=viewer)
    start, end = form.period()
    filters = costs.CostFilters(
        store_id=form.value("store"), team_id=form.value("team"), rep_id=form.value("rep")
    )
    table = costs.cost_table(viewer, start=start, end=end, filters=filters)
    if request.GET.get("format") == "xlsx":
        return _xlsx(request, table, start, end)
    return _page(request, form, table, start, end)


def _page(
    request: AuthedRequest, form: CostFilterForm, table: costs.CostTable, start: dt.date, end: dt.date
) -> HttpResponse:
    viewer = request.user
    worst = _ArrayPage(table.worst(), positive_int(request.GET.get("worst_page")) or 1, PAGE_SIZE)
    best = _ArrayPage(table.best(), positive_int(request.GET.get("best_page")) or 1, PAGE_SIZE)
    page_ids = [int(i) for i in table.ids[np.r_[worst.positions, best.positions]]]
    exact = {r.customer.pk: r for r in costs.cost_rows(viewer, start=start, end=end, customer_ids=page_ids)}
    worst_rows = [exact[int(i)] for i in table.ids[worst.positions] if int(i) in exact]
    best_rows = [exact[int(i)] for i in table.ids[best.positions] if int(i) in exact]
    query = {k: v for k, v in request.GET.items() if k in {"start", "end", "store", "team", "rep"} and v}
    worst_prev, worst_next = _links(request, worst, "worst_page")
    best_prev, best_next = _links(request, best, "best_page")
    return render(
        request,
        "analytics/costs/page.html",
        {
            "form": form,
            "start": start,
            "end": end,
            "table": table,
            "losing_pct": round(table.losing_share * 100, 1),
            "total_margin": Decimal(str(round(float(table.margin.sum()), 2))),
            "total_cost": Decimal(str(round(float(table.cost.sum()), 2))),
            "worst": worst,
            "best": best,
            "worst_rows": worst_rows,
            "best_rows": best_rows,
            "worst_links": (worst_prev, worst_next),
            "best_links": (best_prev, best_next),
            "chart": _chart(table),
            "policy": viewer.organisation.policy.serve_costs,  # type: ignore[union-attr]
            "xlsx_url": request.path + "?" + urlencode({**query, "format": "xlsx"}),
            "cache_minutes": costs.CACHE_SECONDS // 60,
        },
    )
