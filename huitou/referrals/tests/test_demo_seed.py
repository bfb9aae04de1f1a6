"""The demo's referral history is a function of the archive and the seed."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest

from huitou.accounts.models import Organisation
from huitou.demo import DEMO_SLUG, demo_load
from huitou.referrals.demo import referral_demo
from huitou.referrals.models import Referral, ReferralEvent, Voucher

SIZE = 150
TODAY = dt.date(2026, 6, 1)

pytestmark = pytest.mark.django_db


def snapshot():
    referrals = list(
        Referral.objects.order_by("pk").values_list(
            "pk",
            "referrer_id",
            "name",
            "phone",
            "stage",
            "channel",
            "submitted_at",
            "closed_at",
            "review",
            "customer_id",
        )
    )
    vouchers = list(Voucher.objects.order_by("pk").values_list("code", "status", "value", "customer_id"))
    events = list(ReferralEvent.objects.order_by("pk").values_list("referral_id", "action", "at"))
    return referrals, vouchers, events


def test_same_archive_and_seed_give_the_same_referral_history():
    # Without the contact-plan demo, which moves recent delivery days after the referrals are made.
    with mock.patch("huitou.followups.demo.contact_plan_demo"):
        demo_load(customers=SIZE, seed=5, progress=False, today=TODAY)
    org = Organisation.objects.get(slug=DEMO_SLUG)
    first = snapshot()
    assert len(first[0]) > 50 and first[1]

    referral_demo(organisation=org, today=TODAY, seed=5)

    again = snapshot()
    # The same rows, numbered after the ones deleted.
    shift = again[0][0][0] - first[0][0][0]
    assert [(r[0] - shift, *r[1:]) for r in again[0]] == first[0]
    assert again[1] == first[1]
    assert [(e[0] - shift, *e[1:]) for e in again[2]] == first[2]


def test_another_seed_gives_another_history():
    with mock.patch("huitou.followups.demo.contact_plan_demo"):
        demo_load(customers=SIZE, seed=5, progress=False, today=TODAY)
    org = Organisation.objects.get(slug=DEMO_SLUG)
    first = snapshot()[0]
    referral_demo(organisation=org, today=TODAY, seed=6)
    assert [r[2:4] for r in snapshot()[0][:20]] != [r[2:4] for r in first[:20]]
