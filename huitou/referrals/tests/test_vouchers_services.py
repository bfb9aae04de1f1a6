"""Voucher services: codes, issue, redeem (and every refusal), void, expire."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import translation

from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.referrals import vouchers as vs
from huitou.referrals.models import Voucher, VoucherEntry
from huitou.referrals.tests.factories import ReferralFactory, VoucherFactory
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 6, 10, 10, 30, tzinfo=TZ)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def _english():
    """Messages are compared in English, whatever the catalogue holds."""
    translation.activate("en")


def outstanding(org_world, **kw):
    customer = kw.pop("customer", None) or CustomerFactory(owner=org_world.rep1)
    kw.setdefault("code", vs.code_new())
    kw.setdefault("issued_at", NOW - dt.timedelta(days=30))
    kw.setdefault("expires_on", TODAY + dt.timedelta(days=100))
    return VoucherFactory(customer=customer, **kw)


def entries(voucher) -> list[tuple[str, str]]:
    return list(voucher.entries.order_by("id").values_list("action", "note"))


def snapshot(voucher) -> tuple:
    voucher.refresh_from_db()
    return (
        voucher.status,
        voucher.redeemed_at,
        voucher.redeemed_by_id,
        voucher.closed_at,
        voucher.void_reason,
    )


# --- codes --------------------------------------------------------------------------------------


def test_new_codes_are_ten_unambiguous_characters_with_a_valid_check():
    codes = {vs.code_new() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert re.fullmatch(r"[2-9A-HJKMNP-Z]{10}", code)
        assert not set(code) & set("01OIL")
        assert vs.code_is_wellformed(code)


def test_check_character_catches_every_single_typo_and_every_swap():
    code = "ABCDEFGHJ"
    code += vs._check_char(code)
    assert vs.code_is_wellformed(code)
    for i in range(len(code)):
        for c in vs.ALPHABET:
            if c != code[i]:
                assert not vs.code_is_wellformed(code[:i] + c + code[i + 1 :]), (i, c)
    body = code[:-1]
    for i in range(len(body)):
        for j in range(i + 1, len(body)):
            if body[i] != body[j]:
                swapped = list(body)
                swapped[i], swapped[j] = swapped[j], swapped[i]
                assert not vs.code_is_wellformed("".join(swapped) + code[-1])


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("  abcde-fghjk ", "ABCDEFGHJK"),
        ("ABCDE FGHJK", "ABCDEFGHJK"),
        ("ＡＢＣＤＥ－ＦＧＨＪＫ", "ABCDEFGHJK"),  # full-width, from a Chinese IME
        ("voucher:abcdefghjk", "ABCDEFGHJK"),
        ("https://example.test/v/ABCDE-FGHJK/", "ABCDEFGHJK"),
        ("", ""),
    ],
)
def test_code_normalise(typed, expected):
    assert vs.code_normalise(typed) == expected


def test_code_display_groups_in_fives():
    assert vs.code_display("ABCDEFGHJK") == "ABCDE-FGHJK"


def test_qr_is_svg():
    v = Voucher(code="ABCDEFGHJK")
    svg = vs.voucher_qr_svg(v)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")


# --- issue --------------------------------------------------------------------------------------


def test_issue_credits_the_referral_store_and_rep_and_writes_the_ledger(org_world):
    referrer = CustomerFactory(owner=org_world.rep1)
    holder = CustomerFactory(owner=org_world.rep3)  # another store and rep
    referral = ReferralFactory(referrer=referrer, customer=holder)
    v = vs.voucher_issue(
        organisation=org_world.org,
        customer=holder,
        kind=Voucher.Kind.OFFER,
        value=Decimal("200"),
        referral=referral,
        actor=org_world.manager1,
        now=NOW,
    )
    v.refresh_from_db()
    assert (v.store_id, v.rep_id, v.customer_id, v.referral_id) == (
        org_world.s1.pk,
        org_world.rep1.pk,
        holder.pk,
        referral.pk,
    )
    assert (v.status, v.value, v.issued_at, v.expires_on) == (
        "issued",
        Decimal("200.00"),
        NOW,
        TODAY + dt.timedelta(days=365),
    )
    assert vs.code_is_wellformed(v.code)
    assert list(v.entries.values_list("action", "actor_id", "at")) == [("issue", org_world.manager1.pk, NOW)]


def test_issue_without_referral_credits_the_holder_store_and_rep(org_world):
    holder = CustomerFactory(owner=org_world.rep3)
    v = vs.voucher_issue(
        organisation=org_world.org,
        customer=holder,
        kind=Voucher.Kind.GIFT,
        value=Decimal("300"),
        valid_days=30,
        now=NOW,
    )
    assert (v.store_id, v.rep_id, v.expires_on) == (org_world.s2.pk, org_world.rep3.pk, dt.date(2025, 7, 10))


def test_issue_refuses_a_customer_of_another_organisation_and_unknown_kinds(org_world):
    theirs = CustomerFactory(owner=org_world.other_owner)
    mine = CustomerFactory(owner=org_world.rep1)
    with pytest.raises(ValidationFailed) as exc:
        vs.voucher_issue(organisation=org_world.org, customer=theirs, kind="gift_voucher", value=Decimal("1"))
    assert "customer" in exc.value.errors
    with pytest.raises(ValidationFailed) as exc:
        vs.voucher_issue(organisation=org_world.org, customer=mine, kind="cash", value=Decimal("1"))
    assert "kind" in exc.value.errors
    assert Voucher.objects.count() == 0


def test_issue_retries_a_code_already_taken(org_world, monkeypatch):
    taken = outstanding(org_world).code
    fresh = vs.code_new()
    codes = iter([taken, fresh])
    monkeypatch.setattr(vs, "code_new", lambda: next(codes))
    v = vs.voucher_issue(
        organisation=org_world.org,
        customer=CustomerFactory(owner=org_world.rep1),
        kind="gift_voucher",
        value=Decimal("300"),
        now=NOW,
    )
    assert v.code == fresh
    assert VoucherEntry.objects.filter(voucher=v).count() == 1


# --- redeem -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["dcrc", "aftersales", "manager1", "owner"])
def test_desk_roles_redeem_a_voucher_by_its_typed_code(org_world, role):
    v = outstanding(org_world)
    actor = getattr(org_world, role)
    typed = " " + vs.code_display(v.code).lower() + " "
    done = vs.voucher_redeem(actor=actor, code=typed, store=org_world.s2, now=NOW)
    v.refresh_from_db()
    assert done.pk == v.pk
    assert (v.status, v.redeemed_at, v.redeemed_by_id, v.redeemed_store_id) == (
        "redeemed",
        NOW,
        actor.pk,
        org_world.s2.pk,
    )
    assert list(v.entries.values_list("action", "actor_id", "store_id")) == [
        ("redeem", actor.pk, org_world.s2.pk)
    ]


def test_desk_store_defaults_to_the_actor_store(org_world):
    v = outstanding(org_world)
    vs.voucher_redeem(actor=org_world.aftersales, code=v.code, now=NOW)
    v.refresh_from_db()
    assert v.redeemed_store_id == org_world.s1.pk


def test_a_voucher_is_redeemable_on_its_last_day(org_world):
    v = outstanding(org_world, expires_on=TODAY)
    vs.voucher_redeem(actor=org_world.dcrc, code=v.code, now=NOW)
    v.refresh_from_db()
    assert v.status == "redeemed"


def test_second_redemption_is_refused_with_who_where_when(org_world):
    org_world.dcrc.display_name = "李客服"
    org_world.dcrc.save()
    v = outstanding(org_world)
    vs.voucher_redeem(actor=org_world.dcrc, code=v.code, store=org_world.s1, now=NOW)
    before = snapshot(v)
    with pytest.raises(vs.VoucherAlreadyRedeemed) as exc:
        vs.voucher_redeem(actor=org_world.aftersales, code=v.code, now=NOW + dt.timedelta(hours=1))
    assert snapshot(v) == before
    assert exc.value.describe() == "Already redeemed at 天河店 on 2025-06-10 10:30 by 李客服."
    assert entries(v) == [("redeem", ""), ("refused", "already redeemed")]
    refused = v.entries.get(action="refused")
    assert (refused.actor_id, refused.store_id) == (org_world.aftersales.pk, org_world.s1.pk)


def test_expired_voucher_is_refused_and_left_as_it_was(org_world):
    v = outstanding(org_world, expires_on=TODAY - dt.timedelta(days=1))
    before = snapshot(v)
    with pytest.raises(vs.VoucherExpired) as exc:
        vs.voucher_redeem(actor=org_world.dcrc, code=v.code, now=NOW)
    assert exc.value.describe() == "Expired on 2025-06-09."
    assert snapshot(v) == before
    assert entries(v) == [("refused", "expired")]


def test_voucher_marked_expired_is_refused(org_world):
    v = outstanding(org_world, status="expired", expires_on=TODAY - dt.timedelta(days=5))
    with pytest.raises(vs.VoucherExpired):
        vs.voucher_redeem(actor=org_world.dcrc, code=v.code, now=NOW)
    assert entries(v) == [("refused", "expired")]


def test_void_voucher_is_refused(org_world):
    v = outstanding(org_world, status="void", void_reason="refund", closed_at=NOW - dt.timedelta(days=2))
    before = snapshot(v)
    with pytest.raises(vs.VoucherVoid) as exc:
        vs.voucher_redeem(actor=org_world.dcrc, code=v.code, now=NOW)
    assert exc.value.describe() == "Voided on 2025-06-08: refund"
    assert snapshot(v) == before
    assert entries(v) == [("refused", "void")]


def test_mistyped_code_is_told_apart_from_an_unknown_one(org_world):
    v = outstanding(org_world)
    wrong = v.code[:3] + ("A" if v.code[3] != "A" else "B") + v.code[4:]
    with pytest.raises(ValidationFailed) as exc:
        vs.voucher_redeem(actor=org_world.dcrc, code=wrong, now=NOW)
    assert exc.value.errors == {"code": [vs.MISTYPED]}
    unknown = vs.code_new()
    with pytest.raises(NotFound):
        vs.voucher_redeem(actor=org_world.dcrc, code=unknown, now=NOW)
    with pytest.raises(ValidationFailed) as exc:
        vs.voucher_redeem(actor=org_world.dcrc, code="  - ", now=NOW)
    assert "code" in exc.value.errors
    assert snapshot(v)[0] == "issued"
    assert VoucherEntry.objects.count() == 0


def test_code_of_another_organisation_is_unknown(org_world):
    theirs = outstanding(org_world, customer=CustomerFactory(owner=org_world.other_owner))
    with pytest.raises(NotFound):
        vs.voucher_redeem(actor=org_world.owner, code=theirs.code, now=NOW)
    assert snapshot(theirs)[0] == "issued"
    assert VoucherEntry.objects.count() == 0


def test_imported_codes_without_check_character_are_still_found(org_world):
    v = outstanding(org_world, code="T000000042")
    vs.voucher_redeem(actor=org_world.dcrc, code="t000000042", now=NOW)
    assert snapshot(v)[0] == "redeemed"


@pytest.mark.parametrize("role", ["rep1", "rep3"])
def test_reps_cannot_redeem(org_world, role):
    v = outstanding(org_world)
    with pytest.raises(PermissionDenied):
        vs.voucher_redeem(actor=getattr(org_world, role), code=v.code, now=NOW)
    assert snapshot(v)[0] == "issued"
    assert VoucherEntry.objects.count() == 0


def test_people_who_left_cannot_redeem(org_world):
    org_world.dcrc.left_at = NOW
    org_world.dcrc.save()
    v = outstanding(org_world)
    with pytest.raises(PermissionDenied):
        vs.voucher_redeem(actor=org_world.dcrc, code=v.code, now=NOW)
    assert snapshot(v)[0] == "issued"


def test_desk_store_must_be_of_the_organisation(org_world):
    v = outstanding(org_world)
    with pytest.raises(ValidationFailed):
        vs.voucher_redeem(actor=org_world.dcrc, code=v.code, store=org_world.other_store, now=NOW)
    assert snapshot(v)[0] == "issued"


# --- void ---------------------------------------------------------------------------------------


def test_manager_voids_an_outstanding_voucher_with_a_reason(org_world):
    v = outstanding(org_world)
    vs.voucher_void(actor=org_world.manager1, voucher_id=v.pk, reason="  issued twice ", now=NOW)
    assert snapshot(v) == ("void", None, None, NOW, "issued twice")
    assert list(v.entries.values_list("action", "actor_id", "note")) == [
        ("void", org_world.manager1.pk, "issued twice")
    ]


def test_void_refusals_change_nothing(org_world):
    v = outstanding(org_world)  # holder owned by rep1 in store s1
    before = snapshot(v)
    with pytest.raises(PermissionDenied):
        vs.voucher_void(actor=org_world.rep1, voucher_id=v.pk, reason="x")
    with pytest.raises(PermissionDenied):
        vs.voucher_void(actor=org_world.dcrc, voucher_id=v.pk, reason="x")
    with pytest.raises(NotFound):
        vs.voucher_void(actor=org_world.manager2, voucher_id=v.pk, reason="x")  # other store and team
    with pytest.raises(NotFound):
        vs.voucher_void(actor=org_world.other_owner, voucher_id=v.pk, reason="x")
    with pytest.raises(ValidationFailed) as exc:
        vs.voucher_void(actor=org_world.owner, voucher_id=v.pk, reason="   ")
    assert "reason" in exc.value.errors
    assert snapshot(v) == before
    redeemed = outstanding(org_world, status="redeemed")
    with pytest.raises(ValidationFailed) as exc:
        vs.voucher_void(actor=org_world.owner, voucher_id=redeemed.pk, reason="late")
    assert "status" in exc.value.errors
    assert snapshot(redeemed)[0] == "redeemed"
    assert VoucherEntry.objects.count() == 0


# --- expire -------------------------------------------------------------------------------------


def test_expire_marks_vouchers_past_their_date_once(org_world):
    past = outstanding(org_world, expires_on=TODAY - dt.timedelta(days=1))
    long_past = outstanding(org_world, expires_on=TODAY - dt.timedelta(days=300))
    last_day = outstanding(org_world, expires_on=TODAY)
    redeemed = outstanding(org_world, status="redeemed", expires_on=TODAY - dt.timedelta(days=3))
    theirs = outstanding(
        org_world,
        customer=CustomerFactory(owner=org_world.other_owner),
        expires_on=TODAY - dt.timedelta(days=1),
    )
    assert vs.vouchers_expire(today=TODAY, now=NOW) == 3
    assert [snapshot(v)[0] for v in (past, long_past, last_day, redeemed, theirs)] == [
        "expired",
        "expired",
        "issued",
        "redeemed",
        "expired",
    ]
    assert snapshot(past)[3] == NOW
    assert entries(past) == [("expire", "")]
    assert vs.vouchers_expire(today=TODAY, now=NOW) == 0
    assert VoucherEntry.objects.filter(action="expire").count() == 3


def test_expire_works_in_chunks_with_few_queries(org_world, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(vs, "EXPIRE_CHUNK", 4)
    customer = CustomerFactory(owner=org_world.rep1)
    for _ in range(10):
        outstanding(org_world, customer=customer, expires_on=TODAY - dt.timedelta(days=2))
    # organisations, then per chunk: select, update, insert (+ savepoints); never per voucher
    with django_assert_max_num_queries(30):
        assert vs.vouchers_expire(today=TODAY, organisation=org_world.org, now=NOW) == 10
    assert Voucher.objects.filter(status="expired").count() == 10
    assert VoucherEntry.objects.filter(action="expire").count() == 10


# --- jobs ---------------------------------------------------------------------------------------


def test_periodic_jobs_run_at_local_times_and_call_the_services(org_world):
    from huitou.referrals import tasks

    assert (tasks._EXPIRE_H, tasks._EXPIRE_M) == (16, 30)  # 00:30 in Shanghai
    assert (tasks._RELEASE_H, tasks._RELEASE_M) == (22, 0)  # 06:00 in Shanghai
    outstanding(org_world, expires_on=dt.date(2000, 1, 1))
    assert tasks.vouchers_expire_nightly() == 1
    assert tasks.rewards_release_morning() == 0
