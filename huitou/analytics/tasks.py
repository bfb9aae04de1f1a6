"""Background jobs of the analytics app. The periodic ones are declared here and nowhere else.

Every night one task per organisation runs the nightly analytics as of the local day
(:func:`~huitou.analytics.nightly.nightly_run`: segments, then lifetime value, then risk; the
cost-to-serve ranking beside them). Each
phase replaces its snapshot of that day and keeps a fill row, so a retry, a second run or a run
after a crash resumes where the last one stopped and does no harm.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

logger = logging.getLogger(__name__)

# 02:15 Asia/Shanghai (no daylight saving) is 18:15 UTC, Huey's schedule being in UTC.
NIGHTLY_AT_UTC = (18, 15)
# A failed organisation is tried again twice, ten minutes apart; the retry resumes at the phase
# that failed (the fill rows say which are done).
NIGHTLY_RETRIES = 2
NIGHTLY_RETRY_DELAY_S = 600


def nightly_organisation(organisation_id: int, as_of: dt.date) -> dict[str, Any]:
    """The nightly analytics of one organisation (resumed when part of that day is already done)."""
    from huitou.accounts.models import Organisation

    from .nightly import nightly_run

    org = Organisation.objects.get(pk=organisation_id)
    result = nightly_run(organisation=org, as_of=as_of)
    logger.info("nightly analytics %s as of %s: %s", org.slug, as_of, result)
    return result


@db_task(retries=NIGHTLY_RETRIES, retry_delay=NIGHTLY_RETRY_DELAY_S)
def nightly_organisation_task(organisation_id: int, as_of: str) -> None:
    nightly_organisation(organisation_id, dt.date.fromisoformat(as_of))


def analytics_nightly(as_of: dt.date | None = None) -> dict[str, int]:
    """Queue one nightly task per organisation (one organisation's failure does not touch the
    others: each task fails and is retried on its own)."""
    from huitou.accounts.models import Organisation

    day = (as_of or timezone.localdate()).isoformat()
    ids = list(Organisation.objects.order_by("id").values_list("id", flat=True))
    for org_id in ids:
        nightly_organisation_task(org_id, day)
    return {"organisations": len(ids)}


@db_periodic_task(crontab(minute=str(NIGHTLY_AT_UTC[1]), hour=str(NIGHTLY_AT_UTC[0])))
def analytics_nightly_task() -> None:
    analytics_nightly()
