"""Ticket deadlines across weekends, the National Day week of 2026 and its make-up working day."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from huitou.feedback import sla

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
CUTOFF = dt.time(17, 30)


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=TZ)


def eod(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, 23, 59, 59, tzinfo=TZ)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (at(2026, 9, 30, 10), eod(2026, 9, 30)),  # Wednesday before the cut-off: the same day
        (at(2026, 9, 30, 17, 30), eod(2026, 10, 8)),  # at the cut-off: next working day, after the holiday
        (at(2026, 10, 3, 9), eod(2026, 10, 8)),  # inside National Day (Saturday)
        (at(2026, 10, 10, 9), eod(2026, 10, 10)),  # Saturday 10 October is a make-up working day
        (at(2026, 10, 11, 9), eod(2026, 10, 12)),  # Sunday: Monday
        (at(2026, 11, 20, 18), eod(2026, 11, 23)),  # Friday evening: Monday
    ],
)
def test_first_reply_is_due_the_same_working_day(received, due):
    assert sla.first_reply_due(received, cutoff=CUTOFF, tz=TZ) == due


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # 7 working days after Wed 30 Sep: 8, 9, 10 (make-up Saturday), 12, 13, 14, 15 October.
        (at(2026, 9, 30, 10), eod(2026, 10, 15)),
        # Arriving on a holiday: counting starts on 8 October: 8, 9, 10, 12, 13, 14, 15.
        (at(2026, 10, 2, 10), eod(2026, 10, 15)),
        # An ordinary week: Monday 16 Nov + 7 working days = Wednesday 25 Nov.
        (at(2026, 11, 16, 10), eod(2026, 11, 25)),
        # Friday evening: Mon..Fri of the next week (5) + Mon, Tue = Tuesday 1 Dec.
        (at(2026, 11, 20, 20), eod(2026, 12, 1)),
    ],
)
def test_resolution_is_due_after_seven_working_days(received, due):
    assert sla.resolve_due(received, working_days=7, tz=TZ) == due


def test_clock_states():
    due = eod(2026, 9, 30)
    soon = dt.timedelta(hours=2)
    assert sla.clock_state(due, None, at(2026, 9, 30, 10), soon=soon) == "running"
    assert sla.clock_state(due, None, at(2026, 9, 30, 22, 30), soon=soon) == "due_soon"
    assert sla.clock_state(due, None, at(2026, 10, 1, 0, 30), soon=soon) == "overdue"
    assert sla.clock_state(due, at(2026, 9, 30, 12), at(2026, 10, 8), soon=soon) == "met"
    assert sla.clock_state(due, at(2026, 10, 8, 9), at(2026, 10, 8, 10), soon=soon) == "late"
