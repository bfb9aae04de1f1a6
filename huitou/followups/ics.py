"""A rep's open tasks as an iCalendar feed, so phone calendars show the plan.

Calendar apps cannot log in, so the feed URL carries a signed token of the user id instead
(``django.core.signing``, salt ``followups.ics``; the SECRET_KEY signs it). The feed holds names
and task titles but never phone numbers: a leaked link shows what to do, not how to reach anyone.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.core import signing
from django.utils import timezone
from icalendar import Calendar, Event

from huitou.accounts import permissions

from . import selectors
from .models import Channel

if TYPE_CHECKING:
    from huitou.accounts.models import User

SALT = "followups.ics"
HORIZON_DAYS = 60
# A timed task blocks this long in the calendar; an untimed one is an all-day entry.
TIMED_LENGTH = dt.timedelta(minutes=30)


def ics_token(user: User) -> str:
    return signing.Signer(salt=SALT).sign(str(user.pk))


def ics_user(token: str) -> User | None:
    """The active member the token was made for, or None (bad signature, unknown, left)."""
    from huitou.accounts.models import User as UserModel

    try:
        user_id = int(signing.Signer(salt=SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None
    user = UserModel.objects.select_related("organisation").filter(pk=user_id).first()
    if user is None or not permissions.is_active_member(user):
        return None
    return user


def ics_feed(user: User, *, today: dt.date | None = None, host: str = "huitou") -> bytes:
    """The user's open tasks of the next ``HORIZON_DAYS`` days as VEVENTs with stable UIDs
    (``task-<id>@<host>``), so a calendar app updates an entry instead of duplicating it."""
    start = today or timezone.localdate()
    tasks = selectors.ics_tasks(user, start=start, days=HORIZON_DAYS)
    kinds = dict(Channel.choices)
    cal = Calendar()
    cal.add("prodid", "-//huitou//contact plan//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"huitou · {user.label}")
    stamp = timezone.now().astimezone(dt.UTC).replace(microsecond=0)
    for task in tasks:
        event = Event()
        event.add("uid", f"task-{task.pk}@{host}")
        event.add("dtstamp", stamp)
        if task.due_at is not None:
            begins = task.due_at.astimezone(dt.UTC)
            event.add("dtstart", begins)
            event.add("dtend", begins + TIMED_LENGTH)
        else:
            event.add("dtstart", task.due_on)
            event.add("dtend", task.due_on + dt.timedelta(days=1))
        event.add("summary", f"{kinds.get(task.kind, task.kind)}: {task.customer.name} · {task.title}")
        where = f"{task.customer.city} {task.customer.address}".strip()
        if where:
            event.add("location", where)
        if task.script:
            event.add("description", task.script)
        event.add("sequence", task.version)
        event.add("categories", [task.kind])
        cal.add_component(event)
    return bytes(cal.to_ical())
