"""Two desks scan the same code at the same moment: exactly one redemption wins (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from huitou.referrals import vouchers as vs
from huitou.referrals.models import Voucher, VoucherEntry
from huitou.referrals.tests.factories import VoucherFactory
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real row locks (PostgreSQL)"),
]


def _race(actors, code, rounds=1):
    barrier = threading.Barrier(len(actors))
    results: list[object] = [None] * len(actors)

    def desk(i, actor):
        try:
            barrier.wait(timeout=10)
            results[i] = vs.voucher_redeem(actor=actor, code=code)
        except Exception as exc:  # the outcome is what the test compares
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=desk, args=(i, a)) for i, a in enumerate(actors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.parametrize("attempt", range(5))
def test_two_desks_redeem_the_same_code_exactly_once(org_world, attempt):
    voucher = VoucherFactory(customer=CustomerFactory(owner=org_world.rep1), code=vs.code_new())
    results = _race([org_world.dcrc, org_world.aftersales], voucher.code)
    wins = [r for r in results if isinstance(r, Voucher)]
    refused = [r for r in results if isinstance(r, vs.VoucherAlreadyRedeemed)]
    assert (len(wins), len(refused)) == (1, 1), results
    voucher.refresh_from_db()
    assert voucher.status == "redeemed"
    assert voucher.redeemed_by_id == wins[0].redeemed_by.pk
    assert VoucherEntry.objects.filter(voucher=voucher, action="redeem").count() == 1
    assert VoucherEntry.objects.filter(voucher=voucher, action="refused").count() == 1
    loser = refused[0]
    assert loser.voucher.redeemed_by_id == wins[0].redeemed_by.pk


def test_many_desks_one_winner(org_world):
    voucher = VoucherFactory(customer=CustomerFactory(owner=org_world.rep1), code=vs.code_new())
    actors = [org_world.dcrc, org_world.aftersales, org_world.manager1, org_world.owner]
    results = _race(actors, voucher.code)
    assert sum(isinstance(r, Voucher) for r in results) == 1, results
    assert sum(isinstance(r, vs.VoucherAlreadyRedeemed) for r in results) == 3, results
    assert VoucherEntry.objects.filter(voucher=voucher, action="redeem").count() == 1
    assert VoucherEntry.objects.filter(voucher=voucher, action="refused").count() == 3
