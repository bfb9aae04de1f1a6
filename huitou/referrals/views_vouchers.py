"""Voucher pages: the list, one voucher (QR, ledger, void), the redemption desk, the statistics
table (转介绍保养券统计表) with its chart and xlsx download.

Thin: role checks here, row filtering in ``voucher_selectors``, every write through a service.
A voucher whose holder is outside the viewer's scope is 404; a role that never does an action 403.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huitou.accounts import permissions
from huitou.core.errors import NotFound, ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.core.http import is_htmx as _htmx
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import paginate
from huitou.core.xlsx import cell, respond, workbook

from . import voucher_selectors as sel
from .forms_vouchers import RedeemForm, StatsForm, VoidForm, VoucherFilterForm
from .models import Voucher, VoucherEntry
from .vouchers import (
    MISTYPED,
    REDEEM_ROLES,
    UNKNOWN,
    VOID_ROLES,
    VoucherRefused,
    code_display,
    voucher_qr_svg,
    voucher_redeem,
    voucher_void,
)

PAGE_SIZE = 50


def _optional_url(name: str, *args: Any) -> str:
    """A link into another part of the referral system, or nothing while that part is absent."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _ledger_note(entry: VoucherEntry) -> str:
    if entry.action == VoucherEntry.Action.REFUSED:
        return {
            "already redeemed": _("already redeemed"),
            "expired": _("expired"),
            "void": _("void"),
        }.get(entry.note, entry.note)
    return entry.note


STATUS_CLASSES: dict[str, str] = {
    Voucher.Status.ISSUED: "text-bg-primary",
    Voucher.Status.REDEEMED: "text-bg-success",
    Voucher.Status.EXPIRED: "text-bg-secondary",
    Voucher.Status.VOID: "text-bg-danger",
}


# ---------------------------------------------------------------------------------------------
# List and detail


@login_required
@require_GET
def vouchers_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    form = VoucherFilterForm(request.GET or None, viewer=viewer)
    filters = sel.VoucherFilters(
        status=form.value("status") or "",
        kind=form.value("kind") or "",
        store_id=form.value("store"),
        rep_id=form.value("rep"),
        month=form.value("month"),
        code=form.value("code") or "",
    )
    page = paginate(
        sel.voucher_list(viewer, filters),
        page=positive_int(request.GET.get("page")) or 1,
        size=PAGE_SIZE,
        count_cache_key=f"vouchers:{viewer.pk}:{hashlib.sha256(repr(filters).encode()).hexdigest()[:32]}",
    )
    full = permissions.sees_full_phone(viewer)
    today = timezone.localdate()
    rows = [
        {
            "v": v,
            "code": code_display(v.code),
            "phone": permissions.phone_for(viewer, v.customer.phone, full=full) if v.customer.phone else "",
            "badge": STATUS_CLASSES.get(v.status, "text-bg-light"),
            "overdue": v.status == Voucher.Status.ISSUED and v.expires_on < today,
        }
        for v in page.items
    ]
    prev_url, next_url = _pager(request, page)
    context = {
        "form": form,
        "rows": rows,
        "page": page,
        "prev_url": prev_url,
        "next_url": next_url,
        "customer_url": reverse("customers:detail", args=[0])[: -len("0/")],
    }
    template = "referrals/vouchers/_results.html" if _htmx(request) else "referrals/vouchers/list.html"
    return render(request, template, context)


def _detail_context(
    request: AuthedRequest, voucher: Voucher, void_form: VoidForm | None = None
) -> dict[str, Any]:
    viewer = request.user
    customer = voucher.customer
    entries = [
        {"e": e, "note": _ledger_note(e), "label": VoucherEntry.Action(e.action).label}
        for e in sel.voucher_ledger(voucher)
    ]
    return {
        "v": voucher,
        "code": code_display(voucher.code),
        "qr": voucher_qr_svg(voucher),
        "badge": STATUS_CLASSES.get(voucher.status, "text-bg-light"),
        "phone": permissions.phone_for(viewer, customer.phone) if customer.phone else "",
        "customer_url": reverse("customers:detail", args=[customer.pk]),
        "referral_url": _optional_url("referrals:detail", voucher.referral_id) if voucher.referral_id else "",
        "entries": entries,
        "can_void": viewer.role in VOID_ROLES and voucher.status == Voucher.Status.ISSUED,
        "void_form": void_form or VoidForm(),
        "expired_unmarked": voucher.status == Voucher.Status.ISSUED
        and voucher.expires_on < timezone.localdate(),
    }


@login_required
@require_GET
def voucher_detail_view(request: AuthedRequest, pk: int) -> HttpResponse:
    voucher = sel.voucher_get(request.user, pk)  # NotFound → 404 outside the holder scope
    return render(request, "referrals/vouchers/detail.html", _detail_context(request, voucher))


@login_required
@require_GET
def voucher_qr_view(request: AuthedRequest, pk: int) -> HttpResponse:
    voucher = sel.voucher_get(request.user, pk)
    response = HttpResponse(voucher_qr_svg(voucher), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def voucher_void_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    voucher = sel.voucher_get(viewer, pk)  # 404 before 403: never reveal what is out of scope
    _require(viewer.role in VOID_ROLES)
    form = VoidForm(request.POST)
    if form.is_valid():
        try:
            voucher_void(actor=viewer, voucher_id=voucher.pk, reason=form.cleaned_data["reason"])
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Voucher %(code)s voided.") % {"code": code_display(voucher.code)})
            return redirect("referrals:voucher_detail", pk=voucher.pk)
    voucher = sel.voucher_get(viewer, pk)
    return render(
        request, "referrals/vouchers/detail.html", _detail_context(request, voucher, form), status=422
    )


# ---------------------------------------------------------------------------------------------
# The desk


def _desk_store_id(viewer: Any, form: RedeemForm) -> int | None:
    store_id = form.cleaned_data.get("store") if form.is_bound and form.is_valid() else None
    return store_id or viewer.store_id


def _redeem(request: AuthedRequest, form: RedeemForm) -> tuple[dict[str, Any], int]:
    """Try the code; the result panel's content and the HTTP status of a full-page answer."""
    from huitou.accounts.models import Store

    viewer = request.user
    store = None
    store_id = form.cleaned_data.get("store")
    if store_id:
        store = Store.objects.filter(organisation_id=permissions.org_id(viewer), pk=store_id).first()
    typed = form.cleaned_data["code"]
    result: dict[str, Any] = {"typed": typed, "ok": False}
    try:
        voucher = voucher_redeem(actor=viewer, code=typed, store=store)
    except ValidationFailed as exc:
        mistyped = MISTYPED in exc.errors.get("code", [])
        result.update(reason=error_text(exc), kind="mistyped" if mistyped else "invalid")
        return result, 422
    except NotFound:
        result.update(reason=_(UNKNOWN), kind="unknown")
        return result, 404
    except VoucherRefused as exc:
        v = exc.voucher
        result.update(
            reason=exc.describe(), kind=exc.reason.replace(" ", "_"), voucher=v, code=code_display(v.code)
        )
        result["holder"] = v.customer.name
        return result, 409
    customer = voucher.customer
    result.update(
        ok=True,
        voucher=voucher,
        code=code_display(voucher.code),
        holder=customer.name,
        phone=permissions.phone_for(viewer, customer.phone) if customer.phone else "",
        kind_label=Voucher.Kind(voucher.kind).label if voucher.kind in Voucher.Kind.values else voucher.kind,
    )
    return result, 200


def _recent(viewer: Any, store_id: int | None) -> list[dict[str, Any]]:
    return [
        {"e": e, "code": code_display(e.voucher.code), "note": _ledger_note(e)}
        for e in sel.desk_recent(viewer, store_id=store_id)
    ]


@login_required
@require_http_methods(["GET", "POST"])
def voucher_desk_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(permissions.is_active_member(viewer) and viewer.role in REDEEM_ROLES)
    form = RedeemForm(request.POST or None, viewer=viewer)
    result: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            result, status = _redeem(request, form)
        else:
            result, status = (
                {"ok": False, "kind": "invalid", "reason": _("Enter or scan a voucher code.")},
                422,
            )
    store_id = _desk_store_id(viewer, form)
    context = {"form": form, "result": result, "recent": _recent(viewer, store_id), "store_id": store_id}
    if _htmx(request):
        # htmx swaps 2xx answers only: the panel says green or red itself.
        return render(request, "referrals/vouchers/_desk_result.html", context)
    if result is not None:
        form = RedeemForm(
            initial={"store": form.cleaned_data.get("store")} if form.is_valid() else None, viewer=viewer
        )
        context["form"] = form
    return render(request, "referrals/vouchers/desk.html", context, status=status)


# ---------------------------------------------------------------------------------------------
# Statistics


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)}%"


def _cells(row: sel.StatsRow) -> list[tuple[str, int, Decimal]]:
    return [(c, row.count(c), row.value(c)) for c in sel.STAT_COLUMNS]


def _stat_labels() -> dict[str, str]:
    return {
        "issued": _("Issued"),
        "redeemed": _("Redeemed"),
        "expired": _("Expired"),
        "void": _("Void"),
        "outstanding": _("Outstanding"),
    }


@login_required
@require_GET
def voucher_stats_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    form = StatsForm(request.GET or None, viewer=viewer)
    start, end = form.period()
    store_id, rep_id = form.value("store"), form.value("rep")
    error = ""
    try:
        rows = sel.voucher_stats(viewer, start=start, end=end, store_id=store_id, rep_id=rep_id)
    except ValidationFailed as exc:
        rows, error = [], error_text(exc)
    if request.GET.get("format") == "xlsx" and not error:
        return _xlsx(rows, start=start, end=end)
    totals = sel.stats_totals(rows)
    labels = _stat_labels()
    months = sel.stats_by_month(rows)
    chart = {
        "labels": [m.month.strftime("%Y-%m") if m.month else "" for m in months],
        "datasets": [
            {"key": c, "label": labels[c], "data": [float(m.value(c)) for m in months]}
            for c in ("redeemed", "outstanding", "expired", "void")
        ],
    }
    query = {k: v for k, v in request.GET.items() if k in {"start", "end", "store", "rep"} and v}
    return render(
        request,
        "referrals/vouchers/statistics.html",
        {
            "form": form,
            "start": start,
            "end": end,
            "rows": [{"r": r, "cells": _cells(r), "rate": _pct(r.redemption_rate)} for r in rows],
            "totals_cells": _cells(totals),
            "totals_rate": _pct(totals.redemption_rate),
            "columns": [(c, labels[c]) for c in sel.STAT_COLUMNS],
            "chart": chart,
            "error": error,
            "xlsx_url": request.path + "?" + urlencode({**query, "format": "xlsx"}),
        },
    )


def stats_xlsx_header() -> list[str]:
    """The column titles of the xlsx, in the site's language (zh-Hans: 门店, 销售顾问, …)."""
    with translation.override(settings.LANGUAGE_CODE):
        head = [_("Month of issue"), _("Store"), _("Rep")]
        for label in _stat_labels().values():
            head += [
                _("%(column)s (count)") % {"column": label},
                _("%(column)s (value, ¥)") % {"column": label},
            ]
        head.append(_("Redemption rate"))
    return head


def _xlsx(rows: list[sel.StatsRow], *, start: dt.date, end: dt.date) -> FileResponse:
    wb = workbook()
    with translation.override(settings.LANGUAGE_CODE):
        ws = wb.create_sheet(_("Voucher statistics")[:31])
        total_label = _("Total")
    ws.append(stats_xlsx_header())

    def line(r: sel.StatsRow, month: str, store: str, rep: str) -> list[Any]:
        out: list[Any] = [month, cell(store), cell(rep)]
        for c in sel.STAT_COLUMNS:
            out += [r.count(c), Decimal(r.value(c))]
        rate = r.redemption_rate
        out.append(None if rate is None else round(rate, 4))
        return out

    for r in rows:
        ws.append(line(r, r.month.strftime("%Y-%m") if r.month else "", r.store, r.rep))
    ws.append(line(sel.stats_totals(rows), total_label, "", ""))
    # Written to a temporary file and streamed from it: the response never holds the workbook.
    name = f"voucher-statistics-{start.isoformat()}-{end.isoformat()}.xlsx"
    return respond(wb, name)
