"""The retention calculator page (DOMAIN §8): the seeds' figures on the organisation's own numbers.

Thin: the role check here, the scoped counts in ``retention_data``, the arithmetic in ``retention``.
Each figure is a card with a one-line explanation, a table (ours beside the seed's), a chart, and
the whole page downloads as xlsx (``?format=xlsx``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET

from huitou.core.http import AuthedRequest
from huitou.core.http import require as _require

from . import retention as rt
from .forms_retention import RetentionForm
from .retention_data import can_view_retention, retention_observed

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Row:
    key: str
    label: str
    value: float | None
    kind: str  # count, money, percent, years, ratio
    seed: str = ""

    @property
    def text(self) -> str:
        return fmt(self.value, self.kind)


@dataclass
class Figure:
    key: str
    title: str
    explanation: str
    rows: list[Row]
    chart: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "count":
        return number_format(round(value), 0, force_grouping=True)
    if kind == "money":
        return "¥" + number_format(round(value), 0, force_grouping=True)
    if kind == "percent":
        return number_format(round(value * 100, 1), 1) + "%"
    if kind == "years":
        return number_format(round(value, 1), 1)
    if kind == "ratio":
        return number_format(round(value, 1), 1) + "×"
    return str(value)


def _pct(value: float | None) -> str:
    return fmt(value, "percent")


def _chart(rows: list[Row], label: str) -> dict[str, Any]:
    return {
        "label": label,
        "labels": [r.label for r in rows],
        "values": [None if r.value is None else round(r.value, 2) for r in rows],
    }


def _basics(r: rt.Retention) -> Figure:
    o = r.observed
    life = r.lifetime
    capped = life is not None and life.capped
    years = life.years if life else None
    value = life.value if life else None
    discounted = life.discounted if life else None
    rows = [
        Row("active_at_start", _("Active customers at the start"), o.active_at_start, "count"),
        Row("retained", _("Retained: bought again within the period"), o.retained, "count"),
        Row("new_customers", _("New customers acquired in the period"), o.new_customers, "count"),
        Row("yearly_retention", _("Yearly retention rate"), r.yearly_retention, "percent"),
        Row("yearly_churn", _("Yearly churn rate"), r.yearly_churn, "percent", _("20% (usual)")),
        Row("revenue_per_year", _("Average yearly revenue per customer"), r.revenue_per_year, "money"),
        Row("margin_per_year", _("Average yearly margin per customer"), r.margin_per_year, "money"),
        Row("lifetime", _("Average customer lifetime (years) = 1 ÷ churn"), years, "years", "5"),
        Row("lifetime_value", _("Lifetime value = yearly margin × lifetime"), value, "money"),
        Row(
            "lifetime_value_discounted",
            _("Lifetime value, discounted at %(rate)s a year") % {"rate": _pct(r.inputs.discount_rate)},
            discounted,
            "money",
        ),
        Row(
            "repeat_share",
            _("Share of revenue from returning customers"),
            r.repeat_revenue_share,
            "percent",
            "80%",
        ),
    ]
    if o.active_at_start:
        explanation = _(
            "Of the %(n)s customers who bought in the %(m)s months before the period, %(k)s bought again "
            "within it: yearly retention %(r)s, churn %(c)s."
        ) % {
            "n": o.active_at_start,
            "m": o.months,
            "k": o.retained,
            "r": _pct(r.yearly_retention),
            "c": _pct(r.yearly_churn),
        }
    else:
        explanation = _(
            "No customer bought in the %(m)s months before the period, so retention cannot be measured yet."
        ) % {"m": o.months}
    note = ""
    if capped:
        note = _(
            "Churn is below %(c)s a year, so the lifetime is capped at %(y)s years: without a cap, "
            "no churn would mean customers who stay for ever."
        ) % {"c": _pct(1 / rt.MAX_LIFETIME_YEARS), "y": int(rt.MAX_LIFETIME_YEARS)}
    chart_rows = [rows[0], rows[1], rows[2]]
    return Figure("basics", _("Your customers"), explanation, rows, _chart(chart_rows, _("Customers")), note)


def _plus_five(r: rt.Retention) -> Figure:
    p = r.plus_five
    title = _("+5 points of retention")
    if p is None:
        return Figure("plus_five", title, _("Needs customers who bought before the period."), [])
    rows = [
        Row("retention", _("Yearly retention: yours"), p.retention, "percent"),
        Row("retention_plus", _("Yearly retention + 5 points"), p.retention_plus, "percent", "+5%"),
        Row("lifetime", _("Lifetime now (years)"), p.lifetime.years, "years"),
        Row("lifetime_plus", _("Lifetime at + 5 points (years)"), p.lifetime_plus.years, "years"),
        Row("base_profit", _("Lifetime margin of today's customers"), p.base_profit, "money"),
        Row("extra_margin", _("Extra margin over the longer lifetime"), p.extra_margin, "money"),
        Row("extra_cost", _("Extra retention cost"), p.extra_cost, "money"),
        Row("extra_profit", _("Extra profit"), p.extra_profit, "money"),
        Row("profit_change", _("Profit change"), p.profit_change, "percent", "+25%"),
    ]
    explanation = _(
        "Extra profit = %(n)s customers × (yearly margin %(m)s − retention cost %(k)s) × (lifetime %(b)s − "
        "%(a)s years) = %(x)s, that is %(pc)s on today's lifetime margin; the seed says +25%%."
    ) % {
        "n": p.customers,
        "m": fmt(r.margin_per_year, "money"),
        "k": fmt(r.inputs.keep_cost, "money"),
        "b": fmt(p.lifetime_plus.years, "years"),
        "a": fmt(p.lifetime.years, "years"),
        "x": fmt(p.extra_profit, "money"),
        "pc": _pct(p.profit_change),
    }
    chart = _chart(
        [rows[4], Row("with", _("With + 5 points"), p.base_profit + p.extra_profit, "money")], title
    )
    note = _("The lifetime at + 5 points is capped.") if p.lifetime_plus.capped else ""
    return Figure("plus_five", title, explanation, rows, chart, note)


def _halving(r: rt.Retention) -> Figure:
    h = r.halving
    title = _("Lower churn, longer lifetime")
    if h is None:
        return Figure("halving", title, _("Needs customers who bought before the period."), [])
    rows = [
        Row("churn", _("Yearly churn: yours"), h.now.churn, "percent", "20%"),
        Row("target_churn", _("Target churn"), h.target.churn, "percent", "10%"),
        Row("lifetime", _("Lifetime now (years)"), h.now.years, "years", "5"),
        Row("lifetime_target", _("Lifetime at the target (years)"), h.target.years, "years", "10"),
        Row("value", _("Lifetime value now"), h.now.value, "money"),
        Row("value_target", _("Lifetime value at the target"), h.target.value, "money"),
        Row("discounted", _("Discounted lifetime value now"), h.now.discounted, "money"),
        Row("discounted_target", _("Discounted lifetime value at the target"), h.target.discounted, "money"),
        Row("lifetime_ratio", _("Lifetime multiplied by"), h.lifetime_ratio, "ratio", "2.0×"),
    ]
    explanation = _(
        "The seed: churn 20%% → 10%% makes the lifetime 5 → 10 years and doubles lifetime value. "
        "Yours: churn %(c)s → %(t)s makes it %(a)s → %(b)s years; lifetime value %(v)s → %(w)s."
    ) % {
        "c": _pct(h.now.churn),
        "t": _pct(h.target.churn),
        "a": fmt(h.now.years, "years"),
        "b": fmt(h.target.years, "years"),
        "v": fmt(h.now.value, "money"),
        "w": fmt(h.target.value, "money"),
    }
    chart = _chart([rows[4], rows[5], rows[6], rows[7]], title)
    note = _("The lifetime at the target is capped.") if h.target.capped and not h.now.capped else ""
    return Figure("halving", title, explanation, rows, chart, note)


def _lost(r: rt.Retention) -> Figure:
    lost = r.lost
    title = _("What one lost customer costs")
    if lost is None:
        return Figure("lost", title, _("Needs customers who bought before the period."), [])
    rows = [
        Row("lifetime_margin", _("Lifetime margin lost"), lost.lifetime_margin, "money", "$120"),
        Row("discounted", _("Lifetime margin lost, discounted"), lost.discounted, "money"),
        Row("replacement", _("Acquisition cost of a customer in their place"), lost.replacement, "money"),
        Row("total", _("Total: discounted margin lost + replacement"), lost.total, "money"),
    ]
    explanation = _(
        "A lost customer takes their yearly margin for the rest of their lifetime with them: %(x)s "
        "(%(d)s discounted), and winning someone in their place costs %(a)s more. The seed: about $120."
    ) % {
        "x": fmt(lost.lifetime_margin, "money"),
        "d": fmt(lost.discounted, "money"),
        "a": fmt(lost.replacement, "money"),
    }
    return Figure("lost", title, explanation, rows, _chart(rows, title))


def _cost_ratio(r: rt.Retention) -> Figure:
    c = r.cost_ratio
    title = _("Acquisition against retention cost")
    rows = [
        Row("acquisition", _("Acquisition cost per new customer"), c.acquisition, "money", "$118"),
        Row("retention", _("Retention cost per customer kept"), c.retention, "money", "$19"),
        Row("ratio", _("Acquisition ÷ retention"), c.ratio, "ratio", "5–6×"),
    ]
    explanation = _(
        "Winning a new customer costs %(a)s, keeping one %(k)s: %(x)s as much. The seed: 5 to 6 times "
        "($118 against $19)."
    ) % {"a": fmt(c.acquisition, "money"), "k": fmt(c.retention, "money"), "x": fmt(c.ratio, "ratio")}
    return Figure("cost_ratio", title, explanation, rows, _chart(rows[:2], title))


def _returning(r: rt.Retention) -> Figure:
    title = _("Returning against new customers")
    rows = [
        Row("returning", _("Returning customers in the period"), r.returning_customers, "count"),
        Row("returning_margin", _("Margin per returning customer"), r.returning_margin, "money"),
        Row("new_margin", _("Margin per new customer"), r.new_margin, "money"),
        Row("premium", _("Returning against new: difference"), r.returning_premium, "percent", "+20–85%"),
    ]
    explanation = _(
        "Within the period a returning customer brought %(o)s of margin and a new one %(n)s, a difference "
        "of %(p)s. The seed: old customers bring 20–85%% more profit than new ones."
    ) % {
        "o": fmt(r.returning_margin, "money"),
        "n": fmt(r.new_margin, "money"),
        "p": _pct(r.returning_premium),
    }
    return Figure("returning", title, explanation, rows, _chart(rows[1:3], title))


def retention_page_figures(r: rt.Retention) -> list[Figure]:
    return [_basics(r), _plus_five(r), _halving(r), _lost(r), _cost_ratio(r), _returning(r)]


def retention_xlsx(figures: list[Figure], *, period: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Retention"))
    ws.append([_("Retention calculator"), period])
    ws.append([pgettext("retention", "Figure"), pgettext("retention", "Item"), _("Yours"), _("Seed")])
    for fig in figures:
        for row in fig.rows:
            value = None if row.value is None else round(float(row.value), 4)
            ws.append([fig.title, row.label, value, row.seed])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@login_required
@require_GET
def retention_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(can_view_retention(viewer))
    form = RetentionForm(request.GET or None, viewer=viewer)
    start, end = form.period()
    store_id = form.store_id()
    observed = retention_observed(viewer, start=start, end=end, store_id=store_id)
    result = rt.retention_figures(observed, form.inputs())
    figures = retention_page_figures(result)
    period = f"{start:%Y-%m} – {end:%Y-%m}"
    if request.GET.get("format") == "xlsx":
        response = HttpResponse(retention_xlsx(figures, period=period), content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="retention-{start:%Y-%m}-{end:%Y-%m}.xlsx"'
        return response
    kept = {k: v for k, v in request.GET.items() if k != "format" and v}
    return render(
        request,
        "analytics/retention/calculator.html",
        {
            "form": form,
            "figures": figures,
            "result": result,
            "period": period,
            "charts": {f.key: f.chart for f in figures if f.chart},
            "xlsx_url": request.path + "?" + urlencode({**kept, "format": "xlsx"}),
        },
    )
