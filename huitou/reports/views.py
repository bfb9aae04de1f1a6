"""Pages of the account reports (DOMAIN §7): thin; rows are filtered by the viewer's scope in
``selectors``, the one write goes through ``services``. An account outside the scope is 404."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from huitou.accounts import permissions
from huitou.core.errors import ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import paginate

from . import exports, services
from . import selectors as sel
from .forms import AccountsForm, FunnelForm, ReceivablesForm, WalletForm, YearForm

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _xlsx_url(request: AuthedRequest, keys: set[str]) -> str:
    query = {k: v for k, v in request.GET.items() if k in keys and v}
    return request.path + "?" + urlencode({**query, "format": "xlsx"})


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------------------------------------
# One account


@login_required
@require_GET
def account_view(request: AuthedRequest, customer_id: int) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    customer = sel.account_for(viewer, customer_id)
    form = YearForm(request.GET or None)
    year = form.chosen_year()
    report = sel.account_report(viewer, customer, year=year)
    if request.GET.get("format") == "xlsx":
        return exports.account_xlsx(report)
    chart = {
        "labels": [r.key for r in report.months],
        "sales": [_num(r.sales) for r in report.months],
        "last_year": [_num(r.last_year_sales) for r in report.months],
        "cost": [_num(r.cost) for r in report.months],
        "sales_label": _("Sales"),
        "last_year_label": _("Same month last year"),
        "cost_label": _("Selling cost"),
    }
    year_chart = {
        "labels": [r.key for r in report.years],
        "sales": [_num(r.sales) for r in report.years],
        "wallet": [_num(r.wallet) for r in report.years],
        "sales_label": _("Sales"),
        "wallet_label": _("Total purchases in the category"),
    }
    ageing_labels = exports.ageing_header(report.ageing_edges)
    return render(
        request,
        "reports/account.html",
        {
            "customer": customer,
            "report": report,
            "form": form,
            "months": report.months,
            "years": report.years,
            "ageing": list(zip(ageing_labels, report.ageing.buckets, strict=True)),
            "chart": chart,
            "year_chart": year_chart,
            "wallet_form": WalletForm(initial={"year": year, "source": "rep"}),
            "estimates": sel.wallet_estimates(viewer, customer),
            "can_edit": permissions.can_edit_customer(viewer, customer),
            "xlsx_url": _xlsx_url(request, {"year"}),
        },
    )


@login_required
@require_POST
def wallet_set_view(request: AuthedRequest, customer_id: int) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    customer = sel.account_for(viewer, customer_id)
    _require(permissions.can_edit_customer(viewer, customer))
    form = WalletForm(request.POST)
    target = reverse("reports:account", args=[customer.pk])
    if not form.is_valid():
        messages.error(request, _("The estimate was not saved: check the year and the amount."))
        return redirect(target)
    d = form.cleaned_data
    try:
        services.wallet_estimate_set(
            actor=viewer,
            customer_id=customer.pk,
            year=d["year"],
            amount=d["amount"],
            source=d["source"],
            category=d.get("category") or "",
            note=d.get("note") or "",
        )
    except ValidationFailed as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Total purchases in the category saved."))
    return redirect(target + "?" + urlencode({"year": d["year"]}))


# ---------------------------------------------------------------------------------------------
# Accounts overview


@login_required
@require_GET
def accounts_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    form = AccountsForm(request.GET or None, viewer=viewer)
    filters = sel.AccountFilters(
        year=form.chosen_year(),
        store_id=form.value("store"),
        team_id=form.value("team"),
        rep_id=form.value("rep"),
        kind=form.value("kind") or "",
        sort=form.value("sort") or "-id",
    )
    today = timezone.localdate()
    if request.GET.get("format") == "xlsx":
        rows_all = sel.account_rows_all(viewer, filters, today=today, limit=EXPORT_LIMIT)
        return exports.accounts_xlsx(rows_all, year=filters.year, limit=EXPORT_LIMIT)
    qs = sel.accounts_queryset(viewer, filters).select_related("owner", "store")
    page = paginate(qs, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE)
    rows = sel.account_rows(page.items, year=filters.year, today=today)
    prev_url, next_url = _pager(request, page)
    chart = {
        "labels": [r.name for r in rows],
        "sales": [_num(r.sales) for r in rows],
        "previous": [_num(r.previous_sales) for r in rows],
        "sales_label": _("Sales"),
        "previous_label": _("Same span last year"),
    }
    return render(
        request,
        "reports/accounts.html",
        {
            "form": form,
            "year": filters.year,
            "rows": rows,
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "chart": chart,
            "xlsx_url": _xlsx_url(request, {"year", "store", "team", "rep", "kind", "sort"}),
        },
    )


# ---------------------------------------------------------------------------------------------
# Receivables


@login_required
@require_GET
def receivables_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    form = ReceivablesForm(request.GET or None, viewer=viewer)
    group = form.value("group") or "store"
    rows, total, edges = sel.receivables_ageing(
        viewer,
        group=group,
        store_id=form.value("store"),
        team_id=form.value("team"),
        rep_id=form.value("rep"),
    )
    if request.GET.get("format") == "xlsx":
        return exports.receivables_xlsx(rows, total, edges, group=group)
    labels = exports.ageing_header(edges)
    chart = {
        "labels": [r.name or "—" for r in rows],
        "datasets": [
            {"label": label, "data": [float(r.buckets[i]) for r in rows]} for i, label in enumerate(labels)
        ],
    }
    return render(
        request,
        "reports/receivables.html",
        {
            "form": form,
            "group": group,
            "rows": rows,
            "total": total,
            "bucket_labels": labels,
            "chart": chart,
            "overdue_pct": _pct(total.overdue_share),
            "xlsx_url": _xlsx_url(request, {"group", "store", "team", "rep"}),
        },
    )


# ---------------------------------------------------------------------------------------------
# Sales funnel


@login_required
@require_GET
def funnel_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    form = FunnelForm(request.GET or None, viewer=viewer)
    start, end = form.period()
    if form.errors:
        start, end = FunnelForm(viewer=viewer).period()
    funnel = sel.sales_funnel(
        viewer,
        start=start,
        end=end,
        store_id=form.value("store"),
        team_id=form.value("team"),
        rep_id=form.value("rep"),
    )
    if request.GET.get("format") == "xlsx":
        return exports.funnel_xlsx(funnel)
    labels = exports.funnel_labels()
    stages = [(s, labels[s]) for s in sel.FUNNEL_STAGES]
    chart = {
        "labels": [labels[s] for s in sel.FUNNEL_STAGES],
        "data": [funnel.total.count(s) for s in sel.FUNNEL_STAGES],
        "label": _("Entering in the period"),
        "months": [r.name for r in funnel.by_month],
        "flow": [
            {"label": labels[s], "data": [r.count(s) for r in funnel.by_month]}
            for s in ("leads", "prospects", "first_purchases")
        ],
    }

    def table(rows: list[sel.FunnelRow]) -> list[dict[str, Any]]:
        return [
            {
                "row": r,
                "cells": [(s, r.count(s), _pct(r.rate(s))) for s in sel.FUNNEL_STAGES],
            }
            for r in rows
        ]

    return render(
        request,
        "reports/funnel.html",
        {
            "form": form,
            "funnel": funnel,
            "stages": stages,
            "by_rep": table(funnel.by_rep),
            "by_store": table(funnel.by_store),
            "by_month": table(funnel.by_month),
            "total": table([funnel.total])[0],
            "chart": chart,
            "xlsx_url": _xlsx_url(request, {"start", "end", "store", "team", "rep"}),
        },
    )
