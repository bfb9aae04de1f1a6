"""Analytics pages. Thin: the role check here, scoping and figures in the selectors."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from huitou.core.http import AuthedRequest, positive_int
from huitou.customers.models import Customer
from huitou.customers.selectors import stores_in_scope

from . import segments as seg
from . import selectors


@login_required
@require_GET
def segments_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    if not selectors.can_view_segments(viewer):
        raise DjangoPermissionDenied
    stores = list(stores_in_scope(viewer).values_list("pk", "name"))
    store_id = positive_int(request.GET.get("store"))
    if store_id not in {pk for pk, _name in stores}:
        store_id = None
    overview = selectors.segments_overview(viewer, store_id=store_id)
    base = reverse("customers:list")

    def link(**params: str) -> str:
        if store_id:
            params["store"] = str(store_id)
        return f"{base}?{urlencode(params)}"

    tier_labels = dict(Customer.Tier.choices)
    type_labels = dict(Customer.Type.choices)
    tiers = [
        {
            "row": row,
            "label": tier_labels[row.tier],
            # The customer list filters on the customers' current tier, which the nightly run sets.
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
    return render(
        request,
        "analytics/segments.html",
        {
            "overview": overview,
            "tiers": tiers,
            "types": types,
            "type_columns": type_columns,
            "rf_rows": [(5 - k, overview.rf_grid[4 - k]) for k in range(5)],
            "stores": stores,
            "store_id": store_id,
            "chart": chart,
            "top20_revenue": round(overview.top20_revenue_share * 100, 1),
            "top20_margin": round(overview.top20_margin_share * 100, 1),
        },
    )
