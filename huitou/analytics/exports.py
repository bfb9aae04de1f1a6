"""xlsx downloads of the segments, at-risk and qualified-lead pages.

Each workbook holds exactly what its page shows under the same filters and scope: the views pass
the figures and the querysets their selectors built for the page. So the figures' sheets (tiers,
grid, types, score distribution, reasons) count the snapshot's rows by the owner and store copied
at the nightly run, and the customer sheets list only the rows whose customer the viewer may still
see now (``scope`` module): a customer reassigned today is counted but no longer listed.

Workbooks are written row by row (openpyxl write-only) from ``iterator()`` chunks to a temporary
file that the response streams, so neither the rows nor the workbook sit in memory. Texts are in
the site's language, like the other analytics exports. The customer sheets stop at
``EXPORT_ROWS`` rows and say so in their last line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.http import FileResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from huitou.accounts import permissions
from huitou.core.xlsx import cell, respond, workbook
from huitou.customers.models import Customer

from . import risk_selectors
from . import selectors as seg_sel
from .models_qualify import Qualification

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from huitou.accounts.models import User

    from .models import CustomerRisk, CustomerSegment

# Customer rows per export; past this the sheet says the list was cut.
EXPORT_ROWS = 50_000
CHUNK = 2000


def _customer_sheet(sheet: Any, rows: QuerySet[Any], line: Callable[[Any], list[Any]]) -> None:
    """``line(row)`` for each of the first ``EXPORT_ROWS`` rows, read in chunks; when there were
    more, a last line says the list was cut."""
    for written, row in enumerate(rows[: EXPORT_ROWS + 1].iterator(chunk_size=CHUNK)):
        if written == EXPORT_ROWS:
            cut = _("Only the first %(n)s customers are exported; narrow the filters.") % {"n": written}
            sheet.append([cut])
            return
        sheet.append(line(row))


def _filters_sheet(book: Any, lines: Sequence[tuple[Any, Any]]) -> None:
    """The filters the rows were read with, one "label, value" line each (lazy texts allowed)."""
    sheet = book.create_sheet(_("Filters")[:31])
    for label, value in lines:
        sheet.append([str(label), cell(str(value))])


def chosen_filters(form: forms.Form, names: Sequence[str]) -> list[tuple[Any, Any]]:
    """(label, value) of each filter of ``form`` that is set, values as the page shows them
    (the chosen option's text); lazy, so the export writes them in its own language."""
    if not form.is_bound or not form.is_valid():
        return []
    out: list[tuple[Any, Any]] = []
    for name in names:
        value = form.cleaned_data.get(name)
        if value in (None, ""):
            continue
        field = form.fields[name]
        if isinstance(field, forms.ChoiceField):
            texts = {str(k): v for k, v in field.choices}  # type: ignore[union-attr,misc]
            value = texts.get(value.isoformat() if isinstance(value, dt.date) else str(value), value)
        elif isinstance(value, dt.date):
            value = value.isoformat()
        out.append((field.label, value))
    return out


def _local(value: dt.datetime | None) -> dt.datetime | None:
    # Excel has no time zones: local wall-clock time.
    return timezone.localtime(value).replace(tzinfo=None) if value else None


# ---------------------------------------------------------------------------------------------
# Segments


def segments_customer_header() -> list[str]:
    with translation.override(settings.LANGUAGE_CODE):
        return [
            _("Customer id"),
            _("Customer"),
            _("Rep"),
            _("Store"),
            _("Tier"),
            "R",
            "F",
            "M",
            _("Days since the last purchase"),
            _("Purchase days"),
            _("Revenue"),
            _("Margin"),
            _("Suggested type"),
            _("Customer type (set by hand)"),
        ]


def segments_xlsx(
    overview: seg_sel.SegmentOverview,
    rows: QuerySet[CustomerSegment],
    *,
    filters: Sequence[tuple[Any, Any]],
) -> FileResponse:
    """The tier table with its Pareto figures, the curve, the R×F grid, suggested against set
    types, and one row per customer of ``rows`` (best revenue first)."""
    book = workbook()
    with translation.override(settings.LANGUAGE_CODE):
        tiers = {str(k): str(v) for k, v in Customer.Tier.choices}
        types = {str(k): str(v) for k, v in Customer.Type.choices}
        no_suggestion = _("No suggestion")
        sheet = book.create_sheet(_("Value tiers")[:31])
        sheet.append(
            [
                _("Tier"),
                _("Customers"),
                _("Revenue"),
                _("Share of revenue"),
                _("Margin"),
                _("Share of margin"),
            ]
        )
        for t in overview.tiers:
            sheet.append([tiers[t.tier], t.customers, t.revenue, t.revenue_share, t.margin, t.margin_share])
        sheet.append([_("Total"), overview.customers, overview.revenue, 1 if overview.revenue else 0])
        sheet.append([])
        sheet.append([_("Best 20 percent of customers: share of revenue"), overview.top20_revenue_share])
        sheet.append([_("Best 20 percent of customers: share of margin"), overview.top20_margin_share])

        sheet = book.create_sheet(_("Pareto curve")[:31])
        sheet.append([_("Share of customers, best first"), _("Share of revenue"), _("Share of margin")])
        curve = overview.pareto
        for x, rev, mar in zip(
            curve.get("customers", []), curve.get("revenue", []), curve.get("margin", []), strict=False
        ):
            sheet.append([x, rev, mar])

        sheet = book.create_sheet(_("Recency × frequency")[:31])
        sheet.append([_("R / F"), *(f"F{f}" for f in range(1, 6))])
        for r in range(5, 0, -1):
            sheet.append([f"R{r}", *overview.rf_grid[r - 1]])

        sheet = book.create_sheet(_("Customer types")[:31])
        sheet.append([_("Suggested / set by hand"), *(types[t] for t in seg_sel.TYPES)])
        for suggested in seg_sel.TYPES:
            counts = overview.types.get(suggested, {})
            sheet.append(
                [types[suggested] if suggested else no_suggestion, *(counts.get(t, 0) for t in seg_sel.TYPES)]
            )

        sheet = book.create_sheet(_("Customers")[:31])
        sheet.append(segments_customer_header())

        def line(s: CustomerSegment) -> list[Any]:
            c = s.customer
            return [
                c.pk,
                cell(c.name),
                cell(str(c.owner)) if c.owner else "",
                cell(c.store.name) if c.store else "",
                tiers.get(s.tier, s.tier),
                s.r,
                s.f,
                s.m,
                s.recency_days,
                s.frequency,
                s.monetary,
                s.margin,
                types.get(s.suggested_type, s.suggested_type) if s.suggested_type else no_suggestion,
                types.get(c.customer_type, c.customer_type),
            ]

        _customer_sheet(sheet, rows, line)
        day = overview.as_of.isoformat() if overview.as_of else ""
        _filters_sheet(book, [(_("As of"), day), *filters])
    return respond(book, f"customer-segments-{day}.xlsx")


# ---------------------------------------------------------------------------------------------
# At-risk customers


def risk_header() -> list[str]:
    with translation.override(settings.LANGUAGE_CODE):
        return [
            _("Customer id"),
            _("Customer"),
            _("Phone"),
            _("Rep"),
            _("Store"),
            _("Score"),
            _("Why"),
            _("P(alive)"),
            _("Days since the last purchase"),
        ]


def risk_reason_labels() -> dict[str, str]:
    """Short names of the reasons, for the chart and the export."""
    return {
        "alive": _("Low chance still buying"),
        "gap": _("No purchase for longer than usual"),
        "spend": _("Spend falling"),
        "complaint": _("Open complaint"),
        "satisfaction": _("Low satisfaction"),
        "late": _("Late payment"),
        "competitor": _("Contact with a competitor"),
    }


def score_bin_labels() -> list[str]:
    return [f"{10 * k}–{10 * k + 9}" for k in range(risk_selectors.SCORE_BINS - 1)] + [
        f"{10 * (risk_selectors.SCORE_BINS - 1)}–100"
    ]


def risk_xlsx(
    viewer: User,
    rows: QuerySet[CustomerRisk],
    chart: risk_selectors.RiskChart,
    *,
    as_of: dt.date | None,
    min_score: int,
    filters: Sequence[tuple[Any, Any]],
) -> FileResponse:
    """The at-risk list of the page (``rows``, highest score first) with the phone masked as the
    page masks it for this viewer, then the score distribution and the reasons of the chart."""
    full = permissions.sees_full_phone(viewer)
    book = workbook()
    with translation.override(settings.LANGUAGE_CODE):
        sheet = book.create_sheet(_("Customers at risk")[:31])
        sheet.append(risk_header())

        def line(r: CustomerRisk) -> list[Any]:
            c = r.customer
            return [
                c.pk,
                cell(c.name),
                permissions.phone_for(viewer, c.phone, full=full) if c.phone else "",
                cell(str(r.owner)) if r.owner else "",
                cell(r.store.name) if r.store else "",
                r.score,
                cell("; ".join(risk_selectors.reasons_text(r.reasons))),
                r.p_alive,
                r.days_since_last,
            ]

        _customer_sheet(sheet, rows, line)

        sheet = book.create_sheet(_("Score distribution")[:31])
        sheet.append([_("Score"), _("Customers"), _("In the list")])
        for k, (label, n) in enumerate(zip(score_bin_labels(), chart.bins, strict=True)):
            sheet.append([label, n, _("yes") if 10 * k + 9 >= min_score else _("no")])

        sheet = book.create_sheet(_("Reasons")[:31])
        sheet.append([_("Reason"), _("Customers at risk")])
        labels = risk_reason_labels()
        for code in risk_selectors.REASON_CODES:
            sheet.append([labels[code], chart.reasons[code]])
        day = as_of.isoformat() if as_of else ""
        _filters_sheet(book, [(_("As of"), day), *filters, (_("Minimum score"), str(min_score))])
    return respond(book, f"customers-at-risk-{day}.xlsx")


# ---------------------------------------------------------------------------------------------
# Qualified leads


def qualify_header() -> list[str]:
    with translation.override(settings.LANGUAGE_CODE):
        return [
            _("Customer id"),
            _("Customer"),
            _("Apple"),
            _("Status"),
            _("Rep"),
            _("Store"),
            _("Need"),
            _("Money"),
            _("Decision power"),
            _("Note"),
            _("Updated"),
            _("Updated by"),
        ]


def qualify_xlsx(
    rows: QuerySet[Qualification], *, filters: Sequence[tuple[Any, Any]], today: dt.date
) -> FileResponse:
    """The qualified list of the page (``rows``, most recently updated first)."""
    book = workbook()
    with translation.override(settings.LANGUAGE_CODE):
        apples = {str(k): str(v) for k, v in Qualification.Apple.choices}
        statuses = {str(k): str(v) for k, v in Customer.Status.choices}
        yes, no = _("yes"), _("no")
        sheet = book.create_sheet(_("Qualified leads")[:31])
        sheet.append(qualify_header())

        def line(q: Qualification) -> list[Any]:
            c = q.customer
            return [
                c.pk,
                cell(c.name),
                apples.get(q.apple, q.apple),
                statuses.get(c.status, c.status),
                cell(str(c.owner)) if c.owner else "",
                cell(c.store.name) if c.store else "",
                yes if q.need else no,
                yes if q.money else no,
                yes if q.authority else no,
                cell(q.note),
                _local(q.updated_at),
                cell(str(q.updated_by)) if q.updated_by else "",
            ]

        _customer_sheet(sheet, rows, line)
        _filters_sheet(book, [(_("Exported on"), today.isoformat()), *filters])
    return respond(book, f"qualified-leads-{today.isoformat()}.xlsx")
