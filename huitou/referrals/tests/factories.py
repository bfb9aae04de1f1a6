"""Factories for the referral system's tests (the shared ones live in tests/factories.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from huitou.referrals import stats
from huitou.referrals.models import Referral, Voucher
from tests.factories import CustomerFactory


class ReferralFactory(DjangoModelFactory):
    class Meta:
        model = Referral
        skip_postgeneration_save = True

    referrer = factory.SubFactory(CustomerFactory)
    organisation = factory.SelfAttribute("referrer.organisation")
    name = factory.Sequence(lambda n: f"被推荐人{n}")
    phone = factory.Sequence(lambda n: f"+86139{n % 100000000:08d}")
    store = factory.SelfAttribute("referrer.store")
    rep = factory.SelfAttribute("referrer.owner")
    submitted_at = factory.LazyFunction(timezone.now)
    # What ``referral_submit`` stores: the sale it counts toward, and the referrer's summary.
    sale_day = factory.LazyAttribute(
        lambda o: stats.sale_day_of(referrer_id=o.referrer.pk, on=timezone.localtime(o.submitted_at).date())
    )

    @factory.post_generation
    def referrer_stats(obj, create, extracted, **kwargs):
        if create:
            stats.referrer_stats_refresh(organisation_id=obj.organisation_id, referrer_ids=[obj.referrer_id])


class VoucherFactory(DjangoModelFactory):
    class Meta:
        model = Voucher

    customer = factory.SubFactory(CustomerFactory)
    organisation = factory.SelfAttribute("customer.organisation")
    code = factory.Sequence(lambda n: f"T{n:09d}")
    kind = Voucher.Kind.MAINTENANCE
    value = Decimal("300")
    store = factory.SelfAttribute("customer.store")
    rep = factory.SelfAttribute("customer.owner")
    issued_at = factory.LazyFunction(timezone.now)
    expires_on = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=365))
