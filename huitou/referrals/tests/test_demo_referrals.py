"""The demo organisation's referral history: consistent with the rules of the referral system, and
every referral page has something to show (queues, stages, periods, vouchers, chains).

The demo is loaded once for the module inside a transaction that is rolled back at its end."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict

import pytest
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from huitou.accounts.models import Organisation, User
from huitou.customers.models import Customer, Purchase
from huitou.demo import DEMO_SLUG, demo_load
from huitou.referrals.models import (
    Flag,
    Referral,
    ReferralEvent,
    ReferralLink,
    ReferrerProfile,
    ReferrerType,
    Review,
    Reward,
    Stage,
    Voucher,
    VoucherEntry,
)
from huitou.referrals.selectors import referral_queryset
from huitou.referrals.vouchers import code_is_wellformed

SIZE = 400
SEED = 3
TODAY = dt.date(2026, 6, 1)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def logins(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        rows = demo_load(customers=SIZE, seed=SEED, progress=False, today=TODAY)
        yield rows
        transaction.set_rollback(True)


@pytest.fixture
def org(logins):
    return Organisation.objects.get(slug=DEMO_SLUG)


def referrals(org):
    return Referral.objects.filter(organisation=org)


def user(name):
    return User.objects.get(username=name)


# --- stages and their history ---------------------------------------------------------------------


def test_every_stage_has_referrals(org):
    stages = Counter(referrals(org).values_list("stage", flat=True))
    assert set(stages) == set(Stage.values)
    assert all(stages[s] >= 1 for s in Stage.values)


def test_every_won_referral_is_the_first_sale_of_its_converted_customer(org):
    won = list(referrals(org).filter(stage=Stage.WON).select_related("customer", "won_purchase"))
    assert len(won) >= 10
    for r in won:
        assert r.won_purchase is not None, r.pk
        assert r.won_purchase.customer_id == r.customer_id
        assert r.won_purchase.kind != Purchase.Kind.SERVICE
        first = (
            Purchase.objects.filter(customer_id=r.customer_id)
            .exclude(kind=Purchase.Kind.SERVICE)
            .order_by("ordered_on", "id")
            .first()
        )
        assert first.pk == r.won_purchase_id
        c = r.customer
        assert (c.referred_by_id, c.source, c.owner_id) == (r.referrer_id, Customer.Source.REFERRAL, r.rep_id)
        assert timezone.localtime(r.closed_at).date() == r.won_purchase.ordered_on


def test_a_referral_belongs_to_the_referrers_store_and_rep(org):
    assert referrals(org).exclude(store_id=F("referrer__store_id")).count() == 0
    assert referrals(org).exclude(rep_id=F("referrer__owner_id")).count() == 0


def test_timestamps_follow_the_stages(org):
    fields = ("submitted_at", "audited_at", "verified_at", "contacted_at", "quoted_at", "closed_at")
    for row in referrals(org).values("pk", "stage", "reviewed_at", *fields):
        times = [row[f] for f in fields if row[f] is not None]
        assert times == sorted(times), row
        if row["reviewed_at"] is not None:
            assert row["reviewed_at"] >= row["submitted_at"]
        stage = row["stage"]
        assert (row["closed_at"] is not None) == (stage in (Stage.WON, Stage.LOST, Stage.REJECTED)), row
        if stage in (Stage.VERIFIED, Stage.CONTACTED, Stage.QUOTED, Stage.WON):
            assert row["verified_at"] is not None, row
        if stage in (Stage.CONTACTED,):
            assert row["contacted_at"] is not None and row["quoted_at"] is None, row
        if stage == Stage.QUOTED:
            assert row["quoted_at"] is not None, row
        if stage == Stage.SUBMITTED:
            assert row["verified_at"] is None and row["closed_at"] is None, row


def test_events_replay_every_referral_to_its_stage(org):
    events = defaultdict(list)
    for rid, at, action, before, after in (
        ReferralEvent.objects.filter(referral__organisation=org)
        .order_by("referral_id", "at", "id")
        .values_list("referral_id", "at", "action", "from_stage", "to_stage")
    ):
        events[rid].append((at, action, before, after))
    rows = list(referrals(org).values_list("pk", "stage", "submitted_at", "audit_attempts", "version"))
    assert len(events) == len(rows)
    for pk, stage, submitted, attempts, version in rows:
        history = events[pk]
        assert history[0] == (submitted, "submit", "", Stage.SUBMITTED), pk
        for (_a, _x, _b, after), (_c, _y, before, _d) in itertools.pairwise(history):
            assert before == after, pk
        assert history[-1][3] == stage, pk
        assert sum(1 for e in history if e[1] == "audit") == attempts
        assert version == len(history)


def test_faked_referrals_were_rejected(org):
    assert referrals(org).filter(faked=True).exclude(stage=Stage.REJECTED).count() == 0
    assert referrals(org).filter(faked=True, audit_outcome="fake").count() >= 1


def test_dcrc_audits_are_never_by_the_leads_rep(org):
    audited = referrals(org).filter(audited_by__isnull=False)
    assert audited.exists()
    assert audited.exclude(audited_by__role="dcrc").count() == 0
    assert (
        ReferralEvent.objects.filter(referral__organisation=org, action="audit")
        .exclude(actor__role="dcrc")
        .count()
        == 0
    )


# --- claims and fraud flags -----------------------------------------------------------------------


def test_no_two_live_claims_per_phone(org):
    live = referrals(org).filter(duplicate_of__isnull=True).exclude(stage=Stage.REJECTED)
    twice = live.values("phone").annotate(n=Count("pk")).filter(n__gt=1)
    assert list(twice) == []


def test_duplicates_point_at_an_earlier_claim_on_the_same_person(org):
    dups = list(referrals(org).filter(duplicate_of__isnull=False).select_related("duplicate_of"))
    assert dups
    for d in dups:
        first = d.duplicate_of
        assert (first.phone, first.name) == (d.phone, d.name)
        assert first.submitted_at < d.submitted_at
        assert first.referrer_id != d.referrer_id
        assert Flag.DUPLICATE in d.flags


def test_flagged_referrals_went_to_review(org):
    flagged = referrals(org).exclude(flags=[])
    assert flagged.exclude(review__in=[Review.PENDING, Review.APPROVED, Review.REJECTED]).count() == 0
    assert referrals(org).filter(flags=[]).exclude(review="").count() == 0
    for r in flagged.select_related("referrer", "customer"):
        if Flag.SELF_REFERRAL in r.flags:
            assert r.phone == r.referrer.phone
        if Flag.EXISTING_CUSTOMER in r.flags:
            assert r.customer is not None and r.customer.phone == r.phone
    assert flagged.filter(review=Review.REJECTED).exclude(stage=Stage.REJECTED).count() == 0


def test_every_phone_is_e164(org):
    from huitou.core.phones import normalize_phone

    phones = list(referrals(org).values_list("phone", flat=True))
    assert all(normalize_phone(p) == p for p in phones)


# --- what each login finds --------------------------------------------------------------------------


def test_the_dcrc_audit_queue_has_work_today(org):
    dcrc = user("dcrc1")
    queue = referral_queryset(dcrc).filter(stage=Stage.SUBMITTED).exclude(rep_id=dcrc.pk)
    assert queue.count() >= 5
    assert queue.filter(audit_attempts__gte=1).exists()  # a call nobody answered, to try again


def test_the_managers_review_queue_has_every_fraud_flag(org):
    pending = referral_queryset(user("manager_th")).filter(review=Review.PENDING)
    flags = {f for row in pending.values_list("flags", flat=True) for f in row}
    assert flags == set(Flag.values)


def test_the_first_rep_has_leads_in_every_open_stage(org):
    stages = set(referrals(org).filter(rep=user("rep_th1")).values_list("stage", flat=True))
    assert {Stage.SUBMITTED, Stage.VERIFIED, Stage.CONTACTED, Stage.QUOTED, Stage.LOST} <= stages


def test_the_after_sales_login_names_an_outstanding_voucher(logins, org):
    note = next(row["note"] for row in logins if row["username"] == "service1")
    code = note.rsplit(" ", 1)[-1]
    voucher = Voucher.objects.get(code=code)
    assert voucher.status == Voucher.Status.ISSUED
    assert voucher.expires_on >= TODAY
    assert voucher.customer.store.code == "GZTH"
    assert user("service1").store.code == "GZTH"


# --- periods, chains, referrers ---------------------------------------------------------------------


def test_both_quota_periods_have_sales_and_referrals(org):
    periods = org.policy.referrals.quota_periods
    assert [(p.label, p.quota) for p in periods] == [("一拓五", 5), ("一拓一", 1)]
    bounds = [
        (periods[0].starts_on, periods[1].starts_on),
        (periods[1].starts_on, TODAY + dt.timedelta(days=1)),
    ]
    per_sale = []
    for start, end in bounds:
        sales = Purchase.objects.filter(
            organisation=org, promised_on__gte=start, promised_on__lt=end
        ).exclude(kind=Purchase.Kind.SERVICE)
        made = referrals(org).filter(submitted_at__date__gte=start, submitted_at__date__lt=end)
        assert sales.count() > 0 and made.count() > 0
        per_sale.append(made.count() / sales.count())
    assert per_sale[0] > 1.5 * per_sale[1]  # 一拓五 asked for more names...
    fake_share = [
        referrals(org).filter(submitted_at__date__gte=a, submitted_at__date__lt=b, faked=True).count()
        / referrals(org).filter(submitted_at__date__gte=a, submitted_at__date__lt=b).count()
        for a, b in bounds
    ]
    assert fake_share[0] > fake_share[1]  # ...and got worse ones


def test_sales_carry_their_delivery_day(org):
    missing = Purchase.objects.filter(organisation=org, promised_on__isnull=True).exclude(
        kind=Purchase.Kind.SERVICE
    )
    assert missing.count() == 0


def test_most_referrals_come_in_the_three_months_after_delivery(org):
    # The archive's delivery day (the contact-plan demo moves the promised day of the last weeks).
    delivered = defaultdict(list)
    for cid, day in (
        Purchase.objects.filter(organisation=org)
        .exclude(kind=Purchase.Kind.SERVICE)
        .values_list("customer_id", "payment_due_on")
    ):
        delivered[cid].append(day)
    months = Counter()
    for referrer, at in referrals(org).values_list("referrer_id", "submitted_at"):
        day = timezone.localtime(at).date()
        before = [d for d in delivered[referrer] if d <= day]
        assert before, referrer  # every referrer had bought before referring
        months[min(12, (day - max(before)).days // 30)] += 1
    total = sum(months.values())
    assert (months[0] + months[1] + months[2]) / total > 0.75
    assert months[0] > months[1] > months[3]


def test_won_referrals_form_chains_over_generations(org):
    brought_by = dict(referrals(org).filter(stage=Stage.WON).values_list("customer_id", "referrer_id"))

    def generations(cid):
        n = 0
        while cid in brought_by:
            cid, n = brought_by[cid], n + 1
        return n

    assert max(generations(c) for c in brought_by) >= 3


def test_referrer_types_of_all_four_kinds(org):
    kinds = Counter(ReferrerProfile.objects.filter(organisation=org).values_list("referrer_type", flat=True))
    assert set(kinds) == set(ReferrerType.values)
    assert sum(kinds.values()) >= 24
    honour = ReferrerProfile.objects.filter(organisation=org, referrer_type=ReferrerType.HONOUR)
    assert honour.exclude(refuses_rewards=True).count() == 0


def test_self_service_links_exist(org):
    links = ReferralLink.objects.filter(organisation=org)
    assert links.count() >= 3
    assert links.filter(revoked_at__isnull=False).exists()
    assert links.filter(expires_at__gt=timezone.make_aware(dt.datetime.combine(TODAY, dt.time()))).exists()


# --- rewards and vouchers -----------------------------------------------------------------------------


def test_each_won_referral_rewards_the_referrer_and_the_referred(org):
    won = referrals(org).filter(stage=Stage.WON)
    rewards = Reward.objects.filter(organisation=org)
    assert rewards.filter(beneficiary=Reward.Beneficiary.REFERRER).count() == won.count()
    assert rewards.filter(beneficiary=Reward.Beneficiary.REFERRED).count() == won.count()
    assert rewards.exclude(referral__stage=Stage.WON).count() == 0
    for reward in rewards.select_related("referral", "voucher"):
        holder = (
            reward.referral.referrer_id if reward.beneficiary == "referrer" else reward.referral.customer_id
        )
        assert reward.customer_id == holder
        if reward.status == Reward.Status.ISSUED:
            assert reward.voucher is not None
            assert (reward.voucher.customer_id, reward.voucher.value) == (holder, reward.value)
        else:
            assert reward.voucher is None
    declined = rewards.filter(status=Reward.Status.DECLINED)
    assert declined.exists()
    assert declined.exclude(customer__referrer_profile__refuses_rewards=True).count() == 0


def test_every_voucher_has_its_ledger(org):
    vouchers = list(Voucher.objects.filter(organisation=org))
    entries = defaultdict(list)
    for vid, action, at, actor, store in VoucherEntry.objects.filter(voucher__organisation=org).values_list(
        "voucher_id", "action", "at", "actor_id", "store_id"
    ):
        entries[vid].append((action, at, actor, store))
    statuses = Counter(v.status for v in vouchers)
    assert set(statuses) == set(Voucher.Status.values)
    for v in vouchers:
        ledger = entries[v.pk]
        actions = [e[0] for e in ledger]
        assert actions.count("issue") == 1 and ledger[0][:2] == ("issue", v.issued_at), v.code
        if v.status == Voucher.Status.REDEEMED:
            redeem = [e for e in ledger if e[0] == "redeem"]
            assert redeem == [("redeem", v.redeemed_at, v.redeemed_by_id, v.redeemed_store_id)]
            assert v.issued_at < v.redeemed_at and v.redeemed_at.date() <= v.expires_on
            assert v.redeemed_by.role in ("aftersales", "dcrc")
        else:
            assert "redeem" not in actions and v.redeemed_at is None
        if v.status == Voucher.Status.EXPIRED:
            assert "expire" in actions and v.expires_on < TODAY
        if v.status == Voucher.Status.VOID:
            assert "void" in actions and v.void_reason
        if v.status == Voucher.Status.ISSUED:
            assert v.expires_on >= TODAY and actions == ["issue"]


def test_voucher_codes_are_unique_and_well_formed(org):
    codes = list(Voucher.objects.filter(organisation=org).values_list("code", flat=True))
    assert len(codes) == len(set(codes))
    assert all(code_is_wellformed(c) for c in codes)


def test_tiered_rewards_from_the_third_win(org):
    assert [(t.min_won, int(t.value)) for t in org.policy.referrals.reward_tiers] == [(3, 500)]
    values = set(
        Reward.objects.filter(organisation=org, beneficiary="referrer").values_list("value", flat=True)
    )
    assert {int(v) for v in values} <= {300, 500}


def test_nothing_outside_the_demo_organisation(org):
    assert Referral.objects.filter(~Q(organisation=org)).count() == 0
    assert Referral.objects.exclude(referrer__organisation=org).count() == 0
    assert Voucher.objects.exclude(customer__organisation=org).count() == 0
