"""A rep covering an absent colleague works the tasks routed to them, and only those."""

from __future__ import annotations

import datetime as dt

import pytest

from huitou.core.errors import NotFound
from huitou.customers.models import Activity
from huitou.followups import selectors, services
from huitou.followups.models import Task
from tests.factories import CustomerFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_delegate_sees_and_completes_a_task_routed_to_them_but_not_the_colleagues_other_tasks(org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1)
    routed = TaskFactory(customer=customer, assignee=w.rep2, due_on=dt.date(2026, 11, 23))
    not_routed = TaskFactory(customer=customer, assignee=w.rep1, due_on=dt.date(2026, 11, 23))

    visible = set(selectors.task_queryset(w.rep2).values_list("pk", flat=True))
    done = services.task_complete(actor=w.rep2, task_id=routed.pk, outcome=Task.Outcome.REACHED)

    assert visible == {routed.pk}
    assert done.status == Task.Status.DONE
    assert Activity.objects.filter(customer=customer, user=w.rep2, kind=Activity.Kind.CALL).count() == 1
    with pytest.raises(NotFound):
        services.task_complete(actor=w.rep2, task_id=not_routed.pk, outcome=Task.Outcome.REACHED)
    not_routed.refresh_from_db()
    assert not_routed.status == Task.Status.OPEN


def test_another_organisations_user_never_reaches_the_task_even_if_assigned_by_mistake(org_world):
    w = org_world
    task = TaskFactory(customer=CustomerFactory(owner=w.rep1), assignee=w.other_owner)

    assert not selectors.task_queryset(w.other_owner).filter(pk=task.pk).exists()
