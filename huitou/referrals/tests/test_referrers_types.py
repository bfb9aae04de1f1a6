"""Knowing the referrers: suggestion rules, evidence, setting the type, chains and base customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.utils import translation

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.referrals import insights, referrers
from huitou.referrals.models import ReferrerProfile, Stage, Voucher
from huitou.referrals.tests.factories import ReferralFactory, VoucherFactory
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10), tzinfo=SH)


def ref(referrer, day, stage=Stage.VERIFIED, **kw):
    return ReferralFactory(referrer=referrer, submitted_at=at(day), stage=stage, **kw)


# --- suggestion rules ----------------------------------------------------------------------------


@pytest.fixture
def english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ({"refuses_rewards": True}, "honour"),
        (
            {
                "refuses_rewards": True,
                "asked_for_help": "孩子上学",
                "referrals": 5,
                "rewards_redeemed": 3,
                "rewards_issued": 3,
            },
            "honour",
        ),
        ({"referrals": 2, "rewards_issued": 3, "rewards_redeemed": 2}, "reward"),
        ({"referrals": 2, "rewards_issued": 2, "rewards_redeemed": 1}, None),  # half is not most
        ({"referrals": 1, "rewards_issued": 1, "rewards_redeemed": 1}, None),  # one referral is not enough
        ({"referrals": 3, "rewards_issued": 3, "rewards_redeemed": 3, "asked_for_help": "贷款"}, "reward"),
        ({"asked_for_help": "孩子上学", "referrals": 1}, "favour"),
        ({"asked_for_help": "   "}, None),
        ({"referrals": 4, "referrals_last_year": 2}, "friend"),
        ({"referrals": 1, "referrals_last_year": 1}, "friend"),
        ({"referrals": 3, "referrals_last_year": 3}, None),  # not occasional
        ({"referrals": 1, "referrals_last_year": 1, "rewards_issued": 1, "rewards_redeemed": 1}, None),
        ({"referrals": 5, "referrals_last_year": 0}, None),
        ({}, None),
    ],
)
def test_suggestion_rules(evidence, expected):
    s = referrers.referrer_type_suggest(**evidence)
    assert (s.referrer_type if s else None) == expected


def test_suggestion_reasons_are_in_words(english):
    assert referrers.referrer_type_suggest(refuses_rewards=True).reason == "Refuses rewards for referrals."
    reward = referrers.referrer_type_suggest(referrals=4, rewards_issued=3, rewards_redeemed=2)
    assert reward.reason == "Redeemed 2 of 3 reward vouchers, over 4 referrals."
    assert (
        referrers.referrer_type_suggest(asked_for_help="孩子上学").reason
        == "Asked us for help with: 孩子上学"
    )
    friend = referrers.referrer_type_suggest(referrals=1, referrals_last_year=1)
    assert friend.reason == "1 referral in the last year and no reward redeemed."
    assert friend.label == "Friendship"
    assert friend.advice.startswith("Make no demands and treat them as a friend.")


def test_suggest_types_is_vectorised():
    kinds = referrers.suggest_types(
        refuses_rewards=np.array([True, False, False, False, False]),
        asked_for_help=np.array([False, False, True, False, False]),
        referrals=np.array([0, 2, 0, 1, 0]),
        referrals_last_year=np.array([0, 2, 0, 1, 0]),
        rewards_issued=np.array([0, 1, 0, 0, 0]),
        rewards_redeemed=np.array([0, 1, 0, 0, 0]),
    )
    assert kinds.tolist() == ["honour", "reward", "favour", "friend", ""]


def test_every_type_has_its_advice(english):
    assert "no material reward" in referrers.advice_for("honour").lower()
    assert "golden customers" in referrers.advice_for("honour")
    assert "openly" in referrers.advice_for("reward")
    assert "lose them" in referrers.advice_for("favour")
    assert "friend" in referrers.advice_for("friend")
    assert referrers.advice_for("") == ""


def test_evidence_is_read_from_referrals_vouchers_and_profile(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    other = CustomerFactory(owner=org_world.rep1)
    today = dt.date(2025, 6, 30)
    r1 = ref(c, dt.date(2024, 7, 1))  # the 365 days end 2025-06-30: starts 2024-07-01
    r2 = ref(c, dt.date(2024, 6, 30))
    ref(c, dt.date(2025, 1, 1), Stage.REJECTED)
    ref(c, dt.date(2025, 1, 2), faked=True)
    ref(c, dt.date(2025, 1, 3), Stage.SUBMITTED)
    VoucherFactory(customer=c, referral=r1, status=Voucher.Status.REDEEMED)
    VoucherFactory(customer=c, referral=r2, status=Voucher.Status.ISSUED)
    VoucherFactory(customer=c, referral=None, status=Voucher.Status.REDEEMED)  # not a referral reward
    theirs = ref(other, dt.date(2025, 1, 4))
    VoucherFactory(customer=c, referral=theirs, status=Voucher.Status.REDEEMED)  # someone else's referral
    ReferrerProfile.objects.create(organisation=org_world.org, customer=c, asked_for_help="找车位")
    ev = referrers.referrer_evidence(org_world.rep1, [c.pk, other.pk], today=today)
    assert ev[c.pk] == referrers.Evidence(
        refuses_rewards=False,
        asked_for_help="找车位",
        referrals=3,
        referrals_last_year=2,
        rewards_issued=2,
        rewards_redeemed=1,
    )
    assert ev[other.pk] == referrers.Evidence(referrals=1, referrals_last_year=1)


# --- setting the type ----------------------------------------------------------------------------


def test_first_set_creates_the_profile_then_updates_with_the_version(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    p = referrers.referrer_type_set(
        actor=org_world.rep1, customer_id=c.pk, referrer_type="favour", asked_for_help=" 孩子入学 ", version=0
    )
    assert (p.referrer_type, p.asked_for_help, p.version, p.set_by_id, p.organisation_id) == (
        "favour",
        "孩子入学",
        1,
        org_world.rep1.pk,
        org_world.org.pk,
    )
    p = referrers.referrer_type_set(
        actor=org_world.manager1, customer_id=c.pk, referrer_type="honour", refuses_rewards=True, version=1
    )
    assert (p.referrer_type, p.refuses_rewards, p.asked_for_help, p.version, p.set_by_id) == (
        "honour",
        True,
        "孩子入学",  # not given: unchanged
        2,
        org_world.manager1.pk,
    )


def test_stale_version_is_a_conflict_and_changes_nothing(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    referrers.referrer_type_set(actor=org_world.rep1, customer_id=c.pk, referrer_type="friend", version=0)
    referrers.referrer_type_set(actor=org_world.owner, customer_id=c.pk, referrer_type="reward", version=1)
    with pytest.raises(Conflict):
        referrers.referrer_type_set(actor=org_world.rep1, customer_id=c.pk, referrer_type="honour", version=1)
    with pytest.raises(Conflict):
        referrers.referrer_type_set(actor=org_world.rep1, customer_id=c.pk, referrer_type="honour", version=0)
    p = ReferrerProfile.objects.get(customer=c)
    assert (p.referrer_type, p.version, p.set_by_id) == ("reward", 2, org_world.owner.pk)


def test_refusals_change_nothing(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    with pytest.raises(NotFound):  # another rep's customer: as if it did not exist
        referrers.referrer_type_set(actor=org_world.rep2, customer_id=c.pk, referrer_type="friend")
    with pytest.raises(NotFound):
        referrers.referrer_type_set(actor=org_world.manager2, customer_id=c.pk, referrer_type="friend")
    with pytest.raises(NotFound):
        referrers.referrer_type_set(actor=org_world.other_owner, customer_id=c.pk, referrer_type="friend")
    with pytest.raises(PermissionDenied):  # DCRC sees the customer but does not set types
        referrers.referrer_type_set(actor=org_world.dcrc, customer_id=c.pk, referrer_type="friend")
    with pytest.raises(ValidationFailed) as exc:
        referrers.referrer_type_set(actor=org_world.rep1, customer_id=c.pk, referrer_type="vip")
    assert exc.value.errors == {"referrer_type": ["not a valid choice"]}
    with pytest.raises(ValidationFailed):
        referrers.referrer_type_set(
            actor=org_world.rep1, customer_id=c.pk, referrer_type="friend", asked_for_help="x" * 256
        )
    assert not ReferrerProfile.objects.exists()


def test_clearing_the_type(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    referrers.referrer_type_set(actor=org_world.rep1, customer_id=c.pk, referrer_type="friend")
    p = referrers.referrer_type_set(actor=org_world.rep1, customer_id=c.pk, referrer_type="")
    assert (p.referrer_type, p.version) == ("", 2)


# --- chains --------------------------------------------------------------------------------------


def chain_world(w):
    """Y → Z → A; A brought B and C; B brought D; D brought E (three generations below A)."""
    y = CustomerFactory(owner=w.rep1, name="老杨")
    z = CustomerFactory(owner=w.rep2, name="老张", referred_by=y)
    a = CustomerFactory(owner=w.rep1, name="阿明", referred_by=z)
    b = CustomerFactory(owner=w.rep1, name="阿宝", referred_by=a)
    c = CustomerFactory(owner=w.rep3, name="阿财", referred_by=a)
    d = CustomerFactory(owner=w.rep1, name="阿东", referred_by=b)
    e = CustomerFactory(owner=w.rep1, name="阿娥", referred_by=d)
    for cust, amount in ((a, "100000"), (b, "200000"), (c, "50000"), (d, "300000"), (e, "10000"), (y, "77")):
        PurchaseFactory(customer=cust, organisation=cust.organisation, amount=Decimal(amount))
    PurchaseFactory(customer=b, organisation=b.organisation, amount=Decimal("999"), kind="service")
    return {"y": y, "z": z, "a": a, "b": b, "c": c, "d": d, "e": e}


def test_chain_over_three_generations_with_revenue(org_world):
    p = chain_world(org_world)
    chain = insights.referral_chain(org_world.owner, p["a"].pk)
    tree = [(n.name, n.depth, n.revenue, n.subtree_revenue, n.descendants) for n in chain.nodes]
    assert tree == [
        ("阿明", 0, Decimal("100000"), Decimal("660000"), 4),
        ("阿宝", 1, Decimal("200000"), Decimal("510000"), 2),
        ("阿东", 2, Decimal("300000"), Decimal("310000"), 1),
        ("阿娥", 3, Decimal("10000"), Decimal("10000"), 0),
        ("阿财", 1, Decimal("50000"), Decimal("50000"), 0),
    ]
    assert chain.brought_revenue == Decimal("560000")
    assert [n.name for n in chain.upward] == ["老杨", "老张"]
    assert (chain.truncated, chain.depth_limited) == (False, False)


def test_chain_hides_names_outside_the_scope(org_world):
    p = chain_world(org_world)
    chain = insights.referral_chain(org_world.rep1, p["a"].pk)
    shown = {n.customer_id: (n.visible, n.name) for n in [*chain.nodes, *chain.upward]}
    assert shown[p["c"].pk] == (False, "")  # rep3's customer
    assert shown[p["z"].pk] == (False, "")  # rep2's customer
    assert shown[p["y"].pk] == (True, "老杨")
    assert chain.root.subtree_revenue == Decimal("660000")  # the branch still counts
    with pytest.raises(NotFound):
        insights.referral_chain(org_world.rep3, p["a"].pk)


def test_chain_is_bounded_in_depth_and_size(org_world, django_assert_max_num_queries):
    p = chain_world(org_world)
    with django_assert_max_num_queries(
        2 + 2 + 2 + 2
    ):  # customer, 2 generations + check, 2 up, scope, revenue
        shallow = insights.referral_chain(org_world.owner, p["a"].pk, depth=2)
    assert [n.name for n in shallow.nodes] == ["阿明", "阿宝", "阿东", "阿财"]
    assert shallow.depth_limited is True
    small = insights.referral_chain(org_world.owner, p["a"].pk, max_nodes=3)
    assert len(small.nodes) == 3 and small.truncated is True


def test_chain_survives_a_loop_in_the_records(org_world):
    a = CustomerFactory(owner=org_world.rep1)
    b = CustomerFactory(owner=org_world.rep1, referred_by=a)
    a.referred_by = b
    a.save()
    chain = insights.referral_chain(org_world.owner, a.pk)
    assert [n.customer_id for n in chain.nodes] == [a.pk, b.pk]
    assert chain.upward == []


# --- base customers ------------------------------------------------------------------------------


def base_world(w):
    x, y, z, v = (CustomerFactory(owner=w.rep1, name=n) for n in ("冠军", "亚军", "季军", "只提交"))
    far = CustomerFactory(owner=w.rep3, name="远方")
    day = dt.date(2025, 5, 1)
    for _ in range(2):
        ref(x, day, Stage.WON)
    ref(x, day, Stage.VERIFIED)
    ref(y, day, Stage.WON)
    for _ in range(3):
        ref(y, day, Stage.CONTACTED)
    for i in range(4):
        ref(z, day + dt.timedelta(days=i), Stage.VERIFIED)
    ref(v, day, Stage.SUBMITTED)
    ref(far, day, Stage.WON)
    ref(far, day, Stage.WON)
    ref(far, day, Stage.WON)
    brought = CustomerFactory(owner=w.rep1, referred_by=x)
    PurchaseFactory(customer=brought, organisation=brought.organisation, amount=Decimal("123456.78"))
    PurchaseFactory(
        customer=brought, organisation=brought.organisation, amount=Decimal("500"), kind="service"
    )
    ReferrerProfile.objects.create(organisation=w.org, customer=y, referrer_type="reward")
    return x, y, z, v, far


def test_base_customers_ranked_by_won_then_verified(org_world):
    x, y, z, _v, far = base_world(org_world)
    rows = list(insights.base_customer_queryset(org_world.owner))
    assert [(r["referrer_id"], r["won"], r["counted"]) for r in rows] == [
        (far.pk, 3, 3),
        (x.pk, 2, 3),
        (y.pk, 1, 4),
        (z.pk, 0, 4),
    ]
    enriched = insights.base_customer_rows(org_world.owner, rows)
    assert enriched[1]["revenue"] == Decimal("123456.78")
    assert enriched[2]["referrer_type"] == "reward" and enriched[2]["suggestion"] is None
    assert enriched[3]["suggestion"] is None  # 4 referrals in a year: not occasional


def test_base_customers_scope_and_filters(org_world):
    x, y, z, _v, far = base_world(org_world)
    assert [r["referrer_id"] for r in insights.base_customer_queryset(org_world.rep1)] == [x.pk, y.pk, z.pk]
    assert [r["referrer_id"] for r in insights.base_customer_queryset(org_world.manager2)] == [far.pk]
    assert [
        r["referrer_id"] for r in insights.base_customer_queryset(org_world.owner, referrer_type="reward")
    ] == [y.pk]
    assert [
        r["referrer_id"] for r in insights.base_customer_queryset(org_world.owner, store_id=org_world.s2.pk)
    ] == [far.pk]
