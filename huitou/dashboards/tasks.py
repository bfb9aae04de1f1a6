"""Background jobs of the home pages. The periodic ones are declared here and nowhere else.

Every morning, for every organisation, the owner's slowest figures (retention reads two years of
purchases; lifetime value the night's snapshot) are computed once into the shared cache, in
every language, so the first owner to open the home page does not wait. Safe to run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from django.conf import settings
from django.utils import timezone, translation
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

logger = logging.getLogger(__name__)

# After the nightly analytics snapshots, before the working day.
WARM_AT_LOCAL = dt.time(6, 45)


def _utc_schedule(local: dt.time) -> tuple[int, int]:
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    utc = dt.datetime.combine(dt.date.today(), local, tzinfo=tz).astimezone(dt.UTC)
    return utc.hour, utc.minute


_HOUR, _MINUTE = _utc_schedule(WARM_AT_LOCAL)


def dashboards_warm(*, today: dt.date | None = None) -> int:
    """Fill the organisation-wide sections of every organisation; returns how many were filled."""
    from huitou.accounts.models import User

    from .selectors import ORG_WIDE, dashboard_section

    today = today or timezone.localdate()
    filled = 0
    seen: set[int] = set()
    owners = User.objects.filter(
        role=User.Role.OWNER, is_active=True, left_at__isnull=True, organisation__isnull=False
    )
    for owner in owners.order_by("organisation_id", "pk"):  # owners are few: one per organisation used
        if owner.organisation_id in seen:
            continue
        seen.add(int(owner.organisation_id or 0))
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                for key in sorted(ORG_WIDE):
                    try:
                        dashboard_section(owner, key, today=today, refresh=True)
                        filled += 1
                    except Exception:  # one organisation's failure must not stop the others
                        logger.exception(
                            "dashboard %s failed for organisation %s", key, owner.organisation_id
                        )
    return filled


@db_periodic_task(crontab(minute=str(_MINUTE), hour=str(_HOUR)))
def dashboards_warm_task() -> None:
    dashboards_warm()
