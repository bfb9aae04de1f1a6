"""The stored per-referrer summary (``ReferrerStats``) and the stored sale of each referral
(``Referral.sale_day``) stay in step with the referrals through every service."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from huitou.referrals import services as svc
from huitou.referrals import stats, tasks
from huitou.referrals.models import Referral, ReferrerStats
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=TZ)


def set_policy(org, **values):
    data = dict(org.policy_data or {})
    data["referrals"] = {**data.get("referrals", {}), **values}
    org.policy_data = data
    org.save(update_fields=["policy_data"])


def submit(w, referrer, phone, *, now=NOW):
    return svc.referral_submit(
        actor=w.rep1,
        referrer=referrer,
        name="李雷",
        phone=phone,
        relation="friend",
        channel="delivery",
        now=now,
    )


def summary(referrer):
    row = ReferrerStats.objects.filter(customer=referrer).values_list(
        "won", "counted", "made", "last_referral_at"
    )
    return row.first()


def from_scratch(referrer):
    """What the summary must be: the referrals themselves, counted again."""
    refs = list(Referral.objects.filter(referrer=referrer))
    return (
        sum(r.stage == "won" and r.review in ("", "approved") for r in refs),
        sum(r.counts for r in refs),
        len(refs),
        max((r.submitted_at for r in refs), default=None),
    )


def test_the_summary_follows_submit_verify_win_lose_reject_and_undo(org_world):
    w = org_world
    set_policy(w.org, reward_hold_days=7)
    c = CustomerFactory(owner=w.rep1, store=w.s1)
    a = submit(w, c, "13900000001")
    assert summary(c) == (0, 0, 1, NOW) == from_scratch(c)

    later = NOW + dt.timedelta(hours=2)
    b = submit(w, c, "13900000002", now=later)
    assert summary(c) == (0, 0, 2, later) == from_scratch(c)

    svc.referral_audit(actor=w.dcrc, referral_id=a.pk, outcome="confirmed", now=NOW)
    svc.referral_audit(actor=w.dcrc, referral_id=b.pk, outcome="confirmed", now=NOW)
    assert summary(c) == (0, 2, 2, later) == from_scratch(c)

    customer = svc.referral_convert(actor=w.rep1, referral_id=a.pk, now=NOW)
    sale = PurchaseFactory(customer=customer, ordered_on=dt.date(2026, 3, 12), kind="first")
    svc.referral_win(actor=w.rep1, referral_id=a.pk, purchase_id=sale.pk, now=NOW)
    assert summary(c) == (1, 2, 2, later) == from_scratch(c)

    # A win undone in the refund window: lost, still counted, no longer won.
    svc.referral_lose(actor=w.manager1, referral_id=a.pk, reason="退车", now=NOW + dt.timedelta(days=2))
    assert summary(c) == (0, 2, 2, later) == from_scratch(c)

    svc.referral_lose(actor=w.rep1, referral_id=b.pk, reason="买了别家", now=NOW)
    assert summary(c) == (0, 2, 2, later) == from_scratch(c)

    fake = submit(w, c, "13900000003", now=later + dt.timedelta(hours=1))
    svc.referral_audit(actor=w.dcrc, referral_id=fake.pk, outcome="fake", now=NOW)
    assert summary(c) == (0, 2, 3, later + dt.timedelta(hours=1)) == from_scratch(c)


def test_a_flagged_referral_counts_only_once_approved(org_world):
    w = org_world
    set_policy(w.org, monthly_cap=1)
    c = CustomerFactory(owner=w.rep1, store=w.s1)
    first = submit(w, c, "13900000011")
    second = submit(w, c, "13900000012")  # over the monthly cap: waits for review
    assert Referral.objects.get(pk=second.pk).review == "pending"
    for r in (first, second):
        svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="confirmed", now=NOW)
    assert summary(c)[:3] == (0, 1, 2) == from_scratch(c)[:3]

    svc.referral_review(actor=w.manager1, referral_id=second.pk, decision="approve", now=NOW)
    assert summary(c)[:3] == (0, 2, 2) == from_scratch(c)[:3]


def test_a_rejected_review_leaves_the_count(org_world):
    w = org_world
    set_policy(w.org, monthly_cap=1)
    c = CustomerFactory(owner=w.rep1, store=w.s1)
    submit(w, c, "13900000021")
    flagged = submit(w, c, "13900000022")
    svc.referral_review(actor=w.manager1, referral_id=flagged.pk, decision="reject", now=NOW)
    assert Referral.objects.get(pk=flagged.pk).stage == "rejected"
    assert summary(c)[:3] == (0, 0, 2) == from_scratch(c)[:3]


def test_rebuild_gives_what_the_services_kept(org_world):
    w = org_world
    c = CustomerFactory(owner=w.rep1, store=w.s1)
    r = submit(w, c, "13900000031")
    svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="confirmed", now=NOW)
    kept = summary(c)
    assert stats.referrer_stats_rebuild(organisation_id=w.org.pk) == 1
    assert summary(c) == kept == (0, 1, 1, NOW)


# --- the sale a referral counts toward ----------------------------------------------------------


def test_submission_stores_the_latest_sale_delivered_on_or_before_the_day(org_world):
    w = org_world
    c = CustomerFactory(owner=w.rep1, store=w.s1)
    PurchaseFactory(customer=c, ordered_on=dt.date(2025, 1, 1), promised_on=dt.date(2025, 2, 1), kind="first")
    PurchaseFactory(customer=c, ordered_on=dt.date(2026, 1, 1), kind="service")  # not a sale
    PurchaseFactory(
        customer=c, ordered_on=dt.date(2026, 2, 1), promised_on=dt.date(2026, 4, 1), kind="expansion"
    )
    r = submit(w, c, "13900000041")  # 2026-03-10: the April delivery has not happened yet
    assert Referral.objects.get(pk=r.pk).sale_day == dt.date(2025, 2, 1)


def test_the_nightly_job_moves_referrals_to_a_sale_recorded_later(org_world):
    w = org_world
    c = CustomerFactory(owner=w.rep1, store=w.s1)
    PurchaseFactory(customer=c, ordered_on=dt.date(2025, 1, 1), kind="first")
    r = submit(w, c, "13900000051")
    assert Referral.objects.get(pk=r.pk).sale_day == dt.date(2025, 1, 1)
    # A back-dated sale entered afterwards: delivered before the referral was made.
    PurchaseFactory(customer=c, ordered_on=dt.date(2026, 3, 1), kind="replacement")
    assert Referral.objects.get(pk=r.pk).sale_day == dt.date(2025, 1, 1)
    tasks.referral_sale_days_nightly()
    assert Referral.objects.get(pk=r.pk).sale_day == dt.date(2026, 3, 1)
    # Run twice: nothing moves.
    tasks.referral_sale_days_nightly()
    assert Referral.objects.get(pk=r.pk).sale_day == dt.date(2026, 3, 1)


def test_the_nightly_job_leaves_referrers_without_recent_sale_changes(org_world):
    w = org_world
    c = CustomerFactory(owner=w.rep1, store=w.s1)
    r = submit(w, c, "13900000061")
    Referral.objects.filter(pk=r.pk).update(sale_day=dt.date(2020, 1, 1))  # stale on purpose
    assert tasks.referral_sale_days_nightly() == 0
    assert Referral.objects.get(pk=r.pk).sale_day == dt.date(2020, 1, 1)


def test_after_a_merge_the_kept_customer_carries_the_summary_and_the_sales(org_world):
    w = org_world
    keep = CustomerFactory(owner=w.rep1, store=w.s1)
    other = CustomerFactory(owner=w.rep1, store=w.s1)
    PurchaseFactory(customer=keep, ordered_on=dt.date(2025, 6, 1), kind="first")
    r = submit(w, other, "13900000071")
    svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="confirmed", now=NOW)
    assert summary(other)[:3] == (0, 1, 1) and summary(keep) is None
    # What customer_merge does to the rows, then the hook it calls.
    Referral.objects.filter(referrer=other).update(referrer=keep)
    svc.referrals_after_merge(organisation_id=w.org.pk, keep_id=keep.pk, merged_ids=[other.pk])
    assert summary(keep)[:3] == (0, 1, 1) == from_scratch(keep)[:3]
    assert summary(other)[:3] == (0, 0, 0)
    assert Referral.objects.get(pk=r.pk).sale_day == dt.date(2025, 6, 1)
