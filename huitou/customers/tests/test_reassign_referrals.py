"""Reassigning customers moves their OPEN referrals to the new rep; closed ones keep their credit."""

from __future__ import annotations

import pytest

from huitou.core.errors import PermissionDenied
from huitou.customers import services
from huitou.referrals.models import Referral, Stage
from huitou.referrals.selectors import referral_queryset
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_open_referrals_follow_the_customer_closed_ones_keep_the_rep_who_earned_them(org_world):
    w = org_world
    c = CustomerFactory(owner=w.rep1, store=w.s1)
    open_ = {s: ReferralFactory(referrer=c, stage=s) for s in (Stage.SUBMITTED, Stage.VERIFIED, Stage.QUOTED)}
    closed = {s: ReferralFactory(referrer=c, stage=s) for s in (Stage.WON, Stage.LOST, Stage.REJECTED)}
    other = ReferralFactory(referrer=CustomerFactory(owner=w.rep1, store=w.s1))  # not reassigned

    moved = services.customers_reassign(
        actor=w.owner, from_user_id=w.rep1.pk, to_user_id=w.rep3.pk, customer_ids=[c.pk]
    )

    assert moved == 1
    rows = dict(Referral.objects.values_list("pk", "rep_id"))
    stores = dict(Referral.objects.values_list("pk", "store_id"))
    assert {rows[r.pk] for r in open_.values()} == {w.rep3.pk}
    assert {stores[r.pk] for r in open_.values()} == {w.s2.pk}  # the new rep's store
    assert {rows[r.pk] for r in closed.values()} == {w.rep1.pk}
    assert {stores[r.pk] for r in closed.values()} == {w.s1.pk}
    assert (rows[other.pk], stores[other.pk]) == (w.rep1.pk, w.s1.pk)
    # Each moved lead's version moved on (an open form on it must reload); the others did not.
    versions = dict(Referral.objects.values_list("pk", "version"))
    assert {versions[r.pk] for r in open_.values()} == {2}
    assert {versions[r.pk] for r in closed.values()} == {1}
    # Whom the pipeline shows: the new rep works the open leads, the old one keeps the closed.
    assert set(referral_queryset(w.rep3).values_list("pk", flat=True)) == {r.pk for r in open_.values()}
    assert set(referral_queryset(w.rep1).values_list("pk", flat=True)) == {
        *(r.pk for r in closed.values()),
        other.pk,
    }


def test_a_refused_reassignment_moves_no_referral(org_world):
    w = org_world
    c = CustomerFactory(owner=w.rep1, store=w.s1)
    r = ReferralFactory(referrer=c, stage=Stage.SUBMITTED)
    with pytest.raises(PermissionDenied):
        services.customers_reassign(actor=w.rep2, from_user_id=w.rep1.pk, to_user_id=w.rep2.pk)
    r.refresh_from_db()
    assert (r.rep_id, r.store_id, r.version) == (w.rep1.pk, w.s1.pk, 1)
