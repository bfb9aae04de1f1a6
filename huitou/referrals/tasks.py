"""Background jobs of the referral system. The periodic ones are declared here and nowhere else.

- 00:30 local: outstanding vouchers past their date are marked expired (``vouchers_expire``);
- 05:15 local: open referrals whose referred person bought are won (``referrals_match_purchases_all``);
- 04:45 local: referrals whose referrer's sales changed in the last two days count toward the
  right sale again (``Referral.sale_day``, ``stats.referral_sale_days_refresh``);
- 06:00 local: rewards whose refund window is over get their voucher, and the customer an SMS
  (``rewards_release``).

Both claim their rows (``SELECT … FOR UPDATE SKIP LOCKED``, conditional updates), so a job run
twice, at once or after a crash, does no harm. Huey's schedule is in UTC (``settings.HUEY["utc"]``):
the local times are converted once from ``TIME_ZONE``.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

logger = logging.getLogger(__name__)

EXPIRE_AT_LOCAL = dt.time(0, 30)
RELEASE_AT_LOCAL = dt.time(6, 0)
MATCH_AT_LOCAL = dt.time(5, 15)
MATCH_LOOKBACK_DAYS = 90
SALE_DAYS_AT_LOCAL = dt.time(4, 45)
# Two days, not one: a night the job did not run is caught up by the next one.
SALE_DAYS_LOOKBACK = dt.timedelta(days=2)


def _utc_schedule(local: dt.time) -> tuple[int, int]:
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    utc = dt.datetime.combine(dt.date.today(), local, tzinfo=tz).astimezone(dt.UTC)
    return utc.hour, utc.minute


_EXPIRE_H, _EXPIRE_M = _utc_schedule(EXPIRE_AT_LOCAL)
_RELEASE_H, _RELEASE_M = _utc_schedule(RELEASE_AT_LOCAL)
_MATCH_H, _MATCH_M = _utc_schedule(MATCH_AT_LOCAL)
_SALE_DAYS_H, _SALE_DAYS_M = _utc_schedule(SALE_DAYS_AT_LOCAL)


def vouchers_expire_nightly() -> int:
    from .vouchers import vouchers_expire

    count = vouchers_expire()
    logger.info("vouchers expired: %s", count)
    return count


def rewards_release_morning() -> int:
    from .rewards import rewards_release

    count = rewards_release()
    logger.info("reward vouchers issued: %s", count)
    return count


@db_periodic_task(crontab(minute=str(_EXPIRE_M), hour=str(_EXPIRE_H)))
def vouchers_expire_task() -> None:
    vouchers_expire_nightly()


@db_periodic_task(crontab(minute=str(_RELEASE_M), hour=str(_RELEASE_H)))
def rewards_release_task() -> None:
    rewards_release_morning()


def referrals_match_purchases_nightly(*, today: dt.date | None = None) -> int:
    """Wins open referrals whose referred person has bought since (the last 90 days of sales)."""
    from django.utils import timezone

    from .services import referrals_match_purchases_all

    day = today or timezone.localdate()
    count = referrals_match_purchases_all(since=day - dt.timedelta(days=MATCH_LOOKBACK_DAYS))
    logger.info("referrals won from purchases: %s", count)
    return count


# Before the 06:00 release, so a sale matched overnight starts its refund window today.
@db_periodic_task(crontab(minute=str(_MATCH_M), hour=str(_MATCH_H)))
def referrals_match_purchases_task() -> None:
    referrals_match_purchases_nightly()


def referral_sale_days_nightly(*, now: dt.datetime | None = None) -> int:
    """Recompute the sale each referral counts toward for referrers whose sales were recorded or
    changed recently (a back-dated sale, a delivery day moved). Safe to run twice."""
    from django.utils import timezone

    from .stats import referral_sale_days_refresh, referrers_with_changed_sales

    since = (now or timezone.now()) - SALE_DAYS_LOOKBACK
    referrers = referrers_with_changed_sales(since=since)
    count = referral_sale_days_refresh(referrer_ids=referrers) if referrers else 0
    logger.info("referrals re-attributed to sales: %s (referrers %s)", count, len(referrers))
    return count


@db_periodic_task(crontab(minute=str(_SALE_DAYS_M), hour=str(_SALE_DAYS_H)))
def referral_sale_days_task() -> None:
    referral_sale_days_nightly()
