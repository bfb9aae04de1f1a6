"""Background jobs of the contact plan. The periodic ones are declared here and nowhere else.

Every morning, for every organisation: seed the default rules if it has none, plan every day not
yet planned up to today (:func:`~huitou.followups.plan.plan_catch_up`), then flag overdue tasks to
the managers and mark the long-forgotten ones missed. Every step is idempotent, so a job that runs
twice, or after a crash, does no harm.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

try:  # noqa: SIM105 - the outbox's jobs register with Huey when this module is imported
    from .outbox import tasks as _outbox_tasks  # noqa: F401
except ImportError:
    pass

logger = logging.getLogger(__name__)

# Local time of the morning run. Huey's schedule is in UTC (settings.HUEY["utc"]), so it is
# converted once here from TIME_ZONE (Asia/Shanghai: no daylight saving, 05:30 -> 21:30 UTC).
PLAN_AT_LOCAL = dt.time(5, 30)


def _utc_schedule(local: dt.time) -> tuple[int, int]:
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    today = dt.date.today()
    utc = dt.datetime.combine(today, local, tzinfo=tz).astimezone(dt.UTC)
    return utc.hour, utc.minute


_HOUR, _MINUTE = _utc_schedule(PLAN_AT_LOCAL)


def plan_morning(*, today: dt.date | None = None) -> dict[str, int]:
    """The morning work for every organisation; returns totals (for logs and tests)."""
    from huitou.accounts.models import Organisation

    from .models import ContactRule
    from .plan import PlanResult, plan_catch_up
    from .routing import tasks_escalate, tasks_mark_missed
    from .rules import rules_seed

    today = today or timezone.localdate()
    total = PlanResult()
    escalated = missed = 0
    for org in Organisation.objects.order_by("id"):
        try:
            if not ContactRule.objects.filter(organisation=org).exists():
                rules_seed(organisation=org)
            total.merge(plan_catch_up(organisation=org, through=today))
            escalated += tasks_escalate(organisation=org, today=today)
            missed += tasks_mark_missed(organisation=org, today=today)
        except Exception:  # one organisation's failure must not stop the others
            logger.exception("morning plan failed for organisation %s", org.slug)
    return {
        "tasks_created": total.tasks_created,
        "messages_queued": total.messages_queued,
        "escalated": escalated,
        "missed": missed,
    }


@db_periodic_task(crontab(minute=str(_MINUTE), hour=str(_HOUR)))
def plan_morning_task() -> None:
    plan_morning()


@db_task()
def plan_catch_up_task(organisation_id: int) -> None:
    """Plan an organisation now (e.g. after its rules changed); the same work as the morning run."""
    from huitou.accounts.models import Organisation

    from .plan import plan_catch_up

    org = Organisation.objects.filter(pk=organisation_id).first()
    if org is not None:
        plan_catch_up(organisation=org, through=timezone.localdate())
