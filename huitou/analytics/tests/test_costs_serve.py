"""serve_costs: every component worked out by hand on a small data set (default policy prices:
call task 8, WeChat task 3, message task 2, visit 120, complaint 150, service request 60)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from huitou.analytics.costs import ServeCost, serve_costs
from huitou.customers.models import Activity
from huitou.feedback.models import Concession, Ticket
from huitou.followups.models import Task
from huitou.referrals.models import Voucher
from tests.factories import CustomerFactory, GiftFactory, PurchaseFactory, TaskFactory

SH = ZoneInfo("Asia/Shanghai")
JUNE = (dt.date(2026, 6, 1), dt.date(2026, 6, 30))


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SH)


def done_task(customer, when, kind="call", outcome="reached", gift=None):
    return TaskFactory(
        customer=customer, kind=kind, status=Task.Status.DONE, outcome=outcome, completed_at=when, gift=gift
    )


def activity(customer, kind, when):
    return Activity.objects.create(
        organisation=customer.organisation,
        customer=customer,
        kind=kind,
        occurred_at=when,
        subject="x",
        user=customer.owner,
    )


def ticket(customer, when, kind=Ticket.Kind.COMPLAINT):
    return Ticket.objects.create(
        organisation=customer.organisation,
        customer=customer,
        kind=kind,
        channel=Ticket.Channel.PHONE,
        summary="s",
        received_at=when,
        first_reply_due_at=when,
        resolve_due_at=when,
    )


def concession(t, value, status, *, offered_at=None, decided_at=None):
    return Concession.objects.create(
        ticket=t,
        kind=Concession.Kind.PRICE,
        value=Decimal(value),
        description="d",
        status=status,
        offered_at=offered_at,
        decided_at=decided_at,
    )


_codes = iter(range(1, 10_000))


def voucher(customer, value, status, redeemed_at=None):
    return Voucher.objects.create(
        organisation=customer.organisation,
        code=f"V{next(_codes):06d}",
        kind=Voucher.Kind.MAINTENANCE,
        value=Decimal(value),
        customer=customer,
        status=status,
        issued_at=at(1, 1),
        expires_on=dt.date(2027, 1, 1),
        redeemed_at=redeemed_at,
    )


@pytest.fixture
def cost_world(org_world):
    """A (rep1): tasks, a gift and visits; B (rep3): tickets, concessions and vouchers; C (rep1):
    a good buyer with one call; X: another organisation. Margins in June: A 100, B 2000, C 5000."""
    w = org_world
    a = CustomerFactory(owner=w.rep1, name="甲")
    b = CustomerFactory(owner=w.rep3, name="乙")
    c = CustomerFactory(owner=w.rep1, name="丙")
    x = CustomerFactory(owner=w.other_owner, name="X")
    gift = GiftFactory(organisation=w.org, value=Decimal("50"))

    done_task(a, at(6, 10))  # call: 8
    done_task(a, at(6, 11), outcome="gift_given", gift=gift)  # call 8 + gift 50
    done_task(a, at(6, 12), kind="visit", outcome="visit_done")  # priced as its visit below
    activity(a, Activity.Kind.VISIT, at(6, 12))
    done_task(a, at(6, 20), kind="wechat")  # 3
    done_task(a, at(6, 21), outcome="visit_done")  # a call that became a visit: priced as the visit
    activity(a, Activity.Kind.VISIT, at(6, 21))
    done_task(a, at(6, 30, 23, 59))  # last minute of the period: 8
    done_task(a, at(5, 31, 23, 30))  # May
    done_task(a, at(7, 1, 0, 0))  # July
    TaskFactory(customer=a, kind="call")  # open
    activity(a, Activity.Kind.CALL, at(6, 15))  # calls on the timeline cost nothing by themselves

    june_complaint = ticket(b, at(6, 5))  # 150
    ticket(b, at(6, 6), Ticket.Kind.REQUEST)  # 60
    may_complaint = ticket(b, at(5, 20))  # May
    concession(june_complaint, "300", Concession.Status.OFFERED, offered_at=at(6, 7))
    concession(june_complaint, "100", Concession.Status.APPROVED, decided_at=at(6, 8))
    concession(june_complaint, "500", Concession.Status.REJECTED, decided_at=at(6, 8))
    concession(june_complaint, "200", Concession.Status.PROPOSED)
    concession(june_complaint, "70", Concession.Status.OFFERED, offered_at=at(7, 2))
    concession(may_complaint, "40", Concession.Status.OFFERED, offered_at=at(6, 3))  # counted in June
    voucher(b, "300", Voucher.Status.REDEEMED, at(6, 9))
    voucher(b, "200", Voucher.Status.ISSUED)
    voucher(b, "80", Voucher.Status.REDEEMED, at(5, 30))

    done_task(c, at(6, 2))  # 8
    PurchaseFactory(customer=a, ordered_on=dt.date(2026, 6, 3), amount=Decimal("1000"), margin=Decimal("100"))
    PurchaseFactory(
        customer=b, ordered_on=dt.date(2026, 6, 4), amount=Decimal("9000"), margin=Decimal("2000")
    )
    PurchaseFactory(
        customer=c, ordered_on=dt.date(2026, 6, 5), amount=Decimal("30000"), margin=Decimal("5000")
    )
    PurchaseFactory(
        customer=c, ordered_on=dt.date(2026, 5, 5), amount=Decimal("30000"), margin=Decimal("9000")
    )

    done_task(x, at(6, 10))
    return SimpleNamespace(w=w, a=a, b=b, c=c, x=x)


def test_costs_per_customer_in_the_period(cost_world):
    cw = cost_world
    costs = serve_costs(cw.w.org, start=JUNE[0], end=JUNE[1])
    assert costs[cw.a.pk] == ServeCost(
        tasks=Decimal("27"), visits=Decimal("240"), gifts=Decimal("50"), total=Decimal("317")
    )
    assert costs[cw.b.pk] == ServeCost(
        tickets=Decimal("210"),
        concessions=Decimal("440"),
        vouchers=Decimal("300"),
        total=Decimal("950"),
    )
    assert costs[cw.c.pk].total == Decimal("8")
    assert set(costs) == {cw.a.pk, cw.b.pk, cw.c.pk}  # nothing of the other organisation
    assert all(isinstance(v, Decimal) for cost in costs.values() for v in cost)


def test_costs_by_month(cost_world):
    cw = cost_world
    costs = serve_costs(cw.w.org, start=dt.date(2026, 5, 1), end=JUNE[1], by_month=True)
    may, june = dt.date(2026, 5, 1), dt.date(2026, 6, 1)
    assert costs[(cw.a.pk, may)] == ServeCost(tasks=Decimal("8"), total=Decimal("8"))
    assert costs[(cw.a.pk, june)].total == Decimal("317")
    assert costs[(cw.b.pk, may)] == ServeCost(
        tickets=Decimal("150"), vouchers=Decimal("80"), total=Decimal("230")
    )
    assert costs[(cw.b.pk, june)].total == Decimal("950")
    assert set(costs) == {(cw.a.pk, may), (cw.a.pk, june), (cw.b.pk, may), (cw.b.pk, june), (cw.c.pk, june)}


def test_costs_limited_to_customer_ids(cost_world):
    cw = cost_world
    costs = serve_costs(cw.w.org, start=JUNE[0], end=JUNE[1], customer_ids=[cw.b.pk, cw.x.pk])
    assert list(costs) == [cw.b.pk]
    assert costs[cw.b.pk].total == Decimal("950")
    assert serve_costs(cw.w.org, start=JUNE[0], end=JUNE[1], customer_ids=[]) == {}


def test_costs_follow_the_policy_prices(cost_world):
    cw = cost_world
    org = cw.w.org
    data = org.policy.model_dump(mode="json")
    data["serve_costs"].update(task_call="10", visit="100", ticket_complaint="0", ticket_request="1")
    org.policy_data = data
    org.save()
    org.refresh_from_db()
    costs = serve_costs(org, start=JUNE[0], end=JUNE[1])
    assert costs[cw.a.pk].tasks == Decimal("33")  # 3 calls × 10 + WeChat 3
    assert costs[cw.a.pk].visits == Decimal("200")
    assert costs[cw.b.pk].tickets == Decimal("1")
