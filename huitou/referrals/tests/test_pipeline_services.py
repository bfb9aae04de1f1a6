"""The lead pipeline's services: capture, fraud rules, audit, stages, win, lose, review, matching."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.customers.models import Customer, CustomerPhone, Purchase
from huitou.referrals import fraud
from huitou.referrals import services as svc
from huitou.referrals.models import Referral, ReferralEvent, Reward, Stage
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory, ProductFactory, PurchaseFactory, UserFactory

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=TZ)


def set_policy(org, **values):
    data = dict(org.policy_data or {})
    data["referrals"] = {**data.get("referrals", {}), **values}
    org.policy_data = data
    org.save(update_fields=["policy_data"])


def referrer_of(w, rep=None, **kw):
    rep = rep or w.rep1
    return CustomerFactory(owner=rep, organisation=w.org, store=rep.store, **kw)


def submit(actor, referrer, phone="13900000001", name="李雷", relation="friend", now=NOW, **kw):
    return svc.referral_submit(
        actor=actor,
        referrer=referrer,
        name=name,
        phone=phone,
        relation=relation,
        channel=kw.pop("channel", "delivery"),
        now=now,
        **kw,
    )


def snapshot(referral):
    referral.refresh_from_db()
    return (
        referral.stage,
        referral.version,
        referral.audit_attempts,
        referral.review,
        referral.faked,
        referral.events.count(),
    )


def lead(w, *, stage="submitted", rep=None, **kw):
    """A referral in ``stage`` of a customer of ``rep`` (rep1), made through the factory."""
    ref = referrer_of(w, rep)
    return ReferralFactory(referrer=ref, stage=stage, submitted_at=NOW - dt.timedelta(days=3), **kw)


# --- capture ----------------------------------------------------------------------------------


def test_submit_stores_a_lead_linked_to_the_referrer(org_world):
    w = org_world
    ref = referrer_of(w)
    product = ProductFactory(organisation=w.org)
    r = submit(
        w.dcrc, ref, phone="139 0000 0001", interest="SUV", product=product, wechat="lilei", city="广州"
    )
    r.refresh_from_db()
    assert (r.referrer_id, r.organisation_id, r.store_id, r.rep_id) == (ref.pk, w.org.pk, w.s1.pk, w.rep1.pk)
    assert (r.name, r.phone, r.relation, r.interest, r.product_id) == (
        "李雷",
        "+8613900000001",
        "friend",
        "SUV",
        product.pk,
    )
    assert (r.stage, r.review, r.flags, r.duplicate_of_id, r.customer_id) == ("submitted", "", [], None, None)
    assert (r.submitted_by_id, r.submitted_at, r.channel) == (w.dcrc.pk, NOW, "delivery")
    event = r.events.get()
    assert (event.action, event.from_stage, event.to_stage, event.actor_id, event.at) == (
        "submit",
        "",
        "submitted",
        w.dcrc.pk,
        NOW,
    )


def test_submit_names_each_wrong_field_and_stores_nothing(org_world):
    w = org_world
    ref = referrer_of(w)
    with pytest.raises(ValidationFailed) as exc:
        submit(w.rep1, ref, name="  ", phone="12345", relation="neighbour")
    assert exc.value.errors == {
        "name": ["Enter the name of the person referred."],
        "phone": ["This is not a valid mobile phone number."],
        "relation": ["Choose how they know the referrer."],
    }
    with pytest.raises(ValidationFailed) as exc:
        submit(w.rep1, ref, phone="")
    assert exc.value.errors == {"phone": ["Enter the mobile phone number of the person referred."]}
    assert not Referral.objects.exists()


def test_a_landline_is_not_a_mobile_number(org_world):
    w = org_world
    with pytest.raises(ValidationFailed) as exc:
        submit(w.rep1, referrer_of(w), phone="020-87654321")
    assert exc.value.errors == {"phone": ["This is not a valid mobile phone number."]}


def test_staff_cannot_use_the_self_service_channel(org_world):
    w = org_world
    with pytest.raises(ValidationFailed) as exc:
        submit(w.rep1, referrer_of(w), channel="self")
    assert exc.value.errors == {"channel": ["Unknown channel."]}


def test_the_same_referrer_cannot_enter_the_same_person_twice(org_world):
    w = org_world
    ref = referrer_of(w)
    first = submit(w.rep1, ref, phone="13900000001")
    with pytest.raises(ValidationFailed) as exc:
        submit(w.rep1, ref, phone="+86 139-0000-0001", name="李雷雷")
    assert exc.value.errors == {"phone": [svc.ALREADY_REFERRED]}
    assert list(Referral.objects.values_list("pk", flat=True)) == [first.pk]


def test_even_after_rejection_the_same_referrer_cannot_enter_the_person_again(org_world):
    w = org_world
    ref = referrer_of(w)
    first = submit(w.rep1, ref)
    svc.referral_audit(actor=w.dcrc, referral_id=first.pk, outcome="fake", now=NOW)
    with pytest.raises(ValidationFailed):
        submit(w.rep1, ref)
    assert Referral.objects.count() == 1


def test_referrer_outside_the_actors_scope_is_not_found(org_world):
    w = org_world
    ref = referrer_of(w)  # rep1's customer
    for actor in (w.rep2, w.rep3, w.other_owner, w.manager2):
        with pytest.raises(NotFound):
            submit(actor, ref)
    assert not Referral.objects.exists()


def test_every_role_submits_for_referrers_in_scope(org_world):
    w = org_world
    ref = referrer_of(w)
    for i, actor in enumerate((w.owner, w.manager1, w.rep1, w.dcrc, w.aftersales)):
        r = submit(actor, ref, phone=f"1390000001{i}")
        assert r.submitted_by_id == actor.pk
    assert Referral.objects.filter(referrer=ref).count() == 5


def test_a_merged_referrer_cannot_refer(org_world):
    w = org_world
    survivor = referrer_of(w)
    merged = referrer_of(w, merged_into=survivor)
    with pytest.raises(NotFound):
        submit(w.owner, merged)


# --- fraud rules ------------------------------------------------------------------------------


def test_self_referral_by_the_main_number(org_world):
    w = org_world
    ref = referrer_of(w, phone="+8613800001111")
    r = submit(w.rep1, ref, phone="13800001111")
    assert (r.flags, r.review, r.customer_id, r.duplicate_of_id) == (["self_referral"], "pending", None, None)


def test_self_referral_by_a_further_number(org_world):
    w = org_world
    ref = referrer_of(w)
    CustomerPhone.objects.create(customer=ref, number="+8613700002222", label="work")
    r = submit(w.rep1, ref, phone="13700002222")
    assert (r.flags, r.review) == (["self_referral"], "pending")


def test_duplicate_is_stored_pointing_at_the_first_claim(org_world):
    w = org_world
    first = submit(w.rep1, referrer_of(w), phone="13900000001", now=NOW - dt.timedelta(days=1))
    second = submit(w.rep1, referrer_of(w), phone="13900000001")
    assert (first.flags, first.review, first.duplicate_of_id) == ([], "", None)
    assert (second.flags, second.review, second.duplicate_of_id) == (["duplicate"], "pending", first.pk)


def test_a_rejected_first_claim_leaves_the_person_free(org_world):
    w = org_world
    first = submit(w.rep1, referrer_of(w))
    svc.referral_audit(actor=w.dcrc, referral_id=first.pk, outcome="fake", now=NOW)
    second = submit(w.rep1, referrer_of(w))
    assert (second.flags, second.review, second.duplicate_of_id) == ([], "", None)


def test_existing_customer_is_flagged_and_linked(org_world):
    w = org_world
    known = CustomerFactory(owner=w.rep3, organisation=w.org, store=w.s2, phone="+8613600003333")
    r = submit(w.rep1, referrer_of(w), phone="13600003333")
    assert (r.flags, r.review, r.customer_id) == (["existing_customer"], "pending", known.pk)


def test_existing_customer_by_a_further_number_and_never_a_merged_one(org_world):
    w = org_world
    known = CustomerFactory(owner=w.rep3, organisation=w.org, store=w.s2)
    CustomerPhone.objects.create(customer=known, number="+8613600004444")
    gone = CustomerFactory(owner=w.rep3, organisation=w.org, phone="+8613600005555", merged_into=known)
    r1 = submit(w.rep1, referrer_of(w), phone="13600004444")
    r2 = submit(w.rep1, referrer_of(w), phone="13600005555")
    assert (r1.flags, r1.customer_id) == (["existing_customer"], known.pk)
    assert (r2.flags, r2.customer_id) == ([], None)
    assert gone.pk != known.pk


def test_a_customer_of_another_organisation_is_not_an_existing_customer(org_world):
    w = org_world
    CustomerFactory(owner=w.other_owner, phone="+8613600006666")
    r = submit(w.rep1, referrer_of(w), phone="13600006666")
    assert (r.flags, r.customer_id) == ([], None)


def test_monthly_cap_counts_this_calendar_month_only(org_world):
    w = org_world
    set_policy(w.org, monthly_cap=2)
    ref = referrer_of(w)
    submit(w.rep1, ref, phone="13900000001", now=dt.datetime(2026, 2, 28, 23, 0, tzinfo=TZ))
    a = submit(w.rep1, ref, phone="13900000002", now=dt.datetime(2026, 3, 1, 0, 5, tzinfo=TZ))
    b = submit(w.rep1, ref, phone="13900000003", now=NOW)
    c = submit(w.rep1, ref, phone="13900000004", now=NOW)
    assert [a.flags, b.flags, c.flags] == [[], [], ["monthly_cap"]]
    assert c.review == "pending"


def test_several_flags_in_a_fixed_order(org_world):
    w = org_world
    set_policy(w.org, monthly_cap=1)
    ref = referrer_of(w, phone="+8613800001111")
    other = referrer_of(w)
    submit(w.rep1, other, phone="13800001111", now=NOW - dt.timedelta(days=1))
    submit(w.rep1, ref, phone="13900000009", now=NOW - dt.timedelta(days=1))
    r = submit(w.rep1, ref, phone="13800001111")
    assert r.flags == ["self_referral", "duplicate", "monthly_cap"]


@pytest.mark.parametrize(
    ("switch", "setup"),
    [("flag_self_referral", "self"), ("flag_duplicate", "duplicate"), ("flag_existing_customer", "existing")],
)
def test_policy_switches_turn_each_rule_off(org_world, switch, setup):
    w = org_world
    set_policy(w.org, **{switch: False})
    ref = referrer_of(w, phone="+8613800001111")
    phone = "13800001111"
    if setup == "duplicate":
        phone = "13900000001"
        first = submit(w.rep1, referrer_of(w), phone=phone, now=NOW - dt.timedelta(days=1))
    if setup == "existing":
        phone = "13600003333"
        known = CustomerFactory(owner=w.rep3, organisation=w.org, phone="+8613600003333")
    r = submit(w.rep1, ref, phone=phone)
    assert (r.flags, r.review) == ([], "")
    if setup == "duplicate":
        assert r.duplicate_of_id == first.pk  # the fact is kept; only the review is off
    if setup == "existing":
        assert r.customer_id == known.pk


def test_monthly_cap_zero_is_off(org_world):
    w = org_world
    set_policy(w.org, monthly_cap=0)
    ref = referrer_of(w)
    flags = [submit(w.rep1, ref, phone=f"139000000{i:02d}").flags for i in range(8)]
    assert flags == [[]] * 8


def test_losing_the_insert_race_stores_a_duplicate(org_world, monkeypatch):
    """The claim is taken between the check and the insert: the constraint catches it."""
    w = org_world
    first = submit(w.rep1, referrer_of(w))
    real = fraud.live_claim_id
    calls = []

    def blind_then_real(**kw):
        calls.append(kw)
        return None if len(calls) == 1 else real(**kw)

    monkeypatch.setattr(fraud, "live_claim_id", blind_then_real)
    second = submit(w.rep1, referrer_of(w))
    second.refresh_from_db()
    assert (second.duplicate_of_id, second.flags, second.review) == (first.pk, ["duplicate"], "pending")
    assert Referral.objects.filter(duplicate_of__isnull=True).count() == 1
    assert second.events.count() == 1


# --- audit ------------------------------------------------------------------------------------


def test_confirmed_audit_verifies(org_world):
    w = org_world
    r = submit(w.rep1, referrer_of(w))
    svc.referral_audit(
        actor=w.dcrc, referral_id=r.pk, outcome="confirmed", note="想看SUV", version=1, now=NOW
    )
    r.refresh_from_db()
    assert (r.stage, r.verified_at, r.audited_at, r.audited_by_id) == ("verified", NOW, NOW, w.dcrc.pk)
    assert (r.audit_outcome, r.audit_note, r.audit_attempts, r.version) == ("confirmed", "想看SUV", 1, 2)
    e = r.events.order_by("id").last()
    assert (e.action, e.from_stage, e.to_stage, e.note) == ("audit", "submitted", "verified", "想看SUV")


def test_no_answer_keeps_it_submitted_and_counts_attempts(org_world):
    w = org_world
    r = submit(w.rep1, referrer_of(w))
    svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="no_answer", now=NOW)
    svc.referral_audit(actor=w.manager1, referral_id=r.pk, outcome="no_answer", now=NOW)
    r.refresh_from_db()
    assert (r.stage, r.audit_attempts, r.verified_at, r.events.count()) == ("submitted", 2, None, 3)


def test_not_interested_is_lost(org_world):
    w = org_world
    r = submit(w.rep1, referrer_of(w))
    svc.referral_audit(actor=w.owner, referral_id=r.pk, outcome="not_interested", note="刚买了车", now=NOW)
    r.refresh_from_db()
    assert (r.stage, r.closed_at, r.lost_reason, r.faked) == ("lost", NOW, "刚买了车", False)


def test_fake_is_rejected_and_faked(org_world):
    w = org_world
    r = submit(w.rep1, referrer_of(w))
    svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="fake", now=NOW)
    r.refresh_from_db()
    assert (r.stage, r.faked, r.closed_at, r.counts) == ("rejected", True, NOW, False)


def test_audit_refusals_change_nothing(org_world):
    w = org_world
    r = submit(w.rep1, referrer_of(w))
    before = snapshot(r)
    with pytest.raises(PermissionDenied):
        svc.referral_audit(actor=w.aftersales, referral_id=r.pk, outcome="confirmed")
    with pytest.raises(PermissionDenied, match="rep who works"):
        svc.referral_audit(actor=w.rep1, referral_id=r.pk, outcome="confirmed")
    with pytest.raises(NotFound):
        svc.referral_audit(actor=w.other_owner, referral_id=r.pk, outcome="confirmed")
    with pytest.raises(NotFound):
        svc.referral_audit(actor=w.rep2, referral_id=r.pk, outcome="confirmed")
    with pytest.raises(ValidationFailed):
        svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="maybe")
    with pytest.raises(Conflict):
        svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="confirmed", version=7)
    assert snapshot(r) == before


def test_a_manager_cannot_audit_a_lead_they_work_themselves(org_world):
    w = org_world
    r = submit(w.manager1, referrer_of(w, rep=w.manager1))
    with pytest.raises(PermissionDenied):
        svc.referral_audit(actor=w.manager1, referral_id=r.pk, outcome="confirmed")
    assert snapshot(r)[0] == "submitted"


def test_only_a_submitted_referral_is_audited(org_world):
    w = org_world
    r = submit(w.rep1, referrer_of(w))
    svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="confirmed", now=NOW)
    before = snapshot(r)
    with pytest.raises(Conflict):
        svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="fake")
    assert snapshot(r) == before


def test_a_flagged_referral_is_audited_but_counts_after_approval(org_world):
    w = org_world
    r = submit(w.rep1, referrer_of(w, phone="+8613800001111"), phone="13800001111")
    svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="confirmed", now=NOW)
    r.refresh_from_db()
    assert (r.stage, r.review, r.counts) == ("verified", "pending", False)
    svc.referral_review(actor=w.manager1, referral_id=r.pk, decision="approve", now=NOW)
    r.refresh_from_db()
    assert (r.review, r.counts) == ("approved", True)


# --- advance ----------------------------------------------------------------------------------


def test_verified_contacted_quoted(org_world):
    w = org_world
    r = lead(w, stage="verified")
    svc.referral_advance(actor=w.rep1, referral_id=r.pk, to="contacted", now=NOW)
    later = NOW + dt.timedelta(days=2)
    svc.referral_advance(actor=w.manager1, referral_id=r.pk, to="quoted", note="试驾", version=2, now=later)
    r.refresh_from_db()
    assert (r.stage, r.contacted_at, r.quoted_at, r.version) == ("quoted", NOW, later, 3)
    assert list(r.events.values_list("action", "from_stage", "to_stage")) == [
        ("contact", "verified", "contacted"),
        ("quote", "contacted", "quoted"),
    ]


def test_quoted_straight_from_verified(org_world):
    w = org_world
    r = lead(w, stage="verified")
    svc.referral_advance(actor=w.owner, referral_id=r.pk, to="quoted", now=NOW)
    r.refresh_from_db()
    assert (r.stage, r.contacted_at, r.quoted_at) == ("quoted", None, NOW)


@pytest.mark.parametrize(
    ("stage", "to"),
    [
        ("submitted", "contacted"),
        ("submitted", "quoted"),
        ("contacted", "contacted"),
        ("quoted", "contacted"),
        ("quoted", "quoted"),
        ("won", "quoted"),
        ("lost", "contacted"),
        ("rejected", "contacted"),
    ],
)
def test_advance_refused_from_the_wrong_stage(org_world, stage, to):
    w = org_world
    r = lead(w, stage=stage)
    before = snapshot(r)
    with pytest.raises(Conflict):
        svc.referral_advance(actor=w.rep1, referral_id=r.pk, to=to, now=NOW)
    assert snapshot(r) == before


def test_submitted_lead_says_the_audit_comes_first(org_world):
    w = org_world
    r = lead(w)
    with pytest.raises(Conflict, match="audit comes first"):
        svc.referral_advance(actor=w.rep1, referral_id=r.pk, to="contacted")


def test_advance_refusals_by_role_and_scope(org_world):
    w = org_world
    r = lead(w, stage="verified")
    before = snapshot(r)
    for actor in (w.dcrc, w.aftersales):
        with pytest.raises(PermissionDenied):
            svc.referral_advance(actor=actor, referral_id=r.pk, to="contacted")
    for actor in (w.rep2, w.rep3, w.other_owner, w.manager2):
        with pytest.raises(NotFound):
            svc.referral_advance(actor=actor, referral_id=r.pk, to="contacted")
    with pytest.raises(ValidationFailed):
        svc.referral_advance(actor=w.rep1, referral_id=r.pk, to="won")
    assert snapshot(r) == before


def test_a_rep_who_owns_the_referrer_but_does_not_work_the_lead_cannot_reach_it(org_world):
    w = org_world
    r = lead(w, stage="verified", rep=w.rep1)
    Referral.objects.filter(pk=r.pk).update(rep=w.rep2)  # the lead was handed to rep2
    before = snapshot(r)
    # A rep's pipeline is the leads credited to them (the referral's own ``rep``).
    with pytest.raises(NotFound):
        svc.referral_advance(actor=w.rep1, referral_id=r.pk, to="contacted")
    assert snapshot(r) == before
    svc.referral_advance(actor=w.rep2, referral_id=r.pk, to="contacted", now=NOW)
    assert snapshot(r)[0] == "contacted"


# --- convert and win --------------------------------------------------------------------------


def test_convert_creates_the_referred_customer(org_world):
    w = org_world
    r = lead(w, stage="contacted", name="韩梅梅", phone="+8613900000077", city="佛山")
    customer = svc.referral_convert(actor=w.rep1, referral_id=r.pk, now=NOW)
    r.refresh_from_db()
    assert r.customer_id == customer.pk
    assert (customer.name, customer.phone, customer.city, customer.source, customer.status) == (
        "韩梅梅",
        "+8613900000077",
        "佛山",
        "referral",
        "prospect",
    )
    assert (customer.referred_by_id, customer.owner_id, customer.store_id) == (
        r.referrer_id,
        w.rep1.pk,
        w.s1.pk,
    )
    assert svc.referral_convert(actor=w.manager1, referral_id=r.pk).pk == customer.pk
    assert Customer.objects.filter(phone="+8613900000077").count() == 1
    assert r.events.filter(action="convert").count() == 1


def test_convert_by_a_manager_keeps_the_lead_rep_as_owner(org_world):
    w = org_world
    r = lead(w, stage="verified")
    customer = svc.referral_convert(actor=w.manager1, referral_id=r.pk, now=NOW)
    assert customer.owner_id == w.rep1.pk


def test_convert_refused_before_the_audit_and_after_closing(org_world):
    w = org_world
    for stage in ("submitted", "lost", "rejected"):
        r = lead(w, stage=stage)
        with pytest.raises(Conflict):
            svc.referral_convert(actor=w.rep1, referral_id=r.pk)
        r.refresh_from_db()
        assert r.customer_id is None
    with pytest.raises(PermissionDenied):
        svc.referral_convert(actor=w.dcrc, referral_id=lead(w, stage="verified").pk)


def _converted(w, stage="quoted"):
    r = lead(w, stage=stage)
    customer = svc.referral_convert(actor=w.rep1, referral_id=r.pk, now=NOW)
    sale = PurchaseFactory(customer=customer, ordered_on=dt.date(2026, 3, 12), kind="first")
    r.refresh_from_db()
    return r, customer, sale


def test_win_links_the_purchase(org_world):
    w = org_world
    r, _customer, sale = _converted(w)
    won_at = NOW + dt.timedelta(days=2)
    svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk, version=r.version, now=won_at)
    r.refresh_from_db()
    assert (r.stage, r.won_purchase_id, r.closed_at) == ("won", sale.pk, won_at)
    e = r.events.order_by("id").last()
    assert (e.action, e.from_stage, e.to_stage, e.actor_id) == ("win", "quoted", "won", w.rep1.pk)


@pytest.mark.parametrize("stage", ["verified", "contacted"])
def test_win_from_every_working_stage(org_world, stage):
    w = org_world
    r, _customer, sale = _converted(w, stage=stage)
    svc.referral_win(actor=w.owner, referral_id=r.pk, purchase_id=sale.pk, now=NOW)
    assert snapshot(r)[0] == "won"


def test_win_creates_the_rewards(org_world):
    w = org_world
    r, customer, sale = _converted(w)
    svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk, now=NOW)
    assert sorted(Reward.objects.filter(referral=r).values_list("beneficiary", "customer_id")) == sorted(
        [("referrer", r.referrer_id), ("referred", customer.pk)]
    )


def test_win_refusals_change_nothing(org_world):
    w = org_world
    r, customer, sale = _converted(w)
    before = snapshot(r)
    workshop = PurchaseFactory(customer=customer, kind="service", amount=Decimal("500"))
    stranger = PurchaseFactory(customer=CustomerFactory(owner=w.rep1, organisation=w.org))
    theirs = PurchaseFactory(customer=CustomerFactory(owner=w.other_owner))
    cases = [
        (w.rep1, workshop.pk, ValidationFailed),
        (w.rep1, stranger.pk, ValidationFailed),
        (w.rep1, theirs.pk, ValidationFailed),
        (w.rep1, 999999, ValidationFailed),
        (w.dcrc, sale.pk, PermissionDenied),
        (w.rep2, sale.pk, NotFound),
    ]
    for actor, purchase_id, error in cases:
        with pytest.raises(error):
            svc.referral_win(actor=actor, referral_id=r.pk, purchase_id=purchase_id, now=NOW)
    with pytest.raises(Conflict):
        svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk, version=1, now=NOW)
    assert snapshot(r) == before
    assert not Reward.objects.exists()


def test_win_needs_the_customer_record(org_world):
    w = org_world
    r = lead(w, stage="quoted")
    sale = PurchaseFactory(customer=CustomerFactory(owner=w.rep1, organisation=w.org))
    with pytest.raises(ValidationFailed) as exc:
        svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk)
    assert exc.value.errors == {
        "purchase_id": ["Convert the lead to a customer first, then choose the purchase."]
    }


@pytest.mark.parametrize("stage", ["submitted", "won", "lost", "rejected"])
def test_win_refused_outside_the_working_stages(org_world, stage):
    w = org_world
    r, _customer, sale = _converted(w)
    Referral.objects.filter(pk=r.pk).update(stage=stage)
    before = snapshot(r)
    with pytest.raises(Conflict):
        svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk)
    assert snapshot(r) == before


def test_win_refused_while_waiting_for_review(org_world):
    w = org_world
    r, _customer, sale = _converted(w)
    Referral.objects.filter(pk=r.pk).update(review="pending", flags=["monthly_cap"])
    with pytest.raises(Conflict, match="review"):
        svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk)
    assert snapshot(r)[0] == "quoted"


def test_a_duplicate_cannot_win_while_the_first_claim_is_open(org_world):
    w = org_world
    set_policy(w.org, flag_duplicate=False)
    first = lead(w, stage="verified", phone="+8613900000055")
    r, _customer, sale = _converted(w)
    Referral.objects.filter(pk=r.pk).update(duplicate_of=first)
    with pytest.raises(Conflict, match="first valid referral wins"):
        svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk)
    Referral.objects.filter(pk=first.pk).update(stage="lost")
    svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk, now=NOW)
    assert snapshot(r)[0] == "won"


# --- matching purchases -----------------------------------------------------------------------


def test_match_wins_with_the_first_sale_after_submission_and_only_once(org_world):
    w = org_world
    r, customer, sale = _converted(w, stage="contacted")  # submitted 2026-03-07, sale 2026-03-12
    PurchaseFactory(customer=customer, ordered_on=dt.date(2026, 3, 1))  # before the referral
    PurchaseFactory(customer=customer, ordered_on=dt.date(2026, 3, 8), kind="service")
    later = PurchaseFactory(customer=customer, ordered_on=dt.date(2026, 3, 20))
    assert svc.referrals_match_purchases(organisation=w.org, since=dt.date(2026, 1, 1), now=NOW) == 1
    r.refresh_from_db()
    assert (r.stage, r.won_purchase_id, r.closed_at) == ("won", sale.pk, NOW)
    assert r.events.filter(action="win", actor__isnull=True).count() == 1
    assert svc.referrals_match_purchases(organisation=w.org, since=dt.date(2026, 1, 1), now=NOW) == 0
    assert later.pk != sale.pk
    assert Reward.objects.filter(referral=r).count() == 2


def test_match_leaves_unverified_flagged_and_closed_leads(org_world):
    w = org_world
    leads = []
    for stage, review in (("submitted", ""), ("verified", "pending"), ("lost", ""), ("rejected", "")):
        r = lead(w, stage="verified")
        customer = svc.referral_convert(actor=w.rep1, referral_id=r.pk, now=NOW)
        PurchaseFactory(customer=customer, ordered_on=dt.date(2026, 3, 12))
        Referral.objects.filter(pk=r.pk).update(stage=stage, review=review)
        leads.append((r, stage))
    other_org = lead(w, stage="verified")
    assert svc.referrals_match_purchases(organisation=w.other_org, since=dt.date(2026, 1, 1), now=NOW) == 0
    assert svc.referrals_match_purchases(organisation=w.org, since=dt.date(2026, 1, 1), now=NOW) == 0
    assert [Referral.objects.get(pk=r.pk).stage for r, _ in leads] == [s for _, s in leads]
    assert snapshot(other_org)[0] == "verified"


def test_match_for_every_organisation(org_world):
    w = org_world
    r, _customer, _sale = _converted(w)
    assert svc.referrals_match_purchases_all(since=dt.date(2026, 1, 1), now=NOW) == 1
    assert snapshot(r)[0] == "won"


def test_match_ignores_sales_before_since(org_world):
    w = org_world
    r, _customer, _sale = _converted(w)
    assert svc.referrals_match_purchases(organisation=w.org, since=dt.date(2026, 3, 13), now=NOW) == 0
    assert snapshot(r)[0] == "quoted"


# --- lose -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["submitted", "verified", "contacted", "quoted"])
def test_lose_from_every_open_stage(org_world, stage):
    w = org_world
    r = lead(w, stage=stage)
    svc.referral_lose(actor=w.rep1, referral_id=r.pk, reason="买了别家", now=NOW)
    r.refresh_from_db()
    assert (r.stage, r.closed_at, r.lost_reason) == ("lost", NOW, "买了别家")
    e = r.events.get()
    assert (e.action, e.from_stage, e.to_stage, e.note) == ("lose", stage, "lost", "买了别家")


def test_lose_refusals(org_world):
    w = org_world
    r = lead(w, stage="verified")
    before = snapshot(r)
    with pytest.raises(ValidationFailed):
        svc.referral_lose(actor=w.rep1, referral_id=r.pk, reason="  ")
    with pytest.raises(PermissionDenied):
        svc.referral_lose(actor=w.dcrc, referral_id=r.pk, reason="x")
    with pytest.raises(NotFound):
        svc.referral_lose(actor=w.rep3, referral_id=r.pk, reason="x")
    assert snapshot(r) == before
    for stage in ("lost", "rejected"):
        closed = lead(w, stage=stage)
        with pytest.raises(Conflict):
            svc.referral_lose(actor=w.rep1, referral_id=closed.pk, reason="x")


def test_undo_a_win_while_the_rewards_are_held(org_world):
    w = org_world
    set_policy(w.org, reward_hold_days=7)
    r, _customer, sale = _converted(w)
    svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk, now=NOW)
    svc.referral_lose(actor=w.manager1, referral_id=r.pk, reason="退车", now=NOW + dt.timedelta(days=2))
    r.refresh_from_db()
    assert (r.stage, r.won_purchase_id, r.lost_reason) == ("lost", None, "退车")
    assert set(Reward.objects.filter(referral=r).values_list("status", flat=True)) == {"cancelled"}
    assert r.events.order_by("id").last().note == f"退车 (purchase #{sale.pk} undone)"


def test_a_win_whose_reward_was_issued_cannot_be_undone(org_world):
    w = org_world
    set_policy(w.org, reward_hold_days=0)
    r, customer, _ = _converted(w)
    sale = PurchaseFactory(customer=customer, ordered_on=dt.date(2026, 3, 9))
    svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk, now=NOW)
    assert set(Reward.objects.filter(referral=r).values_list("status", flat=True)) == {"issued"}
    before = snapshot(r)
    with pytest.raises(Conflict, match="refund window"):
        svc.referral_lose(actor=w.rep1, referral_id=r.pk, reason="退车", now=NOW)
    assert snapshot(r) == before


# --- review -----------------------------------------------------------------------------------


def _flagged(w, **kw):
    return submit(w.rep1, referrer_of(w, phone="+8613800001111"), phone="13800001111", **kw)


def test_approve_clears_the_hold(org_world):
    w = org_world
    r = _flagged(w)
    svc.referral_review(actor=w.owner, referral_id=r.pk, decision="approve", note="亲属共用号码", now=NOW)
    r.refresh_from_db()
    assert (r.review, r.reviewed_at, r.reviewed_by_id, r.review_note, r.stage) == (
        "approved",
        NOW,
        w.owner.pk,
        "亲属共用号码",
        "submitted",
    )
    assert r.events.order_by("id").last().action == "approve"


def test_reject_closes_and_marks_a_self_referral_faked(org_world):
    w = org_world
    r = _flagged(w)
    svc.referral_review(actor=w.manager1, referral_id=r.pk, decision="reject", now=NOW)
    r.refresh_from_db()
    assert (r.stage, r.review, r.faked, r.closed_at) == ("rejected", "rejected", True, NOW)


def test_reject_marks_faked_only_when_ticked_for_other_flags(org_world):
    w = org_world
    set_policy(w.org, monthly_cap=1)
    ref = referrer_of(w)
    submit(w.rep1, ref, phone="13900000001")
    a = submit(w.rep1, ref, phone="13900000002")
    b = submit(w.rep1, ref, phone="13900000003")
    svc.referral_review(actor=w.manager1, referral_id=a.pk, decision="reject", now=NOW)
    svc.referral_review(actor=w.manager1, referral_id=b.pk, decision="reject", faked=True, now=NOW)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.stage, a.faked, b.stage, b.faked) == ("rejected", False, "rejected", True)


def test_a_duplicate_of_an_open_claim_cannot_be_approved(org_world):
    w = org_world
    first = submit(w.rep1, referrer_of(w), now=NOW - dt.timedelta(days=1))
    dup = submit(w.rep1, referrer_of(w))
    before = snapshot(dup)
    with pytest.raises(ValidationFailed) as exc:
        svc.referral_review(actor=w.manager1, referral_id=dup.pk, decision="approve")
    assert exc.value.errors == {"decision": [svc.FIRST_WINS]}
    assert snapshot(dup) == before
    assert first.pk == dup.duplicate_of_id


def test_a_duplicate_takes_over_when_the_first_claim_is_rejected(org_world):
    w = org_world
    first = submit(w.rep1, referrer_of(w), now=NOW - dt.timedelta(days=1))
    dup = submit(w.rep1, referrer_of(w))
    svc.referral_audit(actor=w.dcrc, referral_id=first.pk, outcome="fake", now=NOW)
    svc.referral_review(actor=w.manager1, referral_id=dup.pk, decision="approve", now=NOW)
    dup.refresh_from_db()
    assert (dup.review, dup.duplicate_of_id) == ("approved", None)
    third = submit(w.rep1, referrer_of(w))
    assert third.duplicate_of_id == dup.pk


def test_a_duplicate_cannot_take_over_a_claim_someone_else_took_first(org_world):
    w = org_world
    first = submit(w.rep1, referrer_of(w), now=NOW - dt.timedelta(days=2))
    dup = submit(w.rep1, referrer_of(w), now=NOW - dt.timedelta(days=1))
    svc.referral_audit(actor=w.dcrc, referral_id=first.pk, outcome="fake", now=NOW)
    third = submit(w.rep1, referrer_of(w))
    assert (third.duplicate_of_id, third.flags) == (None, [])
    before = snapshot(dup)
    with pytest.raises(ValidationFailed):
        svc.referral_review(actor=w.manager1, referral_id=dup.pk, decision="approve", now=NOW)
    assert snapshot(dup) == before
    dup.refresh_from_db()
    assert dup.duplicate_of_id == first.pk


def test_a_duplicate_of_a_lost_claim_can_be_approved(org_world):
    w = org_world
    first = submit(w.rep1, referrer_of(w), now=NOW - dt.timedelta(days=1))
    dup = submit(w.rep1, referrer_of(w))
    svc.referral_audit(actor=w.dcrc, referral_id=first.pk, outcome="not_interested", now=NOW)
    svc.referral_review(actor=w.owner, referral_id=dup.pk, decision="approve", now=NOW)
    dup.refresh_from_db()
    assert (dup.review, dup.duplicate_of_id) == ("approved", first.pk)


def test_review_refusals(org_world):
    w = org_world
    r = _flagged(w)
    before = snapshot(r)
    for actor in (w.rep1, w.dcrc, w.aftersales):
        with pytest.raises(PermissionDenied):
            svc.referral_review(actor=actor, referral_id=r.pk, decision="approve")
    for actor in (w.manager2, w.other_owner):
        with pytest.raises(NotFound):
            svc.referral_review(actor=actor, referral_id=r.pk, decision="approve")
    with pytest.raises(ValidationFailed):
        svc.referral_review(actor=w.owner, referral_id=r.pk, decision="maybe")
    assert snapshot(r) == before
    clean = submit(w.rep1, referrer_of(w), phone="13900000088")
    with pytest.raises(Conflict):
        svc.referral_review(actor=w.owner, referral_id=clean.pk, decision="approve")


def test_explanations_in_words(org_world):
    w = org_world
    set_policy(w.org, monthly_cap=1)
    known = CustomerFactory(owner=w.rep3, organisation=w.org, phone="+8613600003333")
    first = submit(w.rep1, referrer_of(w), phone="13600003333", now=NOW - dt.timedelta(days=1))
    ref = referrer_of(w)
    submit(w.rep1, ref, phone="13900000001")
    r = submit(w.rep1, ref, phone="13600003333")
    r = Referral.objects.select_related("duplicate_of").get(pk=r.pk)
    with translation.override("en"):
        explained = fraud.explain(r, policy=w.org.policy.referrals)
    assert explained == [
        f"Already referred on 2026-03-09 (referral #{first.pk}, Submitted); the first valid referral wins.",
        f"Already in the customer archive (customer #{known.pk}).",
        "The referrer had already reached the monthly cap of 1 referrals.",
    ]


def test_event_log_has_one_row_per_change(org_world):
    w = org_world
    r, _customer, sale = _converted(w, stage="verified")
    svc.referral_advance(actor=w.rep1, referral_id=r.pk, to="contacted", now=NOW)
    svc.referral_win(actor=w.rep1, referral_id=r.pk, purchase_id=sale.pk, now=NOW)
    assert list(ReferralEvent.objects.filter(referral=r).order_by("id").values_list("action", flat=True)) == [
        "convert",
        "contact",
        "win",
    ]


def test_user_who_left_sees_nothing(org_world):
    w = org_world
    r = lead(w, stage="verified")
    gone = UserFactory(role="owner", organisation=w.org, left_at=NOW)
    with pytest.raises(NotFound):
        svc.referral_advance(actor=gone, referral_id=r.pk, to="contacted")
    assert Purchase.objects.count() == 0


# --- stage counts -----------------------------------------------------------------------------


def _scope_counts(viewer) -> dict[str, int]:
    """What the list shows per stage: the viewer's scope counted plainly, one query per stage."""
    from huitou.referrals.selectors import referral_queryset

    qs = referral_queryset(viewer)
    return {code: qs.filter(stage=code).count() for code in Stage.values}


def test_a_managers_stage_counts_add_the_team_and_the_store_without_counting_twice(org_world):
    from django.core.cache import cache

    w = org_world
    # rep1's leads in their own store (team and store: must count once), rep2's lead taken in the
    # other store (team only), rep3's in manager1's store (store only), rep3's in their own
    # store (neither) and rep1's with no store on the row (team only).
    lead(w, stage="submitted")
    lead(w, stage="submitted")
    lead(w, stage="verified", rep=w.rep2, store=w.s2)
    lead(w, stage="verified", rep=w.rep3, store=w.s1)
    lead(w, stage="won", rep=w.rep3)
    lead(w, stage="lost", store=None)
    cache.clear()
    counts = svc.referral_stage_counts(w.manager1, svc.LeadFilters())
    assert counts == _scope_counts(w.manager1)
    assert (counts["submitted"], counts["verified"], counts["won"], counts["lost"]) == (2, 2, 0, 1)

    # Without the store, the team's leads alone.
    data = dict(w.org.policy_data or {})
    data["people"] = {**data.get("people", {}), "manager_sees_whole_store": False}
    w.org.policy_data = data
    w.org.save(update_fields=["policy_data"])
    manager = type(w.manager1).objects.get(pk=w.manager1.pk)
    cache.clear()
    counts = svc.referral_stage_counts(manager, svc.LeadFilters())
    assert counts == _scope_counts(manager)
    assert (counts["submitted"], counts["verified"], counts["lost"]) == (2, 1, 1)


def test_stage_counts_stop_one_past_the_cap_across_the_parts_of_a_scope(org_world, monkeypatch):
    from django.core.cache import cache

    w = org_world
    monkeypatch.setattr(svc, "COUNT_CAP", 2)
    for _ in range(2):
        lead(w, stage="submitted")  # the store's part: 2
        lead(w, stage="submitted", rep=w.rep2, store=w.s2)  # the team's part: 2
    cache.clear()
    assert svc.referral_stage_counts(w.manager1, svc.LeadFilters())["submitted"] == 3  # shown "2+"
    assert _scope_counts(w.manager1)["submitted"] == 4
