"""Background jobs of the analytics app. The periodic ones are declared here and nowhere else.

Every night, for every organisation, the segment snapshot as of the local day is recomputed
(:func:`~huitou.analytics.services.segments_refresh`); it replaces that day's rows, so a second
run, or a run after a crash, does no harm.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

logger = logging.getLogger(__name__)

# 02:15 Asia/Shanghai (no daylight saving) is 18:15 UTC, Huey's schedule being in UTC.
SEGMENTS_AT_UTC = (18, 15)


def segments_nightly() -> dict[str, int]:
    """Refresh every organisation's segments as of today; one failure does not stop the others."""
    from huitou.accounts.models import Organisation

    from .services import segments_refresh

    today = timezone.localdate()
    done = failed = 0
    for org in Organisation.objects.order_by("id"):
        try:
            segments_refresh(organisation=org, as_of=today)
            done += 1
        except Exception:
            failed += 1
            logger.exception("segment refresh failed for organisation %s", org.slug)
    return {"organisations": done, "failed": failed}


@db_periodic_task(crontab(minute=str(SEGMENTS_AT_UTC[1]), hour=str(SEGMENTS_AT_UTC[0])))
def segments_nightly_task() -> None:
    segments_nightly()


# --- Crisis signals (DOMAIN §4): after the segments, 02:45 Asia/Shanghai.
RISK_AT_UTC = (18, 45)


def risk_nightly() -> dict[str, int]:
    """Refresh every organisation's risk snapshot as of today, settling saves and win-backs."""
    from .risk_services import risk_refresh_all

    return risk_refresh_all(as_of=timezone.localdate())


@db_periodic_task(crontab(minute=str(RISK_AT_UTC[1]), hour=str(RISK_AT_UTC[0])))
def risk_nightly_task() -> None:
    risk_nightly()
