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
from huitou.core.errors import Conflict, NotFound, ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import paginate
from huitou.customers.models import Customer

from . import exports, services
from . import selectors as sel
from .forms import (
    AccountsForm,
    FunnelForm,
    PromotionForm,
    ReceivablesForm,
    StockCheckForm,
    TagForm,
    UntagForm,
    WalletForm,
    YearForm,
)

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


def _account_to_edit(request: AuthedRequest, customer_id: int) -> Customer:
    """The account for a write from its page: in the viewer's scope (404) and editable by them (403)."""
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    customer = sel.account_for(viewer, customer_id)
    _require(permissions.can_edit_customer(viewer, customer))
    return customer


@login_required
@require_GET
def account_view(request: AuthedRequest, customer_id: int) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    customer = sel.account_for(viewer, customer_id)
    return _account_page(request, customer, YearForm(request.GET or None))


def _account_page(
    request: AuthedRequest,
    customer: Customer,
    form: YearForm,
    *,
    stock_form: StockCheckForm | None = None,
    status: int = 200,
) -> HttpResponseBase:
    viewer = request.user
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
    can_edit = permissions.can_edit_customer(viewer, customer)
    today = timezone.localdate()
    recent = sel.recent_purchases(viewer, customer)
    taggable: list[Any] = []
    if can_edit and recent:
        taggable = sel.taggable_promotions(viewer, since=min(p.ordered_on for p in recent), today=today)
    if report.stock is not None and stock_form is None:
        stock_form = StockCheckForm(initial={"checked_on": today})
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
            "can_edit": can_edit,
            "recent_purchases": recent,
            "untagged_purchases": [p for p in recent if not hasattr(p, "promotion_tag")],
            "taggable_promotions": taggable,
            "stock": report.stock,
            "stock_form": stock_form,
            "xlsx_url": _xlsx_url(request, {"year"}),
        },
        status=status,
    )


def _back_to_account(customer: Customer, year: Any = None) -> HttpResponseBase:
    target = reverse("reports:account", args=[customer.pk])
    if year:
        target += "?" + urlencode({"year": year})
    return redirect(target + "#promotions")


@login_required
@require_POST
def promotion_tag_view(request: AuthedRequest, customer_id: int) -> HttpResponseBase:
    """Tag one of the account's purchases with a promotion (messages say what happened)."""
    viewer = request.user
    customer = _account_to_edit(request, customer_id)
    form = TagForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a purchase and a promotion."))
        return _back_to_account(customer, request.POST.get("year"))
    d = form.cleaned_data
    try:
        services.promotion_purchase_tag(actor=viewer, promotion_id=d["promotion"], purchase_id=d["purchase"])
    except ValidationFailed as exc:
        messages.error(request, error_text(exc))
    except NotFound:
        messages.error(request, _("No such promotion or purchase."))
    except Conflict:
        messages.error(request, _("The purchase already takes part in a promotion."))
    else:
        messages.success(request, _("The purchase is tagged with the promotion."))
    return _back_to_account(customer, request.POST.get("year"))


@login_required
@require_POST
def promotion_untag_view(request: AuthedRequest, customer_id: int) -> HttpResponseBase:
    viewer = request.user
    customer = _account_to_edit(request, customer_id)
    form = UntagForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a purchase."))
        return _back_to_account(customer, request.POST.get("year"))
    try:
        services.promotion_purchase_untag(actor=viewer, purchase_id=form.cleaned_data["purchase"])
    except NotFound:
        messages.error(request, _("The purchase has no promotion tag."))
    else:
        messages.success(request, _("The promotion tag was removed."))
    return _back_to_account(customer, request.POST.get("year"))


@login_required
@require_POST
def stock_check_view(request: AuthedRequest, customer_id: int) -> HttpResponseBase:
    """Record a display and stock check; a refused one shows the account page again with the
    form's errors beside their fields."""
    viewer = request.user
    customer = _account_to_edit(request, customer_id)
    _require(sel.stock_checks_apply(customer))
    form = StockCheckForm(request.POST)
    year_form = YearForm({"year": request.POST.get("year") or ""})
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.stock_check_record(
                actor=viewer,
                customer_id=customer.pk,
                checked_on=d["checked_on"],
                display=d["display"],
                stock=d["stock"],
                facings=d.get("facings"),
                out_of_stock=d.get("out_of_stock") or "",
                note=d.get("note") or "",
            )
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, _("Display and stock check saved."))
            target = reverse("reports:account", args=[customer.pk])
            return redirect(target + "?" + urlencode({"year": year_form.chosen_year()}) + "#stock")
    messages.error(request, _("The check was not saved: see the errors in the form."))
    return _account_page(request, customer, year_form, stock_form=form, status=422)


@login_required
@require_POST
def wallet_set_view(request: AuthedRequest, customer_id: int) -> HttpResponseBase:
    viewer = request.user
    customer = _account_to_edit(request, customer_id)
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
        stock_out=bool(form.value("stock_out")),
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
            "xlsx_url": _xlsx_url(request, {"year", "store", "team", "rep", "kind", "sort", "stock_out"}),
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


# ---------------------------------------------------------------------------------------------
# Promotions


@login_required
@require_GET
def promotions_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    if request.GET.get("format") == "xlsx":
        return exports.promotions_xlsx(sel.promotion_rows_all(viewer, limit=EXPORT_LIMIT), limit=EXPORT_LIMIT)
    qs = sel.promotions_page_queryset(viewer)
    page = paginate(qs, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE)
    rows = sel.promotion_rows(viewer, page.items)
    prev_url, next_url = _pager(request, page)
    return render(
        request,
        "reports/promotions.html",
        {
            "rows": [(r, exports.purchase_kind_labels(list(r.promotion.purchase_kinds))) for r in rows],
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "can_manage": services.can_manage_promotions(viewer),
            "today": timezone.localdate(),
            "xlsx_url": request.path + "?" + urlencode({"format": "xlsx"}),
        },
    )


@login_required
@require_GET
def promotion_view(request: AuthedRequest, promotion_id: int) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    promotion = sel.promotion_for(viewer, promotion_id)
    detail = sel.promotion_detail(viewer, promotion)
    qs = sel.promotion_purchases_queryset(viewer, promotion)
    page = paginate(qs, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE)
    prev_url, next_url = _pager(request, page)
    unit = _("Days %(range)s")
    chart = {
        "labels": [unit % {"range": label} for label in detail.bucket_labels],
        "during": [_num(v) for v in detail.during_buckets],
        "before": [_num(v) for v in detail.before_buckets],
        "during_label": _("During the promotion"),
        "before_label": _("Before (baseline)"),
    }
    return render(
        request,
        "reports/promotion.html",
        {
            "promotion": promotion,
            "detail": detail,
            "kinds": exports.purchase_kind_labels(list(promotion.purchase_kinds)),
            "tags": page.items,
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "chart": chart,
            "can_manage": services.can_manage_promotions(viewer),
        },
    )


def _promotion_terms(d: dict[str, Any]) -> dict[str, Any]:
    """The promotion form's cleaned data as the keyword arguments of the create and update services."""
    return {
        "name": d["name"],
        "starts_on": d["starts_on"],
        "ends_on": d["ends_on"],
        "store_ids": list(d["stores"]),
        "purchase_kinds": list(d["purchase_kinds"]),
        "note": d.get("note") or "",
    }


def _promotion_form_page(
    request: AuthedRequest, form: PromotionForm, promotion: Any = None, status: int = 200
) -> HttpResponseBase:
    return render(
        request, "reports/promotion_form.html", {"form": form, "promotion": promotion}, status=status
    )


@login_required
def promotion_create_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer) and services.can_manage_promotions(viewer))
    if request.method != "POST":
        return _promotion_form_page(request, PromotionForm(viewer=viewer))
    form = PromotionForm(request.POST, viewer=viewer)
    if form.is_valid():
        try:
            p = services.promotion_create(actor=viewer, **_promotion_terms(form.cleaned_data))
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, _("Promotion saved."))
            return redirect("reports:promotion", promotion_id=p.pk)
    return _promotion_form_page(request, form, status=422)


@login_required
def promotion_edit_view(request: AuthedRequest, promotion_id: int) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    promotion = sel.promotion_for(viewer, promotion_id)
    _require(services.can_manage_promotions(viewer))
    if request.method != "POST":
        initial = {
            "name": promotion.name,
            "starts_on": promotion.starts_on,
            "ends_on": promotion.ends_on,
            "stores": [s.pk for s in promotion.stores.all()],
            "purchase_kinds": list(promotion.purchase_kinds),
            "note": promotion.note,
        }
        return _promotion_form_page(request, PromotionForm(initial=initial, viewer=viewer), promotion)
    form = PromotionForm(request.POST, viewer=viewer)
    if form.is_valid():
        try:
            services.promotion_update(
                actor=viewer, promotion_id=promotion.pk, **_promotion_terms(form.cleaned_data)
            )
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, _("Promotion saved."))
            return redirect("reports:promotion", promotion_id=promotion.pk)
    return _promotion_form_page(request, form, promotion, status=422)
