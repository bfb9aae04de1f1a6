"""Pages of the referral insights: figures, the rep scorecard, base customers, the customer panel.

Thin: role checks here, rows filtered in ``insights``/``referrers`` by the viewer's scope, the one
write through ``referrers.referrer_type_set``. Outside the scope is 404; a role that may never
see a page is 403.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from huitou.accounts import permissions
from huitou.core.errors import Conflict, ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.core.http import is_htmx as _htmx
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import paginate

from . import insights, referrers
from .forms_insights import BaseCustomersForm, InsightsForm, ReferrerTypeForm, ScorecardForm
from .models import ReferrerType, Stage
from .selectors import referral_card_queryset
from .views import STAGE_BADGES  # one colour per stage on every referral page

PAGE_SIZE = 50


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _ratio(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def stage_labels() -> dict[str, str]:
    return {str(k): str(v) for k, v in Stage.choices}


def funnel_labels() -> dict[str, str]:
    return {
        "submitted": _("Submitted"),
        "verified": _("Verified"),
        "contacted": _("Contacted / visited"),
        "quoted": _("Test drive / quote"),
        "won": _("Won"),
    }


def reference_labels() -> dict[str, tuple[str, str]]:
    return {
        "deals_per_customer": (
            _("Potential deals per satisfied customer"),
            _("Ours: referrals submitted per customer sold"),
        ),
        "closed_per_customer": (
            _("Deals closed per satisfied customer (at least)"),
            _("Ours: referrals won per customer sold"),
        ),
        "new_per_100": (
            _("New customers per 100 very satisfied customers (AMA)"),
            _("Ours: referrals won per 100 customers sold"),
        ),
        "people_behind": (
            _("People behind each customer (Girard)"),
            _("Ours: people named per referring customer"),
        ),
    }


# ---------------------------------------------------------------------------------------------
# Insights


@login_required
@require_GET
def insights_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    this_month = insights.month_first(timezone.localdate())
    form = InsightsForm(
        request.GET or None,
        viewer=viewer,
        initial={"start": insights.add_months(this_month, -11), "end": this_month},
    )
    start, end = form.period()
    store_id = form.value("store")
    today = timezone.localdate()
    viral = insights.viral_coefficient(viewer, start=start, end=end, store_id=store_id)
    curve = insights.referral_curve(viewer, start=start, end=end, store_id=store_id, today=today)
    funnel = insights.referral_funnel(viewer, start=start, end=end, store_id=store_id)
    periods = insights.quota_periods_compare(viewer, store_id=store_id, today=today)
    totals = insights.referral_totals(viewer, start=start, end=end, store_id=store_id)
    labels = reference_labels()
    references = [
        {
            "key": r.key,
            "label": labels[r.key][0],
            "ours_label": labels[r.key][1],
            "reference": r.reference,
            "ours": _ratio(r.ours),
        }
        for r in insights.reference_figures(totals)
    ]

    months = []
    m = insights.month_first(start)
    while m <= end:
        months.append(m)
        m = insights.add_months(m, 1)
    stores: dict[Any, str] = {}
    for r in viral:
        stores.setdefault(r.store_id, r.store or _("No store"))
    by_cell = {(r.store_id, r.month): r for r in viral}
    viral_chart = {
        "labels": [mm.strftime("%Y-%m") for mm in months],
        "datasets": [
            {
                "label": name,
                "data": [
                    _ratio(by_cell[(sid, mm)].coefficient, 3) if (sid, mm) in by_cell else None
                    for mm in months
                ],
            }
            for sid, name in stores.items()
        ],
    }
    curve_chart = {
        "labels": [str(b.month) for b in curve],
        "data": [_pct(b.share) for b in curve],
        "label": _("Share of sold customers who referred (%)"),
    }
    f_labels = funnel_labels()
    funnel_chart = {
        "labels": [f_labels[s] for s in insights.FUNNEL_STAGES],
        "data": [funnel.total.count(s) for s in insights.FUNNEL_STAGES],
        "label": _("Referrals"),
    }
    periods_chart = {
        "labels": [_("Referrals per sale"), _("Verified share"), _("Won per sale")],
        "datasets": [
            {
                "label": p.label,
                "data": [_ratio(p.referrals_per_sale), _ratio(p.verified_share), _ratio(p.won_per_sale)],
            }
            for p in periods
        ],
    }
    return render(
        request,
        "referrals/insights/insights.html",
        {
            "form": form,
            "start": start,
            "end": insights.month_last(end),
            "viral": viral,
            "viral_chart": viral_chart,
            "curve": curve,
            "curve_chart": curve_chart,
            "funnel": funnel,
            "funnel_chart": funnel_chart,
            "funnel_stages": [(s, f_labels[s]) for s in insights.FUNNEL_STAGES],
            "periods": periods,
            "periods_chart": periods_chart,
            "totals": totals,
            "references": references,
            "policy": viewer.organisation.policy.referrals,  # type: ignore[union-attr]
        },
    )


# ---------------------------------------------------------------------------------------------
# Scorecard


def scorecard_headers() -> list[tuple[str, str]]:
    return [
        ("name", _("Rep")),
        ("store", _("Store")),
        ("team", _("Team")),
        ("sold", _("Sold customers (deadline in month)")),
        ("met", _("Quota met")),
        ("pending", _("Pending")),
        ("missed", _("Quota missed")),
        ("verified", _("Verified referrals")),
        ("won", _("Won referrals")),
        ("faked", _("Faked referrals found")),
        ("reward", _("Reward (¥)")),
        ("penalty", _("Penalty (¥)")),
        ("net", _("Net (¥)")),
    ]


def _score_cells(row: insights.ScoreRow) -> list[Any]:
    return [
        row.name,
        row.store,
        row.team,
        row.sold,
        row.met,
        row.pending,
        row.missed,
        row.verified,
        row.won,
        row.faked,
        row.reward,
        row.penalty,
        row.net,
    ]


def scorecard_xlsx(card: insights.Scorecard) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(card.month.strftime("%Y-%m"))
    ws.append([label for _k, label in scorecard_headers()])
    for row in card.rows:
        ws.append([float(c) if isinstance(c, Decimal) else c for c in _score_cells(row)])
    totals = _score_cells(card.totals)
    totals[0] = _("Total")
    ws.append([float(c) if isinstance(c, Decimal) else c for c in totals])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@login_required
@require_GET
def scorecard_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(insights.can_view_scorecard(viewer))
    form = ScorecardForm(
        request.GET or None, viewer=viewer, initial={"month": insights.month_first(timezone.localdate())}
    )
    month = form.chosen_month()
    store_id, team_id = form.value("store"), form.value("team")
    card = insights.scorecard(viewer, month=month, store_id=store_id, team_id=team_id)
    if request.GET.get("format") == "xlsx":
        response = HttpResponse(
            scorecard_xlsx(card),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        name = f"scorecard-{month.strftime('%Y-%m')}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    kept = {k: v for k, v in request.GET.items() if k in {"month", "store", "team"} and v}
    base = reverse("referrals:scorecard")
    prev_q = {**kept, "month": insights.add_months(month, -1).strftime("%Y-%m")}
    next_q = {**kept, "month": insights.add_months(month, 1).strftime("%Y-%m")}
    return render(
        request,
        "referrals/insights/scorecard.html",
        {
            "form": form,
            "card": card,
            "month": month,
            "month_end": insights.month_last(month),
            "headers": scorecard_headers(),
            "xlsx_url": base + "?" + urlencode({**kept, "month": month.strftime("%Y-%m"), "format": "xlsx"}),
            "prev_url": base + "?" + urlencode(prev_q),
            "next_url": base + "?" + urlencode(next_q),
        },
    )


# ---------------------------------------------------------------------------------------------
# Base customers


@login_required
@require_GET
def base_customers_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    form = BaseCustomersForm(request.GET or None, viewer=viewer)
    qs = insights.base_customer_queryset(
        viewer, store_id=form.value("store"), referrer_type=form.value("type") or ""
    )
    page = paginate(qs, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE)
    prev_url, next_url = _pager(request, page)
    rows = insights.base_customer_rows(viewer, page.items)
    return render(
        request,
        "referrals/insights/base_customers.html",
        {"form": form, "rows": rows, "page": page, "prev_url": prev_url, "next_url": next_url},
    )


# ---------------------------------------------------------------------------------------------
# Customer panel and referrer type


def _panel(
    request: AuthedRequest, customer_id: int, *, form: ReferrerTypeForm | None = None, error: str = ""
) -> dict[str, Any]:
    viewer = request.user
    profile = referrers.referrer_profile_get(viewer, customer_id)  # 404 outside the scope
    chain = insights.referral_chain(viewer, customer_id)
    evidence = referrers.referrer_evidence(viewer, [customer_id])[customer_id]
    suggestion = referrers.suggestions_for([evidence])[0]
    kind = profile.referrer_type if profile else ""
    can_set = referrers.can_set_type(viewer)
    if form is None and can_set:
        form = ReferrerTypeForm(
            initial={
                "referrer_type": kind,
                "refuses_rewards": profile.refuses_rewards if profile else False,
                "asked_for_help": profile.asked_for_help if profile else "",
                "note": profile.note if profile else "",
                "version": profile.version if profile else 0,
            }
        )
    made: list[dict[str, Any]] = [
        dict(r)
        for r in referral_card_queryset(viewer)
        .filter(referrer_id=customer_id)
        .order_by("-submitted_at", "-id")
        .values("id", "name", "stage", "relation", "interest", "submitted_at", "customer_id")[:21]
    ]
    labels = stage_labels()
    for r in made:
        r["stage_label"] = labels.get(r["stage"], r["stage"])
        r["badge"] = STAGE_BADGES.get(r["stage"], "text-bg-secondary")
    first_lead = (
        referral_card_queryset(viewer)
        .filter(customer_id=customer_id)
        .order_by("submitted_at", "id")
        .values("id", "stage", "submitted_at", "referrer_id")
        .first()
    )
    lead: dict[str, Any] | None = dict(first_lead) if first_lead is not None else None
    if lead is not None:
        lead["stage_label"] = labels.get(lead["stage"], lead["stage"])
        lead["badge"] = STAGE_BADGES.get(lead["stage"], "text-bg-secondary")
    quota = insights.customer_quota(viewer, customer_id)
    root_revenue = chain.root.subtree_revenue
    nodes = []
    for n in chain.nodes[1:]:
        nodes.append(
            {
                "node": n,
                "indent": min(n.depth - 1, 8) * 1.25,
                "share": _pct(float(n.subtree_revenue / root_revenue)) if root_revenue else None,
            }
        )
    return {
        "customer_id": customer_id,
        "profile": profile,
        "referrer_type": kind,
        "type_label": str(ReferrerType(kind).label) if kind else "",
        "advice": referrers.advice_for(kind),
        "suggestion": suggestion,
        "advice_all": [(str(label), referrers.advice_for(value)) for value, label in ReferrerType.choices],
        "can_set": can_set,
        "form": form,
        "error": error,
        "made": made[:20],
        "made_more": len(made) > 20,
        "lead": lead,
        "referred_by": chain.upward[-1] if chain.upward else None,
        "quota": quota,
        "chain": chain,
        "nodes": nodes,
    }


@login_required
@require_GET
def customer_panel_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    """The referral card of the customer page (loaded by htmx after the page)."""
    return render(request, "referrals/insights/_customer_panel.html", _panel(request, customer_id))


@login_required
@require_POST
def referrer_type_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    viewer = request.user
    referrers.referrer_profile_get(viewer, customer_id)  # 404 before 403
    _require(referrers.can_set_type(viewer))
    form: ReferrerTypeForm | None = ReferrerTypeForm(request.POST)
    assert form is not None
    error = ""
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        try:
            referrers.referrer_type_set(
                actor=viewer,
                customer_id=customer_id,
                referrer_type=data.get("referrer_type") or "",
                refuses_rewards=bool(data.get("refuses_rewards")),
                asked_for_help=data.get("asked_for_help") or "",
                note=data.get("note") or "",
                version=data.get("version"),
            )
        except Conflict:
            error = _(
                "Someone else changed this customer's referrer type after you opened it; "
                "it is shown as it is now."
            )
            form = None  # show the current values
            status = 409
        except ValidationFailed as exc:
            error = error_text(exc)
            form.add_service_errors(exc)
            status = 422
        else:
            form = None
    else:
        status = 422
    if _htmx(request):
        context = _panel(request, customer_id, form=form, error=error)
        # htmx swaps 2xx only: the error is told inside the panel.
        return render(request, "referrals/insights/_customer_panel.html", context)
    if error:
        messages.error(request, error)
    elif status == 200:
        messages.success(request, _("Referrer type saved."))
    else:
        messages.error(request, _("The referrer type was not saved."))
    return redirect(reverse("customers:detail", args=[customer_id]))
