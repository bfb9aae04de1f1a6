"""Lifetime-value pages (DOMAIN §8): the value card of a customer (loaded by htmx on the customer
page) and the report of CLV per segment with the customers by CLV. Thin: the role check here,
scoping in the selectors; customers outside the viewer's scope are 404."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from huitou.accounts import permissions
from huitou.accounts.models import Team
from huitou.core.http import AuthedRequest, positive_int
from huitou.core.http import is_htmx as _htmx
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import paginate
from huitou.core.xlsx import cell, respond, workbook
from huitou.customers.models import Customer
from huitou.customers.selectors import stores_in_scope, users_in_scope

from . import value_selectors as sel
from .forms_value import ValueFilterForm

PAGE_SIZE = 50
# Rows of the customer sheet in the xlsx: the best customers by CLV; the rest are in the totals.
EXPORT_ROWS = 50_000
_PARAM_LABELS = {
    "r": "r",
    "alpha": "α",
    "a": "a",
    "b": "b",
    "s": "s",
    "beta": "β",
    "p": "p",
    "q": "q",
    "v": "γ",
}


@login_required
@require_GET
def value_customer_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    _require(sel.can_view_value(request.user))
    card = sel.customer_value(request.user, customer_id)
    template = "analytics/value/_card.html" if _htmx(request) else "analytics/value/customer.html"
    return render(request, template, {"card": card})


def _teams(viewer: Any) -> list[tuple[int, str]]:
    qs = Team.objects.filter(organisation_id=permissions.org_id(viewer))
    if viewer.role == permissions.MANAGER:
        qs = qs.filter(pk__in=users_in_scope(viewer).values("team_id"))
    return list(qs.order_by("name").values_list("pk", "name"))


def _labels() -> dict[str, dict[str, str]]:
    return {
        "tier": {str(k): str(v) for k, v in Customer.Tier.choices},
        "customer_type": {str(k): str(v) for k, v in Customer.Type.choices},
    }


@login_required
@require_GET
def value_report_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    _require(sel.can_view_value(viewer))
    is_rep = viewer.role == permissions.REP
    days = sel.snapshot_days(viewer)
    stores = [] if is_rep else list(stores_in_scope(viewer).values_list("pk", "name"))
    teams = [] if is_rep else _teams(viewer)
    reps = [] if is_rep else [(u.pk, str(u)) for u in users_in_scope(viewer).order_by("username")]
    form = ValueFilterForm(request.GET or None, days=days, stores=stores, teams=teams, reps=reps)
    data = form.cleaned_data if form.is_valid() else {}
    filters = sel.ValueFilters(store_id=data.get("store"), team_id=data.get("team"), rep_id=data.get("rep"))
    segments = sel.value_segments(viewer, filters, as_of=data.get("as_of"))
    labels = _labels()
    if request.GET.get("format") == "xlsx" and segments.as_of:
        return _xlsx(viewer, filters, segments, labels)
    qs = sel.value_list(viewer, filters, as_of=segments.as_of)
    page = paginate(qs, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE)
    prev_url, next_url = _pager(request, page)
    chart = {
        "tiers": [labels["tier"][r["tier"]] for r in segments.tiers],
        "tier_total": [float(r["clv_total"]) for r in segments.tiers],
        "tier_mean": [float(r["clv_mean"]) for r in segments.tiers],
        "types": [labels["customer_type"][r["customer_type"]] for r in segments.types],
        "type_total": [float(r["clv_total"]) for r in segments.types],
        "type_mean": [float(r["clv_mean"]) for r in segments.types],
        "labels": {"total": _("CLV total"), "mean": _("CLV per customer")},
    }
    fill = segments.fill
    query = {k: v for k, v in request.GET.items() if k in {"as_of", "store", "team", "rep"} and v}
    return render(
        request,
        "analytics/value/report.html",
        {
            "form": form,
            "is_rep": is_rep,
            "segments": segments,
            "tiers": [{**r, "label": labels["tier"][r["tier"]]} for r in segments.tiers],
            "types": [{**r, "label": labels["customer_type"][r["customer_type"]]} for r in segments.types],
            "chart": chart,
            "fill": fill,
            "params": _params(fill.params if fill else {}),
            "spend_params": _params(fill.spend_params if fill else {}),
            "summary": fill.summary if fill else {},
            "discount_pct": round(
                100 * float((fill.summary if fill else {}).get("annual_discount_rate", 0)), 2
            ),
            "fallback_pct": round(
                100 * float((fill.summary if fill else {}).get("margin_rate_fallback", 0)), 2
            ),
            "page": page,
            "rows": [{"r": r, "tier": labels["tier"].get(r.tier, r.tier)} for r in page.items],
            "prev_url": prev_url,
            "next_url": next_url,
            "xlsx_url": request.path + "?" + urlencode({**query, "format": "xlsx"}),
        },
    )


def _pct(fill: Any, key: str) -> float:
    return round(100 * float((fill.summary if fill else {}).get(key) or 0), 2)


def _params(params: dict[str, float]) -> list[tuple[str, float]]:
    return [(_PARAM_LABELS.get(k, k), v) for k, v in params.items()]


def _xlsx(
    viewer: Any, filters: sel.ValueFilters, segments: sel.ValueSegments, labels: dict[str, dict[str, str]]
) -> FileResponse:
    wb = workbook()
    with translation.override(settings.LANGUAGE_CODE):
        head = [_("Customers"), _("CLV total"), _("CLV per customer"), _("Mean P(alive)")]
        for key, title, rows in (
            ("tier", _("CLV by tier"), segments.tiers),
            ("customer_type", _("CLV by customer type"), segments.types),
        ):
            ws = wb.create_sheet(title[:31])
            ws.append([_("Tier") if key == "tier" else _("Customer type"), *head])
            for r in rows:
                ws.append(
                    [labels[key][r[key]], r["customers"], r["clv_total"], r["clv_mean"], r["p_alive_mean"]]
                )
        ws = wb.create_sheet(_("Customers by CLV")[:31])
        ws.append(
            [
                _("Customer"),
                _("Rep"),
                _("Store"),
                _("Tier"),
                _("Customer type"),
                _("CLV"),
                _("P(alive)"),
                _("Expected purchases"),
                _("Expected spend per purchase"),
                _("Revenue to date"),
                _("Margin to date"),
                _("Value of the customers referred"),
            ]
        )
        qs = sel.value_list(viewer, filters, as_of=segments.as_of)[:EXPORT_ROWS]
        for v in qs.iterator(chunk_size=2000):
            ws.append(
                [
                    cell(v.customer.name),
                    cell(str(v.owner) if v.owner else ""),
                    cell(v.store.name if v.store else ""),
                    labels["tier"].get(v.tier, v.tier),
                    labels["customer_type"].get(v.customer_type, v.customer_type),
                    v.clv,
                    v.p_alive,
                    v.expected_purchases,
                    v.expected_spend,
                    v.revenue,
                    v.margin,
                    v.referred_value,
                ]
            )
        fill = segments.fill
        ws = wb.create_sheet(_("Model")[:31])
        ws.append([_("As of"), segments.as_of.isoformat() if segments.as_of else ""])
        ws.append([_("Purchase model"), fill.model if fill else ""])
        for name, value in _params(fill.params if fill else {}):
            ws.append([name, value])
        ws.append([_("Log-likelihood"), fill.log_likelihood if fill else None])
        for name, value in _params(fill.spend_params if fill else {}):
            ws.append([name, value])
        ws.append([_("Spend log-likelihood"), fill.spend_log_likelihood if fill else None])
    day = segments.as_of.isoformat() if segments.as_of else ""
    return respond(wb, f"customer-value-{day}.xlsx")
