"""Calendar-month arithmetic shared by the plan, the reports and the calculators."""

import datetime as dt

from huitou.core.months import add_months, month_first, month_last, month_start_after


def test_add_months_clamps_to_the_months_end():
    assert add_months(dt.date(2026, 8, 31), 6) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2027, 8, 31), 6) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 1, 15), 12) == dt.date(2027, 1, 15)


def test_month_bounds_and_starts():
    assert (month_first(dt.date(2026, 2, 17)), month_last(dt.date(2026, 2, 17))) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 28),
    )
    assert month_start_after(dt.date(2026, 11, 22), 2) == dt.date(2027, 1, 1)
    assert month_start_after(dt.date(2026, 1, 31), -1) == dt.date(2025, 12, 1)
