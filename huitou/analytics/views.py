"""Analytics pages. Thin: the role check here, scoping and figures in the selectors."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from huitou.core.http import AuthedRequest
from huitou.customers.models import Customer
from huitou.customers.selectors import stores_in_scope, users_in_scope

from . import exports, selectors
from . import segments as seg
from .forms_value import ValueFilterForm

FILTER_NAMES = ("as_of", "store", "team", "rep")


@login_required
@require_GET
def segments_view(request: AuthedRequest) -> HttpResponseBase:
    viewer = request.user
    if not selectors.can_view_segments(viewer):
        raise DjangoPermissionDenied
    days = selectors.snapshot_days(viewer)
    stores = list(stores_in_scope(viewer).values_list("pk", "name"))
    reps = [(u.pk, str(u)) for u in users_in_scope(viewer).order_by("username")]
    # The value report's form: the same as-of, store, team and rep filters, limited to the viewer's
    # choices (and the as-of to complete snapshot days).
    form = ValueFilterForm(
        request.GET or None, days=days, stores=stores, teams=selectors.teams_in_scope(viewer), reps=reps
    )
    for field in form.fields.values():
        field.widget.attrs.setdefault("class", "form-select form-select-sm")
    data = form.cleaned_data if form.is_valid() else {}
    store_id, team_id, rep_id = data.get("store"), data.get("team"), data.get("rep")
    overview = selectors.segments_overview(
        viewer,
        store_id=store_id,
        team_id=team_id,
        rep_id=rep_id,
        as_of=data.get("as_of") or (days[0] if days else None),
    )
    if request.GET.get("format") == "xlsx" and overview.as_of:
        filters = selectors.SegmentFilters(store_id=store_id, team_id=team_id, rep_id=rep_id)
        return exports.segments_xlsx(
            overview,
            selectors.segment_customers(viewer, filters, as_of=overview.as_of),
            filters=exports.chosen_filters(form, FILTER_NAMES[1:]),
        )
    base = reverse("customers:list")
    # The customer list filters on the customers' current tier and type, by store and owner rep:
    # the links only add up to the counts on the newest snapshot without a team filter.
    linkable = overview.as_of is not None and overview.as_of == (days[0] if days else None) and not team_id

    def link(**params: str) -> str:
        if not linkable:
            return ""
        if store_id:
            params["store"] = str(store_id)
        if rep_id:
            params["owner"] = str(rep_id)
        return f"{base}?{urlencode(params)}"

    tier_labels = dict(Customer.Tier.choices)
    type_labels = dict(Customer.Type.choices)
    tiers = [
        {
            "row": row,
            "label": tier_labels[row.tier],
            "url": link(tier=row.tier) if row.tier else "",
        }
        for row in overview.tiers
    ]
    types = [
        {
            "key": suggested,
            "label": type_labels[suggested] if suggested else _("No suggestion"),
            "strategy": _(seg.STRATEGIES[suggested]) if suggested else "",
            "cells": [overview.types.get(suggested, {}).get(t, 0) for t in selectors.TYPES],
        }
        for suggested in selectors.TYPES
    ]
    type_columns = [{"label": type_labels[t], "url": link(type=t) if t else ""} for t in selectors.TYPES]
    chart = {
        "x": overview.pareto.get("customers", []),
        "revenue": overview.pareto.get("revenue", []),
        "margin": overview.pareto.get("margin", []),
        "labels": {
            "revenue": _("Share of revenue"),
            "margin": _("Share of margin"),
            "x": _("Share of customers, best first"),
        },
    }
    query = {k: v for k, v in request.GET.items() if k in FILTER_NAMES and v}
    return render(
        request,
        "analytics/segments.html",
        {
            "form": form,
            "overview": overview,
            "tiers": tiers,
            "types": types,
            "type_columns": type_columns,
            "rf_rows": [(5 - k, overview.rf_grid[4 - k]) for k in range(5)],
            "chart": chart,
            "top20_revenue": round(overview.top20_revenue_share * 100, 1),
            "top20_margin": round(overview.top20_margin_share * 100, 1),
            "xlsx_url": request.path + "?" + urlencode({**query, "format": "xlsx"}),
            "export_rows": exports.EXPORT_ROWS,
        },
    )
