"""Quotas (一拓一) and the rep scorecard: exact figures on small hand-built data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from huitou.core.errors import ValidationFailed
from huitou.referrals import insights
from huitou.referrals.models import Stage
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SH)


def sale(customer, day, *, rep=None, kind="first", amount="100000", promised=None, arrives=None, store=None):
    return PurchaseFactory(
        customer=customer,
        organisation=customer.organisation,
        ordered_on=day,
        promised_on=promised,
        arrives_on=arrives,
        rep=rep if rep is not None else customer.owner,
        store=store or customer.store,
        kind=kind,
        amount=Decimal(amount),
    )


def ref(referrer, day, stage=Stage.VERIFIED, *, hour=10, minute=0, **kw):
    submitted = at(day, hour, minute)
    if stage in (Stage.VERIFIED, Stage.CONTACTED, Stage.QUOTED, Stage.WON, Stage.LOST):
        kw.setdefault("verified_at", submitted + dt.timedelta(hours=1))
    return ReferralFactory(referrer=referrer, submitted_at=submitted, stage=stage, **kw)


def set_policy(org, **referrals):
    org.policy_data = {**(org.policy_data or {}), "referrals": referrals}
    org.save()


D = dt.date(2025, 3, 1)  # delivery; deadline D + 90 = 2025-05-30
DEADLINE = dt.date(2025, 5, 30)


# --- quota status at the boundaries -------------------------------------------------------------


def test_a_referral_submitted_on_the_deadline_day_counts(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    sale(c, D)
    ref(c, DEADLINE, hour=23, minute=30)  # late evening local time: still the deadline day
    q = insights.customer_quota(org_world.rep1, c.pk, today=dt.date(2025, 6, 15))
    assert (q.delivered_on, q.deadline, q.quota, q.counted, q.status) == (D, DEADLINE, 1, 1, "met")


def test_a_referral_submitted_the_day_after_the_deadline_does_not_count(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    sale(c, D)
    ref(c, DEADLINE + dt.timedelta(days=1), hour=0, minute=5)
    q = insights.customer_quota(org_world.rep1, c.pk, today=dt.date(2025, 6, 15))
    assert (q.counted, q.status) == (0, "missed")


def test_pending_up_to_and_including_the_deadline_then_missed(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    sale(c, D)
    ref(c, D + dt.timedelta(days=3), stage=Stage.SUBMITTED)  # not verified: does not count
    on_deadline = insights.customer_quota(org_world.rep1, c.pk, today=DEADLINE)
    after = insights.customer_quota(org_world.rep1, c.pk, today=DEADLINE + dt.timedelta(days=1))
    assert (on_deadline.status, on_deadline.days_left, on_deadline.counted) == ("pending", 0, 0)
    assert (after.status, after.days_left) == ("missed", -1)


def test_a_referral_before_delivery_and_unverified_or_rejected_ones_do_not_count(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    sale(c, dt.date(2025, 2, 20), promised=D)  # delivery day is the promised one
    ref(c, dt.date(2025, 2, 25))  # after the order, before the delivery
    ref(c, dt.date(2025, 3, 5), stage=Stage.SUBMITTED)
    ref(c, dt.date(2025, 3, 6), stage=Stage.REJECTED)
    ref(c, dt.date(2025, 3, 7), review="pending")
    ref(c, dt.date(2025, 3, 8), review="rejected")
    q = insights.customer_quota(org_world.rep1, c.pk, today=dt.date(2025, 3, 10))
    assert (q.delivered_on, q.counted, q.status) == (D, 0, "pending")
    ref(c, dt.date(2025, 3, 9), stage=Stage.LOST, review="approved")  # verified, later lost: counts
    q = insights.customer_quota(org_world.rep1, c.pk, today=dt.date(2025, 3, 10))
    assert (q.counted, q.status) == (1, "met")


def test_a_later_sale_starts_a_new_window_and_takes_the_referrals(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    sale(c, dt.date(2025, 1, 1))
    sale(c, dt.date(2025, 1, 20), kind="service")  # a workshop visit is not a sale
    sale(c, dt.date(2025, 2, 1), kind="expansion", rep=org_world.rep2)
    ref(c, dt.date(2025, 1, 25))  # → first sale (the service visit does not move it)
    ref(c, dt.date(2025, 2, 10))  # → second sale
    ref(c, dt.date(2025, 2, 11))  # → second sale
    card = insights.scorecard(org_world.owner, month=dt.date(2025, 4, 1), today=dt.date(2025, 6, 1))
    rows = {r.username: r for r in card.rows}
    # First sale (deadline 2025-04-01) by rep1: one counted referral → met.
    assert (rows["rep1"].sold, rows["rep1"].met) == (1, 1)
    q = insights.customer_quota(org_world.rep1, c.pk, today=dt.date(2025, 6, 1))
    assert (q.delivered_on, q.counted, q.status) == (dt.date(2025, 2, 1), 2, "met")


def test_quota_periods_switch_the_quota_by_delivery_day(org_world):
    set_policy(
        org_world.org,
        quota=2,
        quota_periods=[
            {"starts_on": "2024-01-01", "quota": 5, "label": "一拓五"},
            {"starts_on": "2025-01-01", "quota": 1, "label": "一拓一"},
        ],
    )
    before, old, new = (CustomerFactory(owner=org_world.rep1) for _ in range(3))
    sale(before, dt.date(2023, 12, 31))
    sale(old, dt.date(2024, 12, 31))
    sale(new, dt.date(2025, 1, 1))
    for c, day in ((before, dt.date(2024, 1, 5)), (old, dt.date(2025, 1, 5)), (new, dt.date(2025, 1, 5))):
        ref(c, day)
        ref(c, day + dt.timedelta(days=1))
    today = dt.date(2025, 12, 1)
    got = {
        name: insights.customer_quota(org_world.rep1, c.pk, today=today)
        for name, c in (("before", before), ("old", old), ("new", new))
    }
    assert {k: (v.quota, v.counted, v.status) for k, v in got.items()} == {
        "before": (2, 2, "met"),  # before every period: the current quota
        "old": (5, 2, "missed"),  # 一拓五
        "new": (1, 2, "met"),  # 一拓一 from its first day
    }


def test_quota_days_come_from_the_policy(org_world):
    set_policy(org_world.org, quota_days=30)
    c = CustomerFactory(owner=org_world.rep1)
    sale(c, D)
    ref(c, D + dt.timedelta(days=31))
    q = insights.customer_quota(org_world.rep1, c.pk, today=dt.date(2025, 6, 1))
    assert (q.deadline, q.counted, q.status) == (D + dt.timedelta(days=30), 0, "missed")


def test_no_sale_no_quota(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    sale(c, D, kind="service")
    assert insights.customer_quota(org_world.rep1, c.pk, today=D) is None


# --- the scorecard ------------------------------------------------------------------------------

JUNE = dt.date(2025, 6, 1)  # deadlines in June ⇔ delivered 2025-03-03 .. 2025-04-01


def _june_world(w):
    """rep1: 4 sold customers with a June deadline (1 met, 1 met late, 2 missed), one outside;
    credited referrals: 3 verified in June, 2 won in June, 1 faked found in June (audit) and one
    by review, plus decoys in May and July."""
    c_met, c_late, c_miss1, c_miss2, c_july = (CustomerFactory(owner=w.rep1) for _ in range(5))
    sale(c_met, dt.date(2025, 3, 3))
    sale(c_late, dt.date(2025, 3, 20))
    sale(c_miss1, dt.date(2025, 3, 25))
    sale(c_miss2, dt.date(2025, 4, 1))
    sale(c_july, dt.date(2025, 4, 2))  # deadline 2025-07-01
    sale(c_met, dt.date(2025, 2, 1), kind="service")
    # c_met: submitted in March, verified in March → met; not a June verification.
    ref(c_met, dt.date(2025, 3, 10))
    # c_late: submitted before its deadline, verified in June → met, and a June verification.
    ref(c_late, dt.date(2025, 6, 10), stage=Stage.CONTACTED, verified_at=at(dt.date(2025, 6, 12)))
    # c_miss1: a referral after the deadline (verified in June) → still missed.
    ref(c_miss1, dt.date(2025, 6, 24), verified_at=at(dt.date(2025, 6, 25)))
    # Another verified in June that counts, credited to rep1.
    ref(c_july, dt.date(2025, 6, 2), verified_at=at(dt.date(2025, 6, 3)))
    # Verified in June but waiting for review: not counted.
    ref(c_july, dt.date(2025, 6, 4), verified_at=at(dt.date(2025, 6, 5)), review="pending")
    # Won in June (verified in May).
    ref(
        c_july,
        dt.date(2025, 5, 2),
        stage=Stage.WON,
        verified_at=at(dt.date(2025, 5, 3)),
        closed_at=at(dt.date(2025, 6, 20)),
    )
    ref(
        c_july,
        dt.date(2025, 5, 4),
        stage=Stage.WON,
        verified_at=at(dt.date(2025, 5, 5)),
        closed_at=at(dt.date(2025, 6, 30), 23, 59),
    )
    # Won on 1 July local time: not June.
    ref(
        c_july,
        dt.date(2025, 5, 6),
        stage=Stage.WON,
        verified_at=at(dt.date(2025, 5, 7)),
        closed_at=at(dt.date(2025, 7, 1), 0, 1),
    )
    # Faked: found by the audit in June; by a rejected review in June; by an audit in May.
    ref(
        c_july,
        dt.date(2025, 5, 20),
        stage=Stage.REJECTED,
        faked=True,
        audit_outcome="fake",
        audited_at=at(dt.date(2025, 6, 8)),
    )
    ref(
        c_july,
        dt.date(2025, 5, 21),
        stage=Stage.REJECTED,
        faked=True,
        review="rejected",
        reviewed_at=at(dt.date(2025, 6, 9)),
    )
    ref(
        c_july,
        dt.date(2025, 5, 22),
        stage=Stage.REJECTED,
        faked=True,
        audit_outcome="fake",
        audited_at=at(dt.date(2025, 5, 23)),
    )
    # rep3 (other store): one sold customer in June, missed.
    c3 = CustomerFactory(owner=w.rep3)
    sale(c3, dt.date(2025, 3, 15))


def test_scorecard_counts_and_money_are_exact(org_world):
    _june_world(org_world)
    card = insights.scorecard(org_world.owner, month=JUNE, today=dt.date(2025, 7, 15))
    rows = {r.username: r for r in card.rows}
    r1 = rows["rep1"]
    assert (r1.sold, r1.met, r1.pending, r1.missed) == (4, 2, 0, 2)
    assert (r1.verified, r1.won, r1.faked) == (3, 2, 2)
    # reward = 3 × 50 + 2 × 200 = 550; penalty = 2 × 50 + 2 × 200 = 500; net = 50
    assert (r1.reward, r1.penalty, r1.net) == (Decimal("550"), Decimal("500"), Decimal("50"))
    r3 = rows["rep3"]
    assert (r3.sold, r3.missed, r3.reward, r3.penalty, r3.net) == (1, 1, 0, Decimal("50"), Decimal("-50"))
    assert (rows["rep2"].sold, rows["rep2"].net) == (0, 0)  # reps without figures still get a row
    t = card.totals
    assert (t.sold, t.met, t.missed, t.verified, t.won, t.faked) == (5, 2, 3, 3, 2, 2)
    assert (t.reward, t.penalty, t.net) == (Decimal("550"), Decimal("550"), Decimal("0"))
    assert (card.delivered_from, card.delivered_to) == (dt.date(2025, 3, 3), dt.date(2025, 4, 1))


def test_scorecard_money_follows_the_policy(org_world):
    _june_world(org_world)
    set_policy(
        org_world.org,
        rep_reward_verified="10",
        rep_reward_won="100.50",
        rep_penalty_missed="30",
        rep_penalty_fake="0",
    )
    r1 = next(
        r
        for r in insights.scorecard(org_world.owner, month=JUNE, today=dt.date(2025, 7, 15)).rows
        if r.username == "rep1"
    )
    assert (r1.reward, r1.penalty, r1.net) == (Decimal("231.00"), Decimal("60"), Decimal("171.00"))


def test_scorecard_of_the_current_month_keeps_future_deadlines_pending(org_world):
    _june_world(org_world)
    r1 = next(
        r
        for r in insights.scorecard(org_world.owner, month=JUNE, today=dt.date(2025, 6, 20)).rows
        if r.username == "rep1"
    )
    # c_miss1 (deadline 06-23) and c_miss2 (06-30) are still pending on 06-20.
    assert (r1.sold, r1.met, r1.pending, r1.missed, r1.penalty) == (4, 2, 2, 0, Decimal("400"))


def test_scorecard_scope_rep_sees_only_their_row(org_world):
    _june_world(org_world)
    card = insights.scorecard(org_world.rep1, month=JUNE, today=dt.date(2025, 7, 15))
    assert [r.username for r in card.rows] == ["rep1"]
    assert card.totals.sold == 4


def test_scorecard_scope_manager_of_team_2_does_not_see_team_1(org_world):
    _june_world(org_world)
    card = insights.scorecard(org_world.manager2, month=JUNE, today=dt.date(2025, 7, 15))
    assert {r.username for r in card.rows} == {"rep3"}
    assert (card.totals.sold, card.totals.missed, card.totals.verified) == (1, 1, 0)
    card1 = insights.scorecard(org_world.manager1, month=JUNE, today=dt.date(2025, 7, 15))
    assert {r.username for r in card1.rows} == {"rep1", "rep2"}


def test_scorecard_filters_by_store_and_team(org_world):
    _june_world(org_world)
    by_store = insights.scorecard(
        org_world.owner, month=JUNE, store_id=org_world.s2.pk, today=dt.date(2025, 7, 15)
    )
    assert [r.username for r in by_store.rows] == ["rep3"]
    by_team = insights.scorecard(
        org_world.owner, month=JUNE, team_id=org_world.t1.pk, today=dt.date(2025, 7, 15)
    )
    assert {r.username for r in by_team.rows} == {"rep1", "rep2"}


def test_scorecard_other_organisation_sees_nothing_of_ours(org_world):
    _june_world(org_world)
    card = insights.scorecard(org_world.other_owner, month=JUNE, today=dt.date(2025, 7, 15))
    assert card.rows == [] and card.totals.sold == 0


def test_period_checks(org_world):
    with pytest.raises(ValidationFailed):
        insights.viral_coefficient(org_world.owner, start=dt.date(2025, 5, 1), end=dt.date(2025, 4, 1))
    with pytest.raises(ValidationFailed):
        insights.viral_coefficient(org_world.owner, start=dt.date(2022, 1, 1), end=dt.date(2025, 1, 1))
