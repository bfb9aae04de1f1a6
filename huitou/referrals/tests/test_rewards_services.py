"""Rewards of won referrals: values and tiers, the hold period, release, cancel, thanks and consent."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from huitou.core.errors import ValidationFailed
from huitou.customers.models import Activity, Consent
from huitou.followups.models import Message, Task
from huitou.referrals import rewards
from huitou.referrals.models import Referral, ReferrerProfile, Reward, Voucher, VoucherEntry
from huitou.referrals.tests.factories import ReferralFactory
from huitou.referrals.vouchers import code_display
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
SALE_DAY = dt.date(2025, 6, 1)
NOW = dt.datetime(2025, 6, 2, 15, 0, tzinfo=TZ)


@pytest.fixture(autouse=True)
def _english():
    translation.activate("en")


def set_policy(org, **referrals):
    data = dict(org.policy_data or {})
    data["referrals"] = {**data.get("referrals", {}), **referrals}
    org.policy_data = data
    org.save()


def referrer_of(w, **kw):
    kw.setdefault("name", "张伟")
    return CustomerFactory(owner=w.rep1, **kw)


def won(w, referrer=None, *, name="王小明", customer=True, sale_day=SALE_DAY, **kw):
    referrer = referrer or referrer_of(w)
    buyer = CustomerFactory(owner=w.rep1, name=name) if customer else None
    sale = PurchaseFactory(customer=buyer or referrer, ordered_on=sale_day)
    return ReferralFactory(referrer=referrer, name=name, stage="won", won_purchase=sale, customer=buyer, **kw)


def create(referral, actor=None, now=NOW):
    return rewards.referral_rewards_create(referral=referral, actor=actor, now=now)


def state(referral):
    return sorted(
        Reward.objects.filter(referral=referral).values_list(
            "beneficiary", "kind", "value", "status", "release_on"
        )
    )


# --- creating ----------------------------------------------------------------------------------


def test_win_holds_a_reward_for_the_referrer_and_an_offer_for_the_referred(org_world):
    r = won(org_world)
    out = create(r, actor=org_world.rep1)
    assert [x.beneficiary for x in out] == ["referrer", "referred"]
    release = dt.date(2025, 6, 8)  # sale day + 7 days (the default hold)
    assert state(r) == [
        ("referred", "offer", Decimal("200.00"), "held", release),
        ("referrer", "maintenance_voucher", Decimal("300.00"), "held", release),
    ]
    referrer_reward = Reward.objects.get(referral=r, beneficiary="referrer")
    assert referrer_reward.customer_id == r.referrer_id
    assert Reward.objects.get(referral=r, beneficiary="referred").customer_id == r.customer_id
    assert Voucher.objects.count() == 0


def test_reward_kind_and_value_follow_the_policy(org_world):
    set_policy(org_world.org, reward_kind="gift_voucher", reward_value="350", referred_offer_value="0")
    r = won(org_world)
    create(r)
    assert state(r) == [("referrer", "gift_voucher", Decimal("350.00"), "held", dt.date(2025, 6, 8))]


def test_tiers_raise_the_reward_of_repeat_referrers(org_world):
    set_policy(org_world.org, reward_tiers=[{"min_won": 3, "value": "500"}, {"min_won": 5, "value": "800"}])
    referrer = referrer_of(org_world)
    values = []
    for i in range(5):
        r = won(org_world, referrer, name=f"王{i}", customer=False)
        create(r)
        values.append(Reward.objects.get(referral=r, beneficiary="referrer").value)
    assert values == [Decimal("300"), Decimal("300"), Decimal("500"), Decimal("500"), Decimal("800")]


def test_tiers_count_only_referrals_that_count(org_world):
    set_policy(org_world.org, reward_tiers=[{"min_won": 2, "value": "500"}])
    referrer = referrer_of(org_world)
    ReferralFactory(referrer=referrer, stage="won", faked=True)
    ReferralFactory(referrer=referrer, stage="won", review="rejected")
    ReferralFactory(referrer=referrer, stage="lost")
    r = won(org_world, referrer, customer=False)
    create(r)
    assert Reward.objects.get(referral=r).value == Decimal("300")


def test_no_offer_without_a_customer_record_or_with_a_zero_offer(org_world):
    r = won(org_world, customer=False)
    create(r)
    assert [b for b, *_ in state(r)] == ["referrer"]
    set_policy(org_world.org, referred_offer_value="0")
    r2 = won(org_world, name="赵六")
    create(r2)
    assert [b for b, *_ in state(r2)] == ["referrer"]


def test_without_purchase_the_hold_counts_from_today(org_world):
    r = ReferralFactory(referrer=referrer_of(org_world), stage="won", customer=None)
    create(r)
    assert state(r)[0][4] == dt.date(2025, 6, 9)


def test_creating_twice_changes_nothing_and_thanks_once(org_world):
    r = won(org_world)
    first = create(r)
    again = create(r, now=NOW + dt.timedelta(hours=2))
    assert [x.pk for x in again] == [x.pk for x in first]
    assert Reward.objects.count() == 2
    assert Message.objects.filter(customer=r.referrer).count() == 1
    assert Activity.objects.filter(customer=r.referrer, kind="referral").count() == 1


def test_only_won_referrals_earn(org_world):
    r = ReferralFactory(referrer=referrer_of(org_world), stage="quoted")
    with pytest.raises(ValidationFailed):
        create(r)
    assert Reward.objects.count() == 0


def test_honour_seekers_are_thanked_and_their_reward_declined(org_world):
    referrer = referrer_of(org_world)
    ReferrerProfile.objects.create(
        organisation=org_world.org, customer=referrer, referrer_type="honour", refuses_rewards=True
    )
    r = won(org_world, referrer)
    create(r)
    assert state(r)[1][3] == "declined"
    assert state(r)[0][3] == "held"  # the referred customer's offer is theirs
    message = Message.objects.get(customer=referrer)
    assert "感谢" in message.body and "元" not in message.body
    assert rewards.rewards_release(today=dt.date(2025, 6, 30)) == 1  # only the offer
    assert Reward.objects.get(referral=r, beneficiary="referrer").voucher_id is None
    assert Voucher.objects.filter(customer=referrer).count() == 0


# --- thanks and consent ------------------------------------------------------------------------


def test_referrer_is_thanked_by_service_sms_naming_the_surname_only(org_world):
    r = won(org_world, name="欧阳娜娜")
    create(r)
    message = Message.objects.get(customer=r.referrer)
    assert (message.channel, message.purpose, message.status) == ("sms", "service", "queued")
    assert message.idempotency_key == f"referral:{r.pk}:thanks"
    assert message.body.startswith("张伟您好!您推荐的欧阳先生/女士已在天河店购车")
    assert "欧阳娜娜" not in message.body
    assert "价值300元的免费保养券" in message.body
    assert "2025年6月8日" in message.body
    assert Task.objects.count() == 0


def test_referrer_without_marketing_consent_still_gets_the_service_sms(org_world):
    referrer = referrer_of(org_world)
    Consent.objects.create(
        customer=referrer, channel="sms", granted=True, source="form", recorded_at=timezone.now()
    )
    create(won(org_world, referrer))
    assert Message.objects.filter(customer=referrer, status="queued").count() == 1


def test_opted_out_referrer_gets_a_call_from_their_rep_instead(org_world):
    referrer = referrer_of(org_world)
    Consent.objects.create(
        customer=referrer, channel="sms", granted=False, source="sms_reply", recorded_at=timezone.now()
    )
    r = won(org_world, referrer)
    create(r, actor=org_world.manager1)
    assert Message.objects.filter(customer=referrer).count() == 0
    task = Task.objects.get(customer=referrer)
    assert (task.kind, task.assignee_id, task.purpose, task.status) == (
        "call",
        org_world.rep1.pk,
        "service",
        "open",
    )
    assert "张伟" in task.title and "王小明" in task.title


def test_referrer_without_phone_gets_a_call_too(org_world):
    referrer = referrer_of(org_world, phone="")
    create(won(org_world, referrer))
    assert Message.objects.filter(customer=referrer).count() == 0
    assert Task.objects.filter(customer=referrer, assignee=org_world.rep1).count() == 1


def test_win_is_written_on_the_referrer_timeline(org_world):
    r = won(org_world)
    create(r, actor=org_world.rep2)
    activity = Activity.objects.get(customer=r.referrer, kind="referral")
    assert activity.user_id == org_world.rep2.pk
    assert "王小明" in activity.subject
    # Without an actor the referrer's rep writes it.
    r2 = won(org_world, name="李四")
    create(r2)
    assert Activity.objects.filter(customer=r2.referrer, kind="referral", user=org_world.rep1).count() == 1


# --- release -----------------------------------------------------------------------------------


def test_nothing_is_issued_before_release_on_then_once_on_it(org_world):
    r = won(org_world)
    create(r)
    assert rewards.rewards_release(today=dt.date(2025, 6, 7)) == 0
    assert Voucher.objects.count() == 0
    assert rewards.rewards_release(today=dt.date(2025, 6, 8)) == 2
    assert rewards.rewards_release(today=dt.date(2025, 6, 8)) == 0
    assert rewards.rewards_release(today=dt.date(2025, 6, 20)) == 0
    referrer_reward = Reward.objects.get(referral=r, beneficiary="referrer")
    offer = Reward.objects.get(referral=r, beneficiary="referred")
    assert (referrer_reward.status, offer.status) == ("issued", "issued")
    v1, v2 = referrer_reward.voucher, offer.voucher
    assert (v1.customer_id, v1.kind, v1.value, v1.referral_id, v1.status) == (
        r.referrer_id,
        "maintenance_voucher",
        Decimal("300.00"),
        r.pk,
        "issued",
    )
    assert (v2.customer_id, v2.kind, v2.value) == (r.customer_id, "offer", Decimal("200.00"))
    assert (v1.store_id, v1.rep_id) == (r.store_id, r.rep_id)
    assert Voucher.objects.count() == 2
    assert VoucherEntry.objects.filter(action="issue").count() == 2
    sms = Message.objects.get(idempotency_key=f"reward:{referrer_reward.pk}:voucher")
    assert code_display(v1.code) in sms.body and "价值300元的免费保养券" in sms.body
    assert sms.purpose == "service"
    offer_sms = Message.objects.get(idempotency_key=f"reward:{offer.pk}:voucher")
    assert offer_sms.customer_id == r.customer_id and code_display(v2.code) in offer_sms.body


def test_release_of_an_opted_out_holder_makes_a_call_task(org_world):
    referrer = referrer_of(org_world)
    Consent.objects.create(
        customer=referrer, channel="sms", granted=False, source="sms_reply", recorded_at=timezone.now()
    )
    r = won(org_world, referrer, customer=False)
    create(r)
    rewards.rewards_release(today=dt.date(2025, 6, 8))
    voucher = Reward.objects.get(referral=r).voucher
    assert Message.objects.filter(customer=referrer).count() == 0
    tasks = list(Task.objects.filter(customer=referrer).order_by("id").values_list("script", flat=True))
    assert len(tasks) == 2  # the thanks, then the code
    assert code_display(voucher.code) in tasks[1]


def test_release_skips_referrals_no_longer_won(org_world):
    r = won(org_world)
    create(r)
    Referral.objects.filter(pk=r.pk).update(stage="lost")
    assert rewards.rewards_release(today=dt.date(2025, 6, 30)) == 0
    assert Voucher.objects.count() == 0


def test_release_can_be_limited_to_one_organisation(org_world):
    create(won(org_world))
    theirs = CustomerFactory(owner=org_world.other_owner)
    other = ReferralFactory(
        referrer=theirs, stage="won", won_purchase=PurchaseFactory(customer=theirs, ordered_on=SALE_DAY)
    )
    create(other)
    assert rewards.rewards_release(organisation=org_world.other_org, today=dt.date(2025, 6, 30)) == 1
    assert Voucher.objects.get().organisation_id == org_world.other_org.pk
    assert rewards.rewards_release(today=dt.date(2025, 6, 30)) == 2


def test_release_works_in_chunks(org_world, monkeypatch):
    monkeypatch.setattr(rewards, "RELEASE_CHUNK", 3)
    set_policy(org_world.org, referred_offer_value="0")
    referrer = referrer_of(org_world)
    for i in range(7):
        create(won(org_world, referrer, name=f"刘{i}", customer=False))
    assert rewards.rewards_release(today=dt.date(2025, 6, 8)) == 7
    assert Reward.objects.filter(status="issued").count() == 7
    assert Voucher.objects.values("code").distinct().count() == 7


def test_hold_zero_issues_at_once(org_world):
    set_policy(org_world.org, reward_hold_days=0)
    r = won(org_world, sale_day=NOW.date())
    create(r, actor=org_world.rep1)
    assert sorted(Reward.objects.filter(referral=r).values_list("status", flat=True)) == ["issued", "issued"]
    v = Reward.objects.get(referral=r, beneficiary="referrer").voucher
    assert (v.issued_at, v.issued_by_id, v.expires_on) == (NOW, org_world.rep1.pk, dt.date(2026, 6, 2))
    thanks = Message.objects.get(idempotency_key=f"referral:{r.pk}:thanks")
    assert "已发放" in thanks.body
    assert Message.objects.filter(customer=r.referrer).count() == 2
    assert rewards.rewards_release(today=NOW.date()) == 0


def test_a_sale_older_than_the_hold_is_issued_at_once(org_world):
    r = won(org_world, sale_day=dt.date(2025, 5, 1))
    create(r)
    assert Voucher.objects.count() == 2


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_inside_the_hold(org_world):
    r = won(org_world)
    create(r)
    assert rewards.referral_rewards_cancel(referral=r, actor=org_world.manager1, reason="退车", now=NOW) == 2
    assert sorted(Reward.objects.filter(referral=r).values_list("status", flat=True)) == [
        "cancelled",
        "cancelled",
    ]
    assert rewards.rewards_release(today=dt.date(2025, 6, 30)) == 0
    assert Voucher.objects.count() == 0


def test_cancel_after_issue_voids_the_outstanding_vouchers_only(org_world):
    set_policy(org_world.org, reward_hold_days=0)
    r = won(org_world, sale_day=NOW.date())
    create(r)
    offer = Reward.objects.get(referral=r, beneficiary="referred").voucher
    Voucher.objects.filter(pk=offer.pk).update(status="redeemed", redeemed_at=NOW)
    later = NOW + dt.timedelta(days=1)
    assert rewards.referral_rewards_cancel(referral=r, actor=org_world.owner, reason="退车", now=later) == 1
    thanks_voucher = Reward.objects.get(referral=r, beneficiary="referrer").voucher
    assert (thanks_voucher.status, thanks_voucher.void_reason, thanks_voucher.closed_at) == (
        "void",
        "退车",
        later,
    )
    assert list(thanks_voucher.entries.values_list("action", "note")) == [("issue", ""), ("void", "退车")]
    offer.refresh_from_db()
    assert offer.status == "redeemed"
    assert rewards.referral_rewards_cancel(referral=r, actor=None, reason="again", now=later) == 0


def test_cancel_needs_a_reason(org_world):
    r = won(org_world)
    create(r)
    with pytest.raises(ValidationFailed):
        rewards.referral_rewards_cancel(referral=r, actor=None, reason=" ")
    assert sorted(Reward.objects.filter(referral=r).values_list("status", flat=True)) == ["held", "held"]


# --- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("王小明", "王"), ("欧阳娜娜", "欧阳"), ("诸葛亮", "诸葛"), ("John Smith", "Smith"), ("", "")],
)
def test_surname(name, expected):
    assert rewards.surname(name) == expected
