"""A small hand-built data set whose every figure is worked out by hand in the tests.

Account A (a distributor's company account, rep1, store 天河): purchases over 2024–2026 with
payment terms, visits, a wallet estimate and a promotion. Account B (a person buying a car, rep2).
Account C (rep3, store 番禺) with one open purchase. Prospects D and E (rep1) for the funnel, and
referral leads. "Today" for the selector tests is 2026-03-15.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from huitou.customers.models import Activity, Customer, Purchase
from huitou.followups.models import Channel, Task
from huitou.referrals.models import Stage
from huitou.referrals.tests.factories import ReferralFactory
from huitou.reports.models import Promotion, PromotionPurchase, WalletEstimate
from tests.factories import CustomerFactory, PurchaseFactory, TaskFactory

SH = ZoneInfo("Asia/Shanghai")
TODAY = dt.date(2026, 3, 15)


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=SH)


def buy(
    customer,
    day,
    amount,
    *,
    kind=Purchase.Kind.EXPANSION,
    due=None,
    paid="0",
    paid_on=None,
    rep=None,
    store=None,
):
    return PurchaseFactory(
        customer=customer,
        organisation=customer.organisation,
        ordered_on=day,
        kind=kind,
        amount=Decimal(amount),
        payment_due_on=due,
        paid_amount=Decimal(paid),
        paid_on=paid_on,
        rep=rep or customer.owner,
        store=store or customer.store,
    )


def visit(customer, day):
    return Activity.objects.create(
        organisation=customer.organisation,
        customer=customer,
        kind=Activity.Kind.VISIT,
        occurred_at=at(day),
        user=customer.owner,
        subject="拜访",
    )


@pytest.fixture
def data(org_world):
    w = org_world
    a = CustomerFactory(owner=w.rep1, name="甲商贸公司", kind=Customer.Kind.COMPANY)
    b = CustomerFactory(owner=w.rep2, name="乙先生")
    c = CustomerFactory(owner=w.rep3, name="丙公司", kind=Customer.Kind.COMPANY)
    # 2024
    buy(
        a,
        dt.date(2024, 3, 10),
        "1000.00",
        kind=Purchase.Kind.FIRST,
        due=dt.date(2024, 4, 10),
        paid="1000",
        paid_on=dt.date(2024, 4, 20),
    )
    # 2025
    p2 = buy(
        a, dt.date(2025, 3, 5), "1500.00", due=dt.date(2025, 4, 4), paid="1500", paid_on=dt.date(2025, 4, 1)
    )
    buy(
        a,
        dt.date(2025, 3, 20),
        "500.00",
        kind=Purchase.Kind.SERVICE,
        paid="500",
        paid_on=dt.date(2025, 3, 20),
    )
    buy(a, dt.date(2025, 2, 10), "800.00", due=dt.date(2025, 3, 12), paid="800", paid_on=dt.date(2025, 5, 1))
    buy(a, dt.date(2025, 11, 1), "700.00", due=dt.date(2025, 12, 1))
    # 2026: open amounts
    buy(a, dt.date(2026, 1, 5), "3000.00", due=dt.date(2026, 2, 4), paid="1000", paid_on=dt.date(2026, 2, 1))
    buy(a, dt.date(2026, 3, 10), "400.00", due=dt.date(2026, 4, 9))
    buy(a, dt.date(2026, 3, 1), "250.00")
    buy(a, dt.date(2026, 1, 10), "100.00", due=dt.date(2026, 1, 10))
    buy(
        b,
        dt.date(2025, 6, 1),
        "200000.00",
        kind=Purchase.Kind.FIRST,
        paid="200000",
        paid_on=dt.date(2025, 6, 1),
    )
    buy(c, dt.date(2026, 3, 1), "5000.00", due=dt.date(2026, 3, 31))

    # Visits: two planned in March 2025 (one done), one cancelled in April; three logged.
    TaskFactory(
        customer=a,
        kind=Channel.VISIT,
        due_on=dt.date(2025, 3, 3),
        status=Task.Status.DONE,
        outcome=Task.Outcome.VISIT_DONE,
        completed_at=at(dt.date(2025, 3, 3)),
    )
    TaskFactory(customer=a, kind=Channel.VISIT, due_on=dt.date(2025, 3, 25), status=Task.Status.MISSED)
    TaskFactory(customer=a, kind=Channel.VISIT, due_on=dt.date(2025, 4, 10), status=Task.Status.CANCELLED)
    TaskFactory(customer=a, kind=Channel.CALL, due_on=dt.date(2025, 3, 12))
    visit(a, dt.date(2024, 6, 1))
    visit(a, dt.date(2025, 2, 15))
    visit(a, dt.date(2025, 3, 3))
    visit(a, dt.date(2025, 3, 28))
    Activity.objects.create(
        organisation=a.organisation,
        customer=a,
        kind=Activity.Kind.CALL,
        occurred_at=at(dt.date(2025, 3, 12)),
        subject="电话",
    )

    WalletEstimate.objects.create(
        organisation=w.org,
        customer=a,
        year=2025,
        amount=Decimal("14000.00"),
        estimated_on=dt.date(2025, 1, 5),
    )
    promo = Promotion.objects.create(
        organisation=w.org, name="春季促销", starts_on=dt.date(2025, 3, 1), ends_on=dt.date(2025, 3, 31)
    )
    PromotionPurchase.objects.create(organisation=w.org, promotion=promo, purchase=p2, customer=a)

    # Funnel: referral leads of 2025 (rep1 at 天河, rep3 at 番禺), prospects D and E, first purchases.
    ReferralFactory(
        referrer=b,
        rep=w.rep1,
        store=w.s1,
        submitted_at=at(dt.date(2025, 2, 10)),
        stage=Stage.WON,
        verified_at=at(dt.date(2025, 2, 11)),
        contacted_at=at(dt.date(2025, 2, 12)),
        quoted_at=at(dt.date(2025, 2, 20)),
    )
    ReferralFactory(
        referrer=b,
        rep=w.rep1,
        store=w.s1,
        submitted_at=at(dt.date(2025, 2, 20)),
        stage=Stage.CONTACTED,
        verified_at=at(dt.date(2025, 2, 21)),
        contacted_at=at(dt.date(2025, 2, 22)),
    )
    ReferralFactory(
        referrer=b, rep=w.rep1, store=w.s1, submitted_at=at(dt.date(2025, 3, 5)), stage=Stage.SUBMITTED
    )
    ReferralFactory(
        referrer=c,
        rep=w.rep3,
        store=w.s2,
        submitted_at=at(dt.date(2025, 3, 7)),
        stage=Stage.VERIFIED,
        verified_at=at(dt.date(2025, 3, 8)),
    )
    d = CustomerFactory(owner=w.rep1, name="丁女士", status=Customer.Status.PROSPECT)
    e = CustomerFactory(owner=w.rep1, name="戊先生")
    buy(
        e,
        dt.date(2025, 5, 10),
        "150000.00",
        kind=Purchase.Kind.FIRST,
        paid="150000",
        paid_on=dt.date(2025, 5, 10),
    )
    Customer.objects.filter(pk__in=[a.pk, b.pk, c.pk]).update(created_at=at(dt.date(2024, 12, 1)))
    Customer.objects.filter(pk=d.pk).update(created_at=at(dt.date(2025, 4, 2)))
    Customer.objects.filter(pk=e.pk).update(created_at=at(dt.date(2025, 4, 15)))
    return SimpleNamespace(w=w, a=a, b=b, c=c, d=d, e=e, promo=promo, p2=p2)
