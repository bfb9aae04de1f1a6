"""The maintenance fill state: built once, caught up from what changed, never trusted blindly."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from huitou.customers.models import OwnedProduct, Purchase
from huitou.followups import plan_state
from huitou.followups.models import Channel, Message, Purpose, ServiceDue, ServiceDueFill, Trigger
from huitou.followups.plan import plan_candidates, plan_run
from tests.factories import ContactRuleFactory, CustomerFactory, OwnedProductFactory, PurchaseFactory

D = dt.date(2026, 3, 10)
DELIVERED = dt.date(2024, 1, 5)
DEFAULT_DAYS = 125  # 5,000 km at the default 40 km a day, before six months


@pytest.fixture
def w(org_world):
    return org_world


def maintenance_rule(w, **params):
    return ContactRuleFactory(
        organisation=w.org,
        trigger=Trigger.MAINTENANCE,
        offset_days=0,
        channel=Channel.SMS,
        purpose=Purpose.SERVICE,
        params={"km": 5000, "months": 6, **params},
    )


def car(w, visit_on=None, **kw):
    c = CustomerFactory(owner=w.rep1)
    owned = OwnedProductFactory(customer=c, delivered_on=DELIVERED, **kw)
    if visit_on:
        PurchaseFactory(customer=c, kind=Purchase.Kind.SERVICE, ordered_on=visit_on)
    return owned


def due(w, r, day):
    return sorted(occ for _cid, occ in plan_candidates(organisation=w.org, rule=r, day=day))


def occ(owned, day):
    return f"owned:{owned.pk}:{day.isoformat()}"


LATER = timezone.now() + dt.timedelta(days=10)


def as_of_later(r):
    """Everything written so far counts as read: only rows touched at ``LATER`` are changes."""
    ServiceDueFill.objects.filter(rule=r).update(since=LATER)


def touch(model, **filters):
    model.objects.filter(**filters).update(updated_at=LATER)


def test_state_is_built_then_caught_up_from_cars_visits_and_customers_changed_since(w):
    r = maintenance_rule(w)
    a = car(w, visit_on=D - dt.timedelta(days=DEFAULT_DAYS))  # due today
    c = car(w, visit_on=D - dt.timedelta(days=7))  # due in 118 days at the default pace

    assert due(w, r, D) == [occ(a, D)]
    fill = ServiceDueFill.objects.get(rule=r)
    assert fill.day == D and fill.params == {"km": 5000, "months": 6, "default_km_per_day": 40.0}
    assert set(ServiceDue.objects.filter(rule=r).values_list("car_id", "due_on")) == {
        (a.pk, D),
        (c.pk, D + dt.timedelta(days=118)),
    }

    # Written after the state was built:
    as_of_later(r)
    # a new car, due tomorrow;
    b = car(w, visit_on=D + dt.timedelta(days=1 - DEFAULT_DAYS))
    touch(OwnedProduct, pk=b.pk)
    # a mileage reading: 500 km a day, so C is due 10 days after its visit instead of 125;
    OwnedProduct.objects.filter(pk=c.pk).update(
        mileage_km=50000, mileage_on=DELIVERED + dt.timedelta(days=100), updated_at=LATER
    )
    # A came back today: next one interval later.
    PurchaseFactory(customer=a.customer, kind=Purchase.Kind.SERVICE, ordered_on=D)
    touch(Purchase, customer=a.customer, ordered_on=D)

    as_of_later(r)
    assert due(w, r, D + dt.timedelta(days=1)) == [occ(b, D + dt.timedelta(days=1))]
    as_of_later(r)
    assert due(w, r, D + dt.timedelta(days=2)) == []
    as_of_later(r)
    assert due(w, r, D + dt.timedelta(days=3)) == [occ(c, D + dt.timedelta(days=3))]
    assert ServiceDue.objects.filter(rule=r, car_id=a.pk).get().due_on == D + dt.timedelta(days=DEFAULT_DAYS)


def test_a_later_visit_the_state_missed_is_seen_on_the_day_and_the_row_moves(w):
    r = maintenance_rule(w)
    a = car(w, visit_on=D + dt.timedelta(days=2 - DEFAULT_DAYS))
    assert due(w, r, D) == []
    as_of_later(r)
    # Recorded without touching updated_at (as QuerySet.update does): the state does not see it...
    Purchase.objects.bulk_create(
        [
            Purchase(
                organisation=w.org,
                customer=a.customer,
                kind=Purchase.Kind.SERVICE,
                ordered_on=D + dt.timedelta(days=1),
                amount=100,
            )
        ]
    )
    Purchase.objects.filter(customer=a.customer).update(updated_at=timezone.now() - dt.timedelta(days=30))
    as_of_later(r)
    # ...but the day's cars are computed again from the live data: no reminder, the row moves on.
    assert due(w, r, D + dt.timedelta(days=2)) == []
    assert ServiceDue.objects.get(rule=r, car_id=a.pk).due_on == D + dt.timedelta(days=1 + DEFAULT_DAYS)


def test_a_change_that_makes_a_reminder_earlier_unseen_is_repaired_by_a_rebuild(w):
    r = maintenance_rule(w)
    c = car(w, visit_on=D - dt.timedelta(days=7))
    assert due(w, r, D) == []
    as_of_later(r)
    reading = {"mileage_km": 50000, "mileage_on": DELIVERED + dt.timedelta(days=100)}
    OwnedProduct.objects.filter(pk=c.pk).update(**reading)  # updated_at left alone
    as_of_later(r)
    assert due(w, r, D + dt.timedelta(days=3)) == []  # the documented blind spot
    plan_state.service_due_rebuild(rule=r)
    assert due(w, r, D + dt.timedelta(days=3)) == [occ(c, D + dt.timedelta(days=3))]


def test_an_earlier_day_or_new_parameters_rebuild_the_state(w):
    r = maintenance_rule(w)
    a = car(w, visit_on=D - dt.timedelta(days=DEFAULT_DAYS))
    assert due(w, r, D + dt.timedelta(days=5)) == []
    assert due(w, r, D) == [occ(a, D)]  # planned after a later day: rebuilt for this one
    r.params = {"km": 10000, "months": 12}
    r.save()
    assert due(w, r, D) == []
    assert due(w, r, D + dt.timedelta(days=DEFAULT_DAYS)) == [occ(a, D + dt.timedelta(days=DEFAULT_DAYS))]
    assert ServiceDueFill.objects.get(rule=r).params["km"] == 10000


def test_the_day_s_cars_stay_in_the_state_so_a_second_run_plans_them_again(w):
    r = maintenance_rule(w)
    a = car(w, visit_on=D - dt.timedelta(days=DEFAULT_DAYS))
    now = dt.datetime.combine(D, dt.time(0, 30), tzinfo=timezone.get_default_timezone())
    assert plan_run(organisation=w.org, day=D, now=now).messages_queued == 1
    Message.objects.all().delete()  # as if the run had crashed before its rows were written
    as_of_later(r)  # and nothing changed since
    assert plan_run(organisation=w.org, day=D, now=now).messages_queued == 1
    assert list(Message.objects.values_list("occurrence", flat=True)) == [occ(a, D)]
    # The next day the car is looked at once more and leaves the state.
    assert due(w, r, D + dt.timedelta(days=1)) == []
    assert not ServiceDue.objects.filter(rule=r, car_id=a.pk).exists()


def test_an_unseen_change_is_repaired_by_the_weekly_rebuild_without_being_asked(w):
    r = maintenance_rule(w)
    rebuild_day = D + dt.timedelta(days=plan_state.REBUILD_DAYS)
    # 500 km a day: the next 5,000 km fall due ten days after the visit, on the rebuild day.
    c = car(w, visit_on=rebuild_day - dt.timedelta(days=10))
    assert due(w, r, D) == []
    reading = {"mileage_km": 50000, "mileage_on": DELIVERED + dt.timedelta(days=100)}
    OwnedProduct.objects.filter(pk=c.pk).update(**reading)  # updated_at left alone
    as_of_later(r)
    assert due(w, r, rebuild_day - dt.timedelta(days=1)) == []
    as_of_later(r)

    assert due(w, r, rebuild_day) == [occ(c, rebuild_day)]
