"""Each role's home page and the unified rep scorecard.

Thin: the figures come from ``selectors`` and ``scorecard``, which read through the other apps'
selectors with the viewer's scope. A section that is not on the viewer's page, or a scorecard for
a role without one, is 403.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from huitou.accounts import permissions
from huitou.core.http import AuthedRequest
from huitou.core.http import require as _require
from huitou.core.months import month_start_after

from . import scorecard as sc
from . import selectors
from .forms import ScorecardForm

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@login_required
@require_GET
def home_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    plan = selectors.sections_for(viewer)
    if not plan:
        # No role page (no organisation, or left): the plan page says why.
        return redirect("followups:today")
    sections: list[dict[str, Any]] = []
    for key, lazy in plan:
        if lazy:
            sections.append({"key": key, "url": reverse("dashboards:section", args=[key])})
        else:
            sections.append({"key": key, "section": selectors.dashboard_section(viewer, key)})
    return render(
        request,
        "dashboards/home.html",
        {"sections": sections, "scorecard": sc.can_view_scorecard(viewer)},
    )


@login_required
@require_GET
def section_view(request: AuthedRequest, key: str) -> HttpResponse:
    viewer = request.user
    _require(selectors.can_view_section(viewer, key))
    return render(request, "dashboards/_section.html", {"section": selectors.dashboard_section(viewer, key)})


# ---------------------------------------------------------------------------------------------
# The unified rep scorecard


def headers() -> list[tuple[str, str]]:
    return [
        ("name", _("Rep")),
        ("store", _("Store")),
        ("team", _("Team")),
        ("tasks_due", _("Tasks due")),
        ("tasks_on_time", _("Done on time")),
        ("tasks_late", _("Done late")),
        ("tasks_missed", _("Missed")),
        ("tasks_overdue", _("Overdue")),
        ("on_time_rate", _("On-time rate")),
        ("sold", _("Sold customers (deadline in month)")),
        ("quota_met", _("Quota met")),
        ("quota_pending", _("Quota pending")),
        ("quota_missed", _("Quota missed")),
        ("verified", _("Verified referrals")),
        ("won", _("Won referrals")),
        ("faked", _("Faked referrals found")),
        ("cvp_answers", _("Survey answers")),
        ("cvp", _("CVP")),
        ("saved", _("At-risk customers saved")),
        ("lost", _("Customers lost")),
        ("reward", _("Reward (¥)")),
        ("penalty", _("Penalty (¥)")),
        ("net", _("Net (¥)")),
    ]


def scorecard_xlsx(card: sc.RepScorecard) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(card.month.strftime("%Y-%m"))
    keys = [k for k, _label in headers()]
    ws.append([label for _k, label in headers()])

    def cells(row: dict[str, Any]) -> list[Any]:
        out = []
        for k in keys:
            v = row[k]
            if isinstance(v, Decimal):
                v = float(v)
            elif isinstance(v, float):
                v = round(v, 4)
            out.append(v)
        return out

    for r in card.rows:
        ws.append(cells(sc.row_dict(r)))
    totals = sc.row_dict(card.totals)
    totals["name"] = _("Total")
    ws.append(cells(totals))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _chart(card: sc.RepScorecard) -> dict[str, Any]:
    rows = card.rows[: selectors.CHART_MAX_PEOPLE]
    return {
        "labels": [r.name for r in rows],
        "datasets": [
            {"label": _("Done on time"), "data": [r.tasks_on_time for r in rows]},
            {"label": _("Quota met"), "data": [r.quota_met for r in rows]},
            {"label": _("Quota missed"), "data": [r.quota_missed for r in rows]},
            {"label": _("At-risk customers saved"), "data": [r.saved for r in rows]},
        ],
    }


def _links(card: sc.RepScorecard, row: sc.RepScore, *, is_rep: bool) -> dict[str, str]:
    """The lists behind a row's figures (a rep's risk list is their own already)."""
    period = {"start": card.start.isoformat(), "end": card.end.isoformat(), "assignee": row.user_id}
    tasks = reverse("followups:task_report")
    return {
        "tasks": tasks + "?" + urlencode(period),
        "missed": tasks + "?" + urlencode({**period, "state": "missed"}),
        "overdue": tasks + "?" + urlencode({**period, "state": "open_overdue"}),
        "quota": reverse("referrals:scorecard") + "?" + urlencode({"month": f"{card.month:%Y-%m}"}),
        "cvp": reverse("feedback:cvp")
        + "?"
        + urlencode({"start": f"{card.month:%Y-%m}", "end": f"{card.month:%Y-%m}"}),
        "risk": reverse("analytics:risk_list") + ("" if is_rep else "?" + urlencode({"rep": row.user_id})),
    }


@login_required
@require_GET
def scorecard_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(sc.can_view_scorecard(viewer))
    form = ScorecardForm(request.GET or None, viewer=viewer)
    month = form.chosen_month()
    card = sc.rep_scorecard(
        viewer,
        month=month,
        store_id=form.value("store"),
        team_id=form.value("team"),
        rep_id=form.value("rep"),
    )
    is_rep = viewer.role == permissions.REP
    if request.GET.get("format") == "xlsx":
        response = HttpResponse(scorecard_xlsx(card), content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="rep-scorecard-{month:%Y-%m}.xlsx"'
        return response
    kept = {k: v for k, v in request.GET.items() if k in {"month", "store", "team", "rep"} and v}
    base = reverse("dashboards:scorecard")
    return render(
        request,
        "dashboards/scorecard.html",
        {
            "form": form,
            "card": card,
            "rows": [{"r": r, "links": _links(card, r, is_rep=is_rep)} for r in card.rows],
            "headers": headers(),
            "chart": _chart(card),
            "is_rep": is_rep,
            "xlsx_url": base + "?" + urlencode({**kept, "month": f"{month:%Y-%m}", "format": "xlsx"}),
            "prev_url": base + "?" + urlencode({**kept, "month": f"{month_start_after(month, -1):%Y-%m}"}),
            "next_url": base + "?" + urlencode({**kept, "month": f"{month_start_after(month, 1):%Y-%m}"}),
        },
    )
