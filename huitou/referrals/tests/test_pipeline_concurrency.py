"""First valid referral wins under concurrency (PostgreSQL: real concurrent transactions)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from huitou.referrals import fraud
from huitou.referrals import services as svc
from huitou.referrals.models import Referral
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs concurrent transactions (PostgreSQL)"
    ),
]


def test_two_referrers_submit_the_same_person_at_once(org_world, monkeypatch):
    w = org_world
    referrers = [
        CustomerFactory(owner=w.rep1, organisation=w.org, store=w.s1),
        CustomerFactory(owner=w.rep3, organisation=w.org, store=w.s2),
    ]
    actors = [w.rep1, w.rep3]
    # Both check for a live claim before either inserts: the race the constraint must settle.
    barrier = threading.Barrier(2, timeout=10)
    seen = threading.local()
    real = fraud.live_claim_id
    calls = []

    def racing(**kw):
        calls.append(threading.get_ident())
        if not getattr(seen, "waited", False):
            seen.waited = True
            result = real(**kw)
            barrier.wait()
            return result
        return real(**kw)

    monkeypatch.setattr(fraud, "live_claim_id", racing)
    results, errors = [], []

    def submit(i):
        try:
            results.append(
                svc.referral_submit(
                    actor=actors[i],
                    referrer=referrers[i],
                    name="同一个人",
                    phone="13912345678",
                    relation="friend",
                    channel="delivery",
                ).pk
            )
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(calls) == 3  # both checks saw no claim; the loser re-read the winner after its insert failed
    assert len(results) == 2
    live = list(Referral.objects.filter(phone="+8613912345678", duplicate_of__isnull=True))
    dups = list(Referral.objects.filter(phone="+8613912345678", duplicate_of__isnull=False))
    assert len(live) == 1 and len(dups) == 1
    assert dups[0].duplicate_of_id == live[0].pk
    assert (dups[0].flags, dups[0].review, live[0].flags, live[0].review) == (
        ["duplicate"],
        "pending",
        [],
        "",
    )
