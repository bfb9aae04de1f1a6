"""Crisis-signal pages (DOMAIN §4): the at-risk list, a customer's risk card, win-back and
termination. Thin: role checks here, scoping in the selectors, writes through the services.
Rows outside the viewer's scope are 404 (``NotFound`` from the selectors, mapped by the
middleware); a role that may never act gets 403."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from huitou.accounts import permissions
from huitou.core.errors import Conflict, ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.core.http import is_htmx as _htmx
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import paginate
from huitou.customers.selectors import stores_in_scope, users_in_scope

from . import exports, risk_services
from . import risk_selectors as sel
from . import selectors as segment_selectors
from .forms_risk import LostForm, RiskFilterForm, WinBackForm
from .models import CustomerLoss

PAGE_SIZE = 50


FILTER_NAMES = ("store", "team", "rep", "min_score")


def _chart(chart: sel.RiskChart, minimum: int) -> dict[str, Any]:
    labels = exports.risk_reason_labels()
    return {
        "bins": exports.score_bin_labels(),
        "counts": chart.bins,
        # Bins that reach the minimum score hold customers of the list.
        "listed": [10 * k + 9 >= minimum for k in range(sel.SCORE_BINS)],
        "reasons": [labels[c] for c in sel.REASON_CODES],
        "reason_counts": [chart.reasons[c] for c in sel.REASON_CODES],
        "labels": {
            "scores": _("Customers by risk score"),
            "reasons": _("At-risk customers with this reason"),
            "x": _("Risk score"),
        },
    }


@login_required
@require_GET
def risk_list_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(sel.can_view_risk(viewer))
    is_rep = viewer.role == permissions.REP
    stores = [] if is_rep else list(stores_in_scope(viewer).values_list("pk", "name"))
    teams = [] if is_rep else segment_selectors.teams_in_scope(viewer)
    reps = [] if is_rep else [(u.pk, str(u)) for u in users_in_scope(viewer).order_by("username")]
    form = RiskFilterForm(request.GET or None, stores=stores, teams=teams, reps=reps)
    data = form.cleaned_data if form.is_valid() else {}
    filters = sel.RiskFilters(
        store_id=data.get("store"),
        team_id=data.get("team"),
        rep_id=data.get("rep"),
        min_score=data.get("min_score"),
    )
    minimum = sel.min_score_of(viewer, filters)
    latest, summary = sel.latest_fill(viewer)
    day, qs = sel.at_risk_list(viewer, filters, as_of=latest)
    chart = sel.risk_chart(viewer, filters, as_of=day)
    if request.GET.get("format") == "xlsx" and day:
        return exports.risk_xlsx(
            viewer,
            qs,
            chart,
            as_of=day,
            min_score=minimum,
            filters=exports.chosen_filters(form, FILTER_NAMES[:3]),
        )
    page = paginate(qs, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE)
    open_wb = sel.open_winbacks([r.customer_id for r in page.items])
    full = permissions.sees_full_phone(viewer)
    rows = [
        {
            "r": r,
            "reasons": sel.reasons_text(r.reasons),
            "winback": open_wb.get(r.customer_id),
            "phone": permissions.phone_for(viewer, r.customer.phone, full=full) if r.customer.phone else "",
        }
        for r in page.items
    ]
    prev_url, next_url = _pager(request, page)
    today = timezone.localdate()
    saves = sel.saves_by_rep_month(viewer, start=dt.date(today.year, 1, 1), end=today)
    query = {k: v for k, v in request.GET.items() if k in FILTER_NAMES and v}
    chart_data = _chart(chart, minimum)
    return render(
        request,
        "analytics/risk/list.html",
        {
            "as_of": day,
            "form": form,
            "is_rep": is_rep,
            "rows": rows,
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "threshold": minimum,
            "can_act": sel.can_act(viewer),
            "winback_form": WinBackForm(),
            "saves": saves,
            "alive_signal_used": sel.alive_signal_in(summary) if day else True,
            "chart": chart_data,
            "score_rows": list(
                zip(chart_data["bins"], chart_data["counts"], chart_data["listed"], strict=True)
            ),
            "reason_rows": list(zip(chart_data["reasons"], chart_data["reason_counts"], strict=True)),
            "risk_chart": chart,
            "xlsx_url": request.path + "?" + urlencode({**query, "format": "xlsx"}),
            "export_rows": exports.EXPORT_ROWS,
        },
    )


def _card_context(request: AuthedRequest, customer_id: int) -> dict[str, object]:
    viewer = request.user
    return {
        "card": sel.customer_risk(viewer, customer_id),
        "can_act": sel.can_act(viewer),
        "winback_form": WinBackForm(),
        "lost_form": LostForm(),
        "reasons_labels": dict(CustomerLoss.Reason.choices),
    }


@login_required
@require_GET
def risk_customer_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    _require(sel.can_view_risk(request.user))
    context = _card_context(request, customer_id)
    template = "analytics/risk/_card.html" if _htmx(request) else "analytics/risk/customer.html"
    return render(request, template, context)


def _after_action(request: AuthedRequest, customer_id: int) -> HttpResponse:
    if _htmx(request):
        return render(request, "analytics/risk/_card.html", _card_context(request, customer_id))
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("analytics:risk_customer", args=[customer_id])
    return redirect(target or reverse("analytics:risk_customer", args=[customer_id]))


@login_required
@require_POST
def risk_winback_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    viewer = request.user
    _require(sel.can_act(viewer))
    form = WinBackForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose how to win the customer back."))
        return _after_action(request, customer_id)
    try:
        risk_services.winback_start(
            actor=viewer, customer_id=customer_id, approach=form.cleaned_data["approach"]
        )
    except (ValidationFailed, Conflict) as exc:
        text = (
            error_text(exc)
            if isinstance(exc, ValidationFailed)
            else _("A win-back of this customer is already open.")
        )
        messages.error(request, text)
    else:
        messages.success(request, _("Win-back started: a call task is in the contact plan."))
    return _after_action(request, customer_id)


@login_required
@require_POST
def risk_lost_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    viewer = request.user
    _require(sel.can_act(viewer))
    form = LostForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the termination reason."))
        return _after_action(request, customer_id)
    try:
        risk_services.customer_mark_lost(
            actor=viewer,
            customer_id=customer_id,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
    except (ValidationFailed, Conflict) as exc:
        text = (
            error_text(exc)
            if isinstance(exc, ValidationFailed)
            else _("This customer is already marked lost.")
        )
        messages.error(request, text)
    else:
        messages.success(request, _("The customer is marked lost; the reason is recorded."))
    return _after_action(request, customer_id)
