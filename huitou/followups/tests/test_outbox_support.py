"""Shared helpers and fixtures of the outbox tests (imported by the other test_outbox_* modules)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from huitou.customers.models import Consent
from huitou.followups.outbox import services
from tests.factories import CustomerFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOOK_SECRET = "hook-secret-0123456789"


def at(hour: int, minute: int = 0, day: int = 23, month: int = 11) -> dt.datetime:
    """A moment on a November 2026 day, Shanghai time."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def grant(customer, channel: str, granted: bool = True) -> Consent:
    return Consent.objects.create(
        customer=customer, channel=channel, granted=granted, source="form", recorded_at=timezone.now()
    )


def customer_of(owner, **data):
    return CustomerFactory(owner=owner, **data)


def queue(customer, **kwargs):
    kwargs.setdefault("channel", "sms")
    kwargs.setdefault("purpose", "service")
    kwargs.setdefault("body", "您的爱车保养到期了")
    kwargs.setdefault("scheduled_for", at(10))
    return services.message_queue(organisation=customer.organisation, customer=customer, **kwargs)


def sms_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.fixture
def outbox_conf(settings, tmp_path):
    """File SMS provider under tmp_path, a webhook secret, short and exact retry numbers."""
    conf = copy.deepcopy(settings.OUTBOX)
    conf["SMS_PROVIDER"] = "file"
    conf["SMS_PROVIDERS"]["file"]["path"] = str(tmp_path / "sms.jsonl")
    conf["SMS_PROVIDERS"]["file"]["sign_name"] = "华南汽车"
    conf.update(
        WEBHOOK_SECRET=HOOK_SECRET,
        PUBLIC_URL="https://crm.example.cn",
        MAX_ATTEMPTS=4,
        RETRY_BASE_SECONDS=60,
        RETRY_MAX_SECONDS=3600,
        SENDING_TIMEOUT_SECONDS=600,
    )
    settings.OUTBOX = conf
    return tmp_path / "sms.jsonl"


@pytest.fixture
def no_quiet_hours(org_world):
    """Quiet hours from 00:00 to 00:00 (never): for paths that use the real clock."""
    org = org_world.org
    org.policy_data = {"contact": {"quiet_start": "00:00", "quiet_end": "00:00"}}
    org.save(update_fields=["policy_data"])
    return org
