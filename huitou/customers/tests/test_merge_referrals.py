"""Merging customers keeps the referral figures right: the kept customer's referrer summary and
the sale its referrals count toward are recomputed inside the merge."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from huitou.customers import dedupe
from huitou.referrals import services as svc
from huitou.referrals.models import Referral, ReferrerStats
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _summary(customer):
    return ReferrerStats.objects.filter(customer=customer).values_list("won", "counted", "made").first()


def test_merge_moves_the_referrer_summary_and_the_counted_sale(org_world):
    w = org_world
    keep = CustomerFactory(owner=w.rep1, store=w.s1, name="王五")
    dup = CustomerFactory(owner=w.rep1, store=w.s1, name="王五")
    PurchaseFactory(customer=keep, ordered_on=dt.date(2025, 6, 1), kind="first")
    r = svc.referral_submit(
        actor=w.rep1,
        referrer=dup,
        name="李雷",
        phone="13900000081",
        relation="friend",
        channel="delivery",
        now=NOW,
    )
    svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="confirmed", now=NOW)
    assert _summary(dup) == (0, 1, 1)
    assert Referral.objects.get(pk=r.pk).sale_day is None  # the duplicate never bought

    dedupe.customer_merge(actor=w.manager1, keep_id=keep.pk, merge_ids=[dup.pk])

    assert Referral.objects.get(pk=r.pk).referrer_id == keep.pk
    assert _summary(keep) == (0, 1, 1)
    assert _summary(dup) == (0, 0, 0)
    # The kept customer's sale is the one this referral now counts toward.
    assert Referral.objects.get(pk=r.pk).sale_day == dt.date(2025, 6, 1)
