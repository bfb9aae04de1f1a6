"""Ticket deadlines on China's working days (official holidays and make-up days from the contact
plan's calendar). Pure Python: no Django import, so the tests can pin every case.

- First reply: the same day when the ticket arrives on a working day before the cut-off time,
  otherwise the next working day; due at the end of that day (DOMAIN §3: same-day reply).
- Resolution: the end of the n-th working day after the day it arrived (7 by default, the legal
  limit for car dealers' replies to complaints); a ticket arriving on a rest day starts counting
  from the next working day, so it gets n full working days too.
"""

from __future__ import annotations

import datetime as dt

from huitou.followups.calendar import add_working_days, is_working_day, next_working_day

END_OF_DAY = dt.time(23, 59, 59)


def parse_clock(value: str) -> dt.time:
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def first_reply_due(received_at: dt.datetime, *, cutoff: dt.time, tz: dt.tzinfo) -> dt.datetime:
    local = received_at.astimezone(tz)
    day = local.date()
    if is_working_day(day) and local.time() < cutoff:
        due_day = day
    else:
        due_day = next_working_day(day, include_self=False)
    return dt.datetime.combine(due_day, END_OF_DAY, tzinfo=tz)


def resolve_due(received_at: dt.datetime, *, working_days: int, tz: dt.tzinfo) -> dt.datetime:
    day = received_at.astimezone(tz).date()
    return dt.datetime.combine(add_working_days(day, working_days), END_OF_DAY, tzinfo=tz)


def clock_state(
    due_at: dt.datetime, done_at: dt.datetime | None, now: dt.datetime, *, soon: dt.timedelta
) -> str:
    """``met`` / ``late`` once done; while running: ``overdue``, ``due_soon`` (within ``soon``)
    or ``running``."""
    if done_at is not None:
        return "met" if done_at <= due_at else "late"
    if now > due_at:
        return "overdue"
    if due_at - now <= soon:
        return "due_soon"
    return "running"
