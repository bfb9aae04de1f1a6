"""The CVP award as a spreadsheet for payroll: one row per rep, with the payroll month."""

from __future__ import annotations

import io
from collections.abc import Iterable

from django.utils.translation import gettext as _
from openpyxl import Workbook

from .measures import AwardRow


def _text(value: str) -> str:
    # A cell starting like a formula is written as text, never run by the spreadsheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def award_xlsx(rows: Iterable[AwardRow]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("CVP award"))
    sheet.append(
        [
            _("Payroll month"),
            _("Sales month"),
            _("Store"),
            _("Rep"),
            _("Answers"),
            _("Very satisfied"),
            _("CVP"),
            _("Retail cars"),
            _("Wholesale buyers"),
            _("Cars counted"),
            _("CVP 100%"),
            _("Award (¥)"),
        ]
    )
    for r in rows:
        sheet.append(
            [
                f"{r.payroll_month:%Y-%m}",
                f"{r.month:%Y-%m}",
                _text(r.store),
                _text(r.name),
                r.answers,
                r.top,
                None if r.cvp is None else round(r.cvp, 4),
                r.retail_cars,
                r.wholesale_buyers,
                r.units,
                _("yes") if r.eligible else _("no"),
                float(r.amount),
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
