"""Calendar-month arithmetic shared by the plan, the reports and the calculators (no Django)."""

from __future__ import annotations

import datetime as dt


def month_first(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_last(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def month_start_after(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after the month of ``day`` (negative: before)."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, clamped to the month's end (31 Aug + 6 → end of Feb)."""
    first = month_start_after(day, months)
    return first.replace(day=min(day.day, month_last(first).day))
