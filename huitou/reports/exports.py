"""xlsx downloads of the reports, in the viewer's language. Each workbook is written row by row
(openpyxl write-only) to a temporary file and streamed from it, so no response holds a workbook."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import FileResponse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huitou.core.xlsx import cell, respond, workbook

from . import selectors as sel


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _days(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def period_header() -> list[str]:
    return [
        _("Period"),
        _("Sales"),
        _("Previous period"),
        _("Growth vs previous period"),
        _("Same period last year"),
        _("Growth vs last year"),
        _("Total purchases in the category"),
        _("Share of wallet"),
        _("Selling cost"),
        _("Expense ratio"),
        _("Selling cost growth"),
        _("Cost growth minus sales growth"),
        _("Promotion sales"),
        _("Promotion purchases"),
        _("Paid in full"),
        _("Paid late"),
        _("Mean collection delay (days)"),
        _("Longest collection delay (days)"),
        _("Visits planned"),
        _("Planned visits done"),
        _("Visits done"),
    ]


def period_line(r: sel.PeriodRow) -> list[Any]:
    return [
        r.key,
        r.sales,
        r.previous_sales,
        _pct(r.growth_previous),
        r.last_year_sales,
        _pct(r.growth_last_year),
        r.wallet,
        _pct(r.share_of_wallet),
        r.cost,
        _pct(r.expense_ratio),
        _pct(r.cost_growth),
        _pct(r.cost_vs_sales),
        r.promotion_sales,
        r.promotion_purchases,
        r.paid,
        r.late,
        _days(r.mean_delay_days),
        r.max_delay_days,
        r.visits_planned,
        r.visits_planned_done,
        r.visits_done,
    ]


def ageing_header(edges: tuple[int, ...]) -> list[str]:
    labels = [_("Current")]
    low = 1
    for e in edges:
        labels.append(_("%(low)s–%(high)s days") % {"low": low, "high": e})
        low = e + 1
    labels.append(_("Over %(days)s days") % {"days": edges[-1]})
    return labels


def account_xlsx(report: sel.AccountReport) -> FileResponse:
    book = workbook()
    months = book.create_sheet(_("Months")[:31])
    months.append([cell(report.customer.name), str(report.year)])
    months.append(period_header())
    for r in report.months:
        months.append(period_line(r))
    years = book.create_sheet(_("Years")[:31])
    years.append(period_header())
    for r in report.years:
        years.append(period_line(r))
    ageing = book.create_sheet(_("Receivables")[:31])
    ageing.append([*ageing_header(report.ageing_edges), _("Outstanding"), pgettext("receivables", "Overdue")])
    ageing.append([*report.ageing.buckets, report.ageing.outstanding, report.ageing.overdue])
    promos = book.create_sheet(_("Promotions")[:31])
    promos.append(
        [
            _("Promotion"),
            _("Starts on"),
            _("Ends on"),
            _("Promotion purchases"),
            _("Promotion sales"),
            _("Sales during"),
            _("Sales before"),
            _("Lift"),
            _("Lift rate"),
        ]
    )
    for p in report.promotions:
        promos.append(
            [
                cell(p.name),
                p.starts_on,
                p.ends_on,
                p.purchases,
                p.promotion_sales,
                p.sales_during,
                p.sales_before,
                p.lift,
                _pct(p.lift_rate),
            ]
        )
    if report.stock is not None:
        _stock_sheet(book, report.stock)
    return respond(book, f"account-{report.customer.pk}-{report.year}.xlsx")


def stock_header() -> list[str]:
    return [
        _("Month"),
        _("Checked on"),
        _("Display"),
        _("Facings"),
        _("Stock"),
        _("Products out of stock"),
        _("Checked by"),
    ]


def stock_line(key: str, check: Any) -> list[Any]:
    if check is None:
        return [key, None, None, None, None, None, None]
    return [
        key,
        check.checked_on,
        str(check.get_display_display()),
        check.facings,
        str(check.get_stock_display()),
        cell(check.out_of_stock) or None,
        cell(check.checked_by.label if check.checked_by else ""),
    ]


def _stock_sheet(book: Any, stock: sel.StockStatus) -> None:
    sheet = book.create_sheet(_("Display and stock")[:31])
    sheet.append(stock_header())
    for m in stock.months:
        sheet.append(stock_line(m.key, m.check))
    latest = stock.latest
    sheet.append([])
    sheet.append(stock_line(_("Latest check"), latest))


def accounts_header() -> list[str]:
    return [
        _("Account id"),
        _("Account"),
        _("Kind"),
        _("Rep"),
        _("Store"),
        _("Sales"),
        _("Same span last year"),
        _("Growth"),
        _("Total purchases in the category"),
        _("Share of wallet"),
        _("Outstanding"),
        pgettext("receivables", "Overdue"),
        _("Visits planned"),
        _("Visits done"),
    ]


def accounts_xlsx(rows: Iterable[sel.AccountRow], *, year: int, limit: int) -> FileResponse:
    from huitou.customers.models import Customer

    kinds = dict(Customer.Kind.choices)
    book = workbook()
    sheet = book.create_sheet(_("Accounts")[:31])
    sheet.append(accounts_header())
    n = 0
    for r in rows:
        n += 1
        sheet.append(
            [
                r.id,
                cell(r.name),
                str(kinds.get(r.kind, r.kind)),
                cell(r.rep),
                cell(r.store),
                r.sales,
                r.previous_sales,
                _pct(r.growth),
                r.wallet,
                _pct(r.share_of_wallet),
                r.outstanding,
                r.overdue,
                r.visits_planned,
                r.visits_done,
            ]
        )
    if n >= limit:
        sheet.append([_("Only the first %(n)s accounts are exported; narrow the filters.") % {"n": limit}])
    return respond(book, f"accounts-{year}.xlsx")


def receivables_xlsx(
    rows: list[sel.AgeingRow], total: sel.AgeingRow, edges: tuple[int, ...], *, group: str
) -> FileResponse:
    book = workbook()
    sheet = book.create_sheet(_("Receivables")[:31])
    first = _("Rep") if group == "rep" else _("Store")
    sheet.append(
        [
            first,
            *ageing_header(edges),
            _("Outstanding"),
            pgettext("receivables", "Overdue"),
            _("Open purchases"),
            _("Overdue purchases"),
        ]
    )
    for r in [*rows, total]:
        name = r.name if r is not total else _("Total")
        sheet.append([cell(name or "—"), *r.buckets, r.outstanding, r.overdue, r.open_count, r.overdue_count])
    return respond(book, "receivables.xlsx")


def funnel_labels() -> dict[str, str]:
    return {
        "leads": _("Referral leads"),
        "verified": _("Verified"),
        "contacted": _("Contacted / visited"),
        "quoted": _("Test drive / quote"),
        "won": _("Won"),
        "prospects": _("New prospects"),
        "converted": _("Prospects who bought"),
        "first_purchases": _("First purchases"),
    }


def funnel_xlsx(funnel: sel.Funnel) -> FileResponse:
    labels = funnel_labels()
    book = workbook()
    for title, first, rows in (
        (_("Per rep"), _("Rep"), funnel.by_rep),
        (_("Per store"), _("Store"), funnel.by_store),
        (_("Per month"), _("Month"), funnel.by_month),
    ):
        sheet = book.create_sheet(title[:31])
        sheet.append([first, *labels.values(), _("First purchase sales")])
        for r in [*rows, funnel.total]:
            name = r.name if r is not funnel.total else _("Total")
            sheet.append(
                [cell(name or "—"), *(r.count(s) for s in sel.FUNNEL_STAGES), r.first_purchase_sales]
            )
    return respond(book, f"funnel-{funnel.start:%Y-%m}-{funnel.end:%Y-%m}.xlsx")


def promotions_header() -> list[str]:
    return [
        _("Promotion id"),
        _("Promotion"),
        _("Starts on"),
        _("Ends on"),
        _("Stores"),
        _("Purchase kinds"),
        _("Promotion purchases"),
        _("Accounts taking part"),
        _("Promotion sales"),
    ]


def purchase_kind_labels(kinds: list[str]) -> str:
    from huitou.customers.models import Purchase

    labels = dict(Purchase.Kind.choices)
    return ", ".join(str(labels.get(k, k)) for k in kinds) if kinds else _("All kinds")


def promotions_xlsx(rows: Iterable[sel.PromotionListRow], *, limit: int) -> FileResponse:
    book = workbook()
    sheet = book.create_sheet(_("Promotions")[:31])
    sheet.append(promotions_header())
    n = 0
    for r in rows:
        n += 1
        p = r.promotion
        sheet.append(
            [
                p.pk,
                cell(p.name),
                p.starts_on,
                p.ends_on,
                cell(", ".join(r.store_names) if r.store_names else _("All stores")),
                purchase_kind_labels(list(p.purchase_kinds)),
                r.purchases,
                r.accounts,
                r.promotion_sales,
            ]
        )
    if n >= limit:
        sheet.append([_("Only the first %(n)s promotions are exported.") % {"n": limit}])
    return respond(book, "promotions.xlsx")
