"""Lead-qualification pages (DOMAIN §2): the apple card on the customer page, the list of qualified
prospects and customers, and each rep's time split. Thin: role checks here, scoping in
``qualify``'s selectors; rows outside the scope are 404 (``NotFound``, mapped by the middleware)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from huitou.core.errors import Conflict, ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.core.http import is_htmx as _htmx
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import paginate
from huitou.core.xlsx import cell, respond, workbook
from huitou.customers.models import Activity, Customer

from . import exports, qualify, selectors
from .forms_qualify import PeriodFilterForm, QualifyForm, QualifyListForm
from .models_qualify import Qualification

PAGE_SIZE = 50


def _card_context(
    request: AuthedRequest, customer_id: int, form: QualifyForm | None = None
) -> dict[str, Any]:
    card = qualify.qualify_card(request.user, customer_id)
    q = card.qualification
    if form is None:
        initial = (
            {"need": q.need, "money": q.money, "authority": q.authority, "note": q.note, "version": q.version}
            if q
            else {"version": 0}
        )
        form = QualifyForm(initial=initial)
    return {"card": card, "form": form, "q": q, "type_choices": Customer.Type.choices}


@login_required
@require_http_methods(["GET", "POST"])
def qualify_customer_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    """GET: the card (a fragment for htmx, else a page). POST: set the qualification."""
    viewer = request.user
    _require(qualify.can_view(viewer))
    form: QualifyForm | None = None
    notice = error = ""
    if request.method == "POST":
        _require(qualify.can_qualify(viewer))
        form = QualifyForm(request.POST)
        if not form.is_valid():
            error = _("Check the form.")
        else:
            d = form.cleaned_data
            try:
                qualify.qualification_set(
                    actor=viewer,
                    customer_id=customer_id,
                    need=d["need"],
                    money=d["money"],
                    authority=d["authority"],
                    note=d["note"],
                    version=d["version"],
                )
            except ValidationFailed as exc:
                error = error_text(exc)
            except Conflict:
                error = _("Someone else changed this qualification first; here is theirs.")
                form = None
            else:
                notice, form = _("Qualification saved."), None
        if not _htmx(request):
            if error:
                messages.error(request, error)
            else:
                messages.success(request, notice)
                return redirect(reverse("analytics:qualify_customer", args=[customer_id]))
    context = _card_context(request, customer_id, form)
    context.update(notice=notice, error=error)
    template = "analytics/qualify/_card.html" if _htmx(request) else "analytics/qualify/customer.html"
    return render(request, template, context)


LIST_FILTERS = ("apple", "status", "store", "team", "rep", "updated_from", "updated_until")


@login_required
@require_GET
def qualify_list_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(qualify.can_view(viewer))
    form = QualifyListForm(request.GET or None, viewer=viewer)
    filters = form.filters()
    start, end = form.period()
    qs = selectors.qualified_leads(viewer, filters, start=start, end=end)
    if request.GET.get("format") == "xlsx":
        return exports.qualify_xlsx(
            qs, filters=exports.chosen_filters(form, LIST_FILTERS), today=timezone.localdate()
        )
    page = paginate(qs, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE)
    prev_url, next_url = _pager(request, page)
    counts = selectors.apple_counts(viewer, filters, start=start, end=end)
    labels = [str(label) for _a, label in Qualification.Apple.choices]
    chart = {
        "apples": labels,
        "counts": counts.chart_counts,
        "reps": [r["rep"] or _("No owner rep") for r in counts.chart_by_rep],
        "per_rep": [[r["counts"][i] for r in counts.chart_by_rep] for i in range(len(labels))],
        "colors": ["#dc3545", "#198754", "#6c757d"],
        "labels": {"count": _("Qualified leads")},
    }
    query = {k: v for k, v in request.GET.items() if k in LIST_FILTERS and v}
    return render(
        request,
        "analytics/qualify/list.html",
        {
            "form": form,
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "counts": [(a, label, counts.counts[a]) for a, label in Qualification.Apple.choices],
            "can_view_time": qualify.can_view_time(viewer),
            "by_rep": [] if form.is_rep else counts.by_rep,
            "chart": chart,
            "chart_rows": list(zip(Qualification.Apple.values, labels, counts.chart_counts, strict=True)),
            "chart_per_rep": not form.is_rep and bool(counts.chart_by_rep),
            "xlsx_url": request.path + "?" + urlencode({**query, "format": "xlsx"}),
            "export_rows": exports.EXPORT_ROWS,
        },
    )


def time_xlsx_header() -> list[str]:
    """Column titles of the time-split xlsx, in the site's language."""
    with translation.override(settings.LANGUAGE_CODE):
        head = [_("Rep")]
        for _apple, label in Qualification.Apple.choices:
            head += [_("%(apple)s (minutes)") % {"apple": label}, _("%(apple)s (%%)") % {"apple": label}]
        head += [_("Total minutes"), _("Off target")]
    return head


def _time_xlsx(split: qualify.TimeSplit, start: Any, end: Any) -> FileResponse:
    wb = workbook()
    with translation.override(settings.LANGUAGE_CODE):
        ws = wb.create_sheet(_("Time split")[:31])
        total_label, yes, no = _("Total"), _("yes"), _("no")
    ws.append(time_xlsx_header())
    for r in split.rows:
        line: list[Any] = [cell(r.rep)]
        for i in range(3):
            line += [r.minutes[i], round(r.shares[i], 1)]
        line += [r.total, yes if r.off_target else no]
        ws.append(line)
    tail: list[Any] = [total_label]
    for i in range(3):
        tail += [split.total_minutes[i], round(split.total_shares[i], 1)]
    tail += [sum(split.total_minutes), ""]
    ws.append(tail)
    return respond(wb, f"time-split-{start.isoformat()}-{end.isoformat()}.xlsx")


@login_required
@require_GET
def qualify_time_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(qualify.can_view_time(viewer))
    form = PeriodFilterForm(request.GET or None, viewer=viewer)
    start, end = form.period()
    split = qualify.time_split(
        viewer,
        start=start,
        end=end,
        store_id=form.value("store"),
        team_id=form.value("team"),
        rep_id=form.value("rep"),
    )
    if request.GET.get("format") == "xlsx":
        return _time_xlsx(split, start, end)
    labels = [str(label) for _a, label in Qualification.Apple.choices]
    chart = {
        "labels": [r.rep for r in split.rows],
        "datasets": [
            {"label": labels[i], "data": [round(r.shares[i], 1) for r in split.rows]} for i in range(3)
        ],
        "targets": list(split.targets),
        "y": _("Share of the time (%)"),
    }
    query = {k: v for k, v in request.GET.items() if k in {"start", "end", "store", "team", "rep"} and v}
    return render(
        request,
        "analytics/qualify/time.html",
        {
            "form": form,
            "start": start,
            "end": end,
            "split": split,
            "rows": [
                {"r": r, "cells": list(zip(r.minutes, r.shares, r.flags, strict=True))} for r in split.rows
            ],
            "total_cells": list(zip(split.total_minutes, split.total_shares, strict=True)),
            "apple_labels": labels,
            "kind_minutes": [(Activity.Kind(k).label, m) for k, m in split.minutes_per_kind.items()],
            "chart": chart,
            "xlsx_url": request.path + "?" + urlencode({**query, "format": "xlsx"}),
        },
    )
