"""Routing of plan tasks to people, escalation of overdue tasks and marking missed ones."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from huitou.accounts.models import User
from huitou.followups.models import Absence, Task
from huitou.followups.routing import (
    Router,
    escalation_cutoff,
    task_assignee,
    tasks_escalate,
    tasks_mark_missed,
)
from tests.factories import CustomerFactory, TaskFactory, UserFactory

D = dt.date(2026, 3, 10)  # Tuesday


@pytest.fixture
def w(org_world):
    return org_world


def route(w, kind, customer, day=D):
    router = Router(organisation=w.org, start=day)
    return router.assignee(
        kind=kind, owner_id=customer.owner_id, store_id=customer.store_id, customer_id=customer.pk, day=day
    )


def leave(user):
    User.objects.filter(pk=user.pk).update(left_at=timezone.now())


def test_owner_manager_dcrc_aftersales(w):
    c = CustomerFactory(owner=w.rep1)
    assert route(w, "owner", c) == w.rep1.pk
    assert route(w, "manager", c) == w.manager1.pk
    assert route(w, "dcrc", c) == w.dcrc.pk
    assert route(w, "aftersales", c) == w.aftersales.pk
    c3 = CustomerFactory(owner=w.rep3)
    assert route(w, "manager", c3) == w.manager2.pk
    # Store s2 has no DCRC or after-sales user: the organisation's are used.
    assert route(w, "dcrc", c3) == w.dcrc.pk
    assert route(w, "aftersales", c3) == w.aftersales.pk


def test_pool_choice_is_deterministic_and_spread(w):
    dcrc2 = UserFactory(username="dcrc2", role="dcrc", organisation=w.org, store=w.s1)
    customers = [CustomerFactory(owner=w.rep1) for _ in range(4)]
    pool = sorted([w.dcrc.pk, dcrc2.pk])
    for c in customers:
        assert route(w, "dcrc", c) == pool[c.pk % 2]
        assert route(w, "dcrc", c) == route(w, "dcrc", c)


def test_no_owner_goes_to_the_store_manager(w):
    c = CustomerFactory(owner=w.rep3)
    c.owner = None
    c.save()
    assert route(w, "owner", c) == w.manager2.pk


def test_rep_who_left_goes_to_team_manager_then_store_manager_then_owner(w):
    c = CustomerFactory(owner=w.rep1)
    leave(w.rep1)
    assert route(w, "owner", c) == w.manager1.pk
    # No team: a manager of the rep's store.
    User.objects.filter(pk=w.rep1.pk).update(team=None)
    assert route(w, "owner", c) == w.manager1.pk
    # The store manager left too: the organisation owner.
    leave(w.manager1)
    assert route(w, "owner", c) == w.owner.pk
    assert route(w, "manager", c) == w.owner.pk


def test_inactive_account_counts_as_left(w):
    c = CustomerFactory(owner=w.rep3)
    User.objects.filter(pk=w.rep3.pk).update(is_active=False)
    assert route(w, "owner", c) == w.manager2.pk


def test_absent_rep_goes_to_delegate_else_team_manager(w):
    c = CustomerFactory(owner=w.rep1)
    Absence.objects.create(
        organisation=w.org, user=w.rep1, starts_on=D, ends_on=D + dt.timedelta(days=2), delegate=w.rep2
    )
    assert route(w, "owner", c) == w.rep2.pk
    assert route(w, "owner", c, day=D - dt.timedelta(days=1)) == w.rep1.pk
    assert route(w, "owner", c, day=D + dt.timedelta(days=3)) == w.rep1.pk
    # The delegate is away too: the team manager.
    Absence.objects.create(organisation=w.org, user=w.rep2, starts_on=D, ends_on=D, delegate=w.rep1)
    assert route(w, "owner", c) == w.manager1.pk
    # No delegate named: the team manager.
    c2 = CustomerFactory(owner=w.rep3)
    Absence.objects.create(organisation=w.org, user=w.rep3, starts_on=D, ends_on=D)
    assert route(w, "owner", c2) == w.manager2.pk


def test_absent_pool_member_is_skipped(w):
    dcrc2 = UserFactory(username="dcrc2", role="dcrc", organisation=w.org, store=w.s1)
    Absence.objects.create(organisation=w.org, user=w.dcrc, starts_on=D, ends_on=D)
    c = CustomerFactory(owner=w.rep1)
    assert route(w, "dcrc", c) == dcrc2.pk


def test_router_queries_once_not_per_task(w, django_assert_max_num_queries):
    customers = [CustomerFactory(owner=rep) for rep in (w.rep1, w.rep2, w.rep3) for _ in range(10)]
    Absence.objects.create(organisation=w.org, user=w.rep2, starts_on=D, ends_on=D, delegate=w.rep1)
    with django_assert_max_num_queries(3):
        router = Router(organisation=w.org, start=D)
        got = {
            router.assignee(kind=kind, owner_id=c.owner_id, store_id=c.store_id, customer_id=c.pk, day=D)
            for c in customers
            for kind in ("owner", "manager", "dcrc", "aftersales")
        }
    assert got == {w.rep1.pk, w.rep3.pk, w.manager1.pk, w.manager2.pk, w.dcrc.pk, w.aftersales.pk}


def test_task_assignee_one_off(w):
    c = CustomerFactory(owner=w.rep1)
    got = task_assignee(
        organisation=w.org, kind="manager", owner_id=c.owner_id, store_id=c.store_id, customer_id=c.pk, day=D
    )
    assert got == w.manager1.pk


# --- escalation ----------------------------------------------------------------------------------


def test_escalation_cutoff_counts_working_days():
    thursday = dt.date(2026, 3, 12)
    assert escalation_cutoff(thursday, 2) == dt.date(2026, 3, 10)  # Monday's task is 3 days overdue
    assert escalation_cutoff(thursday, 0) == thursday
    saturday = dt.date(2026, 3, 14)
    assert escalation_cutoff(saturday, 2) == dt.date(2026, 3, 11)
    # Around the National Day week: 1-7 October 2026 are holidays.
    assert escalation_cutoff(dt.date(2026, 10, 9), 2) == dt.date(2026, 9, 30)


def test_escalate_overdue_tasks_once_to_the_manager(w):
    thursday = dt.date(2026, 3, 12)
    monday, tuesday = dt.date(2026, 3, 9), dt.date(2026, 3, 10)
    late = TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=monday)
    late3 = TaskFactory(customer=CustomerFactory(owner=w.rep3), due_on=monday)
    recent = TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=tuesday)
    done = TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=monday, status=Task.Status.DONE)
    unassigned = TaskFactory(customer=CustomerFactory(owner=w.rep3), due_on=monday, assignee=None)
    by_manager = TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=monday, assignee=w.manager1)

    assert tasks_escalate(organisation=w.org, today=thursday) == 4
    got = {t.pk: (t.escalated_at is not None, t.escalated_to_id) for t in Task.objects.all()}
    assert got[late.pk] == (True, w.manager1.pk)
    assert got[late3.pk] == (True, w.manager2.pk)
    assert got[unassigned.pk] == (True, w.manager2.pk)
    assert got[by_manager.pk] == (True, w.owner.pk)
    assert got[recent.pk] == (False, None)
    assert got[done.pk] == (False, None)
    first_at = Task.objects.get(pk=late.pk).escalated_at
    assert Task.objects.get(pk=late.pk).version == 2

    assert tasks_escalate(organisation=w.org, today=thursday + dt.timedelta(days=1)) == 1  # Tuesday's now
    assert Task.objects.get(pk=late.pk).escalated_at == first_at
    assert Task.objects.get(pk=recent.pk).escalated_to_id == w.manager1.pk


def test_escalation_leaves_other_organisations_alone(w):
    other = TaskFactory(customer=CustomerFactory(owner=w.other_owner), due_on=dt.date(2026, 1, 5))
    assert tasks_escalate(organisation=w.org, today=D) == 0
    assert Task.objects.get(pk=other.pk).escalated_at is None


def test_mark_missed_after_the_policy_days(w):
    w.org.policy_data = {"contact": {"missed_after_days": 14}}
    w.org.save()
    old = TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=D - dt.timedelta(days=15))
    edge = TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=D - dt.timedelta(days=14))
    done = TaskFactory(
        customer=CustomerFactory(owner=w.rep1), due_on=D - dt.timedelta(days=30), status=Task.Status.DONE
    )
    assert tasks_mark_missed(organisation=w.org, today=D) == 1
    assert tasks_mark_missed(organisation=w.org, today=D) == 0
    status = dict(Task.objects.values_list("pk", "status"))
    assert status == {old.pk: "missed", edge.pk: "open", done.pk: "done"}
