"""PIPL: a customer's export shows what the referral system holds on them; erasure blanks it."""

from __future__ import annotations

import pytest

from huitou.customers.privacy import customer_erase, customer_personal_data_export
from huitou.referrals.models import Referral
from huitou.referrals.tests.factories import ReferralFactory, VoucherFactory
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(org_world):
    referrer = CustomerFactory(owner=org_world.rep1, name="张建国")
    referred = CustomerFactory(owner=org_world.rep1, name="李娜", referred_by=referrer)
    lead = ReferralFactory(
        referrer=referrer, customer=referred, name="李娜", phone="+8613912345678", note="想换七座车"
    )
    VoucherFactory(customer=referrer, referral=lead, code="ABCDEFGHJK")
    return referrer, referred, lead


def test_the_referrer_export_lists_whom_they_referred_without_the_third_persons_phone(org_world, pair):
    referrer, _referred, _lead = pair
    data = customer_personal_data_export(actor=org_world.owner, customer_id=referrer.pk)
    assert [r["name"] for r in data["referrals_made"]] == ["李娜"]
    assert "phone" not in data["referrals_made"][0]
    assert [v["code"] for v in data["vouchers"]] == ["ABCDEFGHJK"]
    assert data["referred_as"] == []


def test_the_referred_persons_export_has_what_was_entered_about_them(org_world, pair):
    _referrer, referred, _lead = pair
    data = customer_personal_data_export(actor=org_world.owner, customer_id=referred.pk)
    assert [(r["phone"], r["note"]) for r in data["referred_as"]] == [("+8613912345678", "想换七座车")]


def test_erasure_blanks_the_lead_but_keeps_it_counted(org_world, pair):
    _referrer, referred, lead = pair
    customer_erase(actor=org_world.owner, customer_id=referred.pk, reason="本人电话要求 2026-11-20")
    row = Referral.objects.get(pk=lead.pk)
    assert (row.name, row.phone, row.note) == ("(erased)", f"erased:{lead.pk}", "")
    assert (row.stage, row.referrer_id) == (lead.stage, lead.referrer_id)
