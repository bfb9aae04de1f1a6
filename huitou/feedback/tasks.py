"""Background jobs of surveys and tickets. The periodic ones are declared here and nowhere else.

Every morning, for every organisation: seed the default surveys if it has none, invite the sales
and workshop visits whose survey is due (set-based), queue the invitations due today in the
outbox, expire the stale links. Every half hour: escalate tickets past a deadline. Every step is
idempotent, so a job that runs twice, or after a crash, does no harm.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

logger = logging.getLogger(__name__)

# Local time of the morning run (after the contact plan's 05:30, before anyone reads surveys);
# Huey's schedule is in UTC (settings.HUEY["utc"]).
SURVEYS_AT_LOCAL = dt.time(6, 15)


def _utc_schedule(local: dt.time) -> tuple[int, int]:
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    utc = dt.datetime.combine(dt.date.today(), local, tzinfo=tz).astimezone(dt.UTC)
    return utc.hour, utc.minute


_HOUR, _MINUTE = _utc_schedule(SURVEYS_AT_LOCAL)


def feedback_morning(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The morning work for every organisation; returns totals (for logs and tests)."""
    from huitou.accounts.models import Organisation

    from .models import SurveyTemplate
    from .services import invitations_create, invitations_expire, invitations_send, surveys_seed

    now = now or timezone.now()
    today = timezone.localdate(now)
    totals = {"seeded": 0, "invited": 0, "queued": 0, "expired": 0}  # queued: sent or phone list
    for org in Organisation.objects.order_by("id"):
        try:
            if not SurveyTemplate.objects.filter(organisation=org).exists():
                totals["seeded"] += surveys_seed(organisation=org)
            totals["invited"] += invitations_create(organisation=org, today=today)
            totals["expired"] += invitations_expire(organisation=org, now=now)
            # The sender takes a bounded batch per call; loop until the day's invitations are out.
            while handled := invitations_send(organisation=org, now=now):
                totals["queued"] += handled
        except Exception:  # one organisation's failure must not stop the others
            logger.exception("feedback morning run failed for organisation %s", org.slug)
    return totals


def tickets_escalate_all(*, now: dt.datetime | None = None) -> int:
    from huitou.accounts.models import Organisation

    from .tickets import tickets_escalate

    now = now or timezone.now()
    total = 0
    for org in Organisation.objects.order_by("id"):
        try:
            total += tickets_escalate(organisation=org, now=now)
        except Exception:
            logger.exception("ticket escalation failed for organisation %s", org.slug)
    return total


@db_periodic_task(crontab(minute=str(_MINUTE), hour=str(_HOUR)))
def feedback_morning_task() -> None:
    feedback_morning()


@db_periodic_task(crontab(minute="*/30"))
def tickets_escalate_task() -> None:
    tickets_escalate_all()
