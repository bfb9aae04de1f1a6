"""Fill state of the maintenance reminders (STYLE habit 9): a nightly run resumes where it stopped.

A maintenance reminder is due one service interval after the customer's last workshop visit, and
finding "the last visit" of every customer means reading months of visits every day. Instead,
:class:`~huitou.followups.models.ServiceDue` keeps, per rule and car, the day the next reminder
falls due, and :class:`~huitou.followups.models.ServiceDueFill` how far it has read. Each run:

1. brings the state up to date (:func:`service_due_refresh`): built from scratch the first time,
   when the rule's parameters change or when a run plans a day earlier than the last one; else
   only the cars changed since the last refresh are computed again: cars added or edited (a
   mileage reading), cars of customers edited (a merge saves the customer kept) and cars of
   customers with workshop visits recorded or edited. "Since" goes back :data:`MARGIN` before the
   last refresh started, so rows committed late by a long transaction are read too;
2. takes the cars whose row is due on or before the target day and computes them again from the
   live data (``plan`` does that: the state only chooses which cars to look at), so a state that
   missed something that makes a reminder later (a visit dated after the day it was computed
   for, a merge) never sends a reminder the live data would not;
3. writes the cars looked at back (:func:`service_due_settle`): their due day when it is the
   target day or later (today's stay, so a second run of the day finds them again; the next day
   looks at them once more and drops them), no row at all when it has passed.

What the state cannot see is a change that makes a reminder EARLIER without touching
``updated_at``: a workshop visit deleted, or edited with ``QuerySet.update``. The next rebuild
repairs it: one happens at least every :data:`REBUILD_DAYS` days, on a change of the rule's
parameters, or after ``service_due_rebuild``.

The computation itself (one function of the cars and their last visits) lives in ``plan``, which
passes it in, so this module holds only the bookkeeping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from huitou.customers.models import Customer, OwnedProduct, Purchase

from .models import ContactRule, ServiceDue, ServiceDueFill

MARGIN = dt.timedelta(days=1)
REBUILD_DAYS = 7

# (car ids or None for every car of the organisation) -> (car id, due day) of those cars.
Compute = Callable[[Sequence[int] | None], Iterable[tuple[int, dt.date]]]
# Inserts (rule id, car id, due day) rows, ignoring conflicts.
Write = Callable[[Sequence[tuple[int, int, dt.date]]], None]


def _changed_cars(org_id: int, since: dt.datetime) -> list[int]:
    customers = set(
        Customer.objects.filter(organisation_id=org_id, updated_at__gte=since).values_list("id", flat=True)
    )
    customers.update(
        Purchase.objects.filter(
            organisation_id=org_id, kind=Purchase.Kind.SERVICE, updated_at__gte=since
        ).values_list("customer_id", flat=True)
    )
    cars = set(
        OwnedProduct.objects.filter(organisation_id=org_id, updated_at__gte=since).values_list(
            "id", flat=True
        )
    )
    ids = sorted(customers)
    for i in range(0, len(ids), 5000):
        cars.update(
            OwnedProduct.objects.filter(customer_id__in=ids[i : i + 5000]).values_list("id", flat=True)
        )
    return sorted(cars)


def service_due_refresh(
    *, rule: ContactRule, params: dict[str, Any], target: dt.date, compute: Compute, write: Write
) -> None:
    """Bring the rule's state up to date for the target day ``target`` (see the module docstring)."""
    with transaction.atomic():
        ServiceDueFill.objects.bulk_create([ServiceDueFill(rule=rule, params=params)], ignore_conflicts=True)
        fill = ServiceDueFill.objects.select_for_update().get(rule=rule)  # one refresh at a time
        started = timezone.now()
        rebuild = (
            fill.since is None
            or fill.params != params
            or fill.day is None
            or target < fill.day
            # What the incremental read cannot see (a deleted visit) is repaired within a week.
            or fill.built_on is None
            or (target - fill.built_on).days >= REBUILD_DAYS
        )
        if rebuild:
            ServiceDue.objects.filter(rule=rule).delete()
            cars: Sequence[int] | None = None
        else:
            assert fill.since is not None
            cars = _changed_cars(rule.organisation_id, fill.since - MARGIN)
            if cars:
                for i in range(0, len(cars), 5000):
                    ServiceDue.objects.filter(rule=rule, car_id__in=cars[i : i + 5000]).delete()
        if cars is None or cars:
            write([(rule.pk, car, due) for car, due in compute(cars) if due >= target])
        fill.params, fill.day, fill.since = params, target, started
        if rebuild:
            fill.built_on = target
        fill.save(update_fields=["params", "day", "since", "built_on"])


def service_due_cars(*, rule: ContactRule, target: dt.date) -> list[int]:
    """Cars whose reminder is due on or before ``target`` according to the state."""
    return list(
        ServiceDue.objects.filter(rule=rule, due_on__lte=target)
        .order_by("car_id")
        .values_list("car_id", flat=True)
    )


def service_due_settle(
    *, rule: ContactRule, target: dt.date, due: Iterable[tuple[int, dt.date]], write: Write
) -> None:
    """Write back the cars looked at for ``target``: the ones due that day or later keep a row
    with that day (so a second run of the day plans them again), the others (missed) have none."""
    later = [(rule.pk, car, day) for car, day in due if day >= target]
    with transaction.atomic():
        ServiceDueFill.objects.select_for_update().filter(rule=rule).first()  # one writer at a time
        ServiceDue.objects.filter(rule=rule, due_on__lte=target).delete()
        write(later)


def service_due_rebuild(*, rule: ContactRule) -> None:
    """Forget the rule's state: the next run builds it from scratch."""
    ServiceDueFill.objects.filter(rule=rule).update(since=None)
