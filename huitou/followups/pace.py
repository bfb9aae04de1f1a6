"""Small rules shared by the plan and the outbox: which consent a touch needs, quiet hours, and
filling a message template. No database access here."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from typing import Any

from huitou.accounts.policy import ContactPolicy

from .models import Channel

# Consent channel (customers.Consent.Channel) a marketing touch on this channel needs. A visit
# needs none: it is agreed with the customer when it is booked.
CONSENT_CHANNEL: dict[str, str | None] = {
    Channel.CALL: "phone",
    Channel.VISIT: None,
    Channel.WECHAT: "wechat",
    Channel.SMS: "sms",
    Channel.EMAIL: "email",
    Channel.LETTER: "letter",
    Channel.CARD: "letter",
}


def clock_time(text: str) -> dt.time:
    """A policy time of day, "HH:MM" (the policy model has already checked the pattern)."""
    h, m = text.split(":")
    return dt.time(int(h), int(m))


def in_quiet_hours(local: dt.datetime, policy: ContactPolicy) -> bool:
    start, end = clock_time(policy.quiet_start), clock_time(policy.quiet_end)
    t = local.time()
    if start <= end:
        return start <= t < end
    return t >= start or t < end  # the window spans midnight


def quiet_hours_shift(when: dt.datetime, policy: ContactPolicy, tz: dt.tzinfo) -> dt.datetime:
    """The first moment at or after ``when`` outside the quiet hours (aware datetimes in, out)."""
    local = when.astimezone(tz)
    if not in_quiet_hours(local, policy):
        return when
    end = clock_time(policy.quiet_end)
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += dt.timedelta(days=1)
    return candidate


def planned_send_time(day: dt.date, policy: ContactPolicy, tz: dt.tzinfo) -> dt.datetime:
    """When a message planned for ``day`` goes out: the policy's send time, moved out of quiet hours."""
    at = clock_time(policy.send_at)
    return quiet_hours_shift(dt.datetime.combine(day, at, tzinfo=tz), policy, tz)


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


_FORMATTER = string.Formatter()


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """Fill ``{name}``-style fields; unknown fields become empty instead of failing a whole batch.

    ``str.format_map`` (several times faster: the plan renders tens of thousands of messages a day)
    takes every well-formed template; whatever it refuses goes through :func:`_render_formatter`,
    which gives the same text for templates both accept."""
    try:
        return template.format_map(_Lenient(context))
    except (ValueError, IndexError, AttributeError, KeyError, TypeError):
        return _render_formatter(template, context)


def _render_formatter(template: str, context: Mapping[str, Any]) -> str:
    try:
        return _FORMATTER.vformat(template, (), _Lenient(context))
    except (ValueError, IndexError, AttributeError):
        # A malformed template (stray brace) is sent as written rather than lost.
        return template


def template_fields(template: str) -> list[str]:
    """Field names a template uses; the rule form refuses unknown ones."""
    try:
        return [f for _, f, _, _ in _FORMATTER.parse(template) if f]
    except ValueError:
        return ["{"]


TEMPLATE_FIELDS = ("name", "product", "date", "store", "rep", "festival", "occasion", "notice")
