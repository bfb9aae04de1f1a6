"""Plan compliance: each task in exactly one column, local dates, one query, and who sees whose row."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from huitou.core.errors import ValidationFailed
from huitou.followups import compliance
from huitou.followups.models import Task
from tests.factories import CustomerFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
TODAY = dt.date(2026, 11, 20)
NOV = {"start": dt.date(2026, 11, 1), "end": dt.date(2026, 11, 30), "today": TODAY}


def local(y, m, d, hh, mm) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture
def tasks(org_world):
    """rep1: one of each column (two missed), a cancelled one and one outside the period;
    rep3: one on time; rep2: one on time, covering for rep1's customer."""
    w = org_world
    c1 = CustomerFactory(owner=w.rep1)
    c3 = CustomerFactory(owner=w.rep3)
    done = Task.Status.DONE
    w.t = {
        # 23:30 in Shanghai is still the due day (15:30 UTC): on time.
        "on_time": TaskFactory(
            customer=c1, due_on=dt.date(2026, 11, 10), status=done, completed_at=local(2026, 11, 10, 23, 30)
        ),
        # 00:30 the next day in Shanghai is 16:30 UTC on the due day: late all the same.
        "late": TaskFactory(
            customer=c1, due_on=dt.date(2026, 11, 10), status=done, completed_at=local(2026, 11, 11, 0, 30)
        ),
        "marked_missed": TaskFactory(customer=c1, due_on=dt.date(2026, 11, 12), status=Task.Status.MISSED),
        # Open 19 days past due (> 14): missed.
        "open_long": TaskFactory(customer=c1, due_on=dt.date(2026, 11, 1)),
        # Open exactly 14 days past due: still only overdue.
        "open_14": TaskFactory(customer=c1, due_on=dt.date(2026, 11, 6)),
        "upcoming": TaskFactory(customer=c1, due_on=TODAY),
        "cancelled": TaskFactory(customer=c1, due_on=dt.date(2026, 11, 15), status=Task.Status.CANCELLED),
        "december": TaskFactory(customer=c1, due_on=dt.date(2026, 12, 1)),
        "rep3": TaskFactory(
            customer=c3, due_on=dt.date(2026, 11, 3), status=done, completed_at=local(2026, 11, 2, 10, 0)
        ),
        "rep2_covering": TaskFactory(
            customer=c1,
            assignee=w.rep2,
            due_on=dt.date(2026, 11, 4),
            status=done,
            completed_at=local(2026, 11, 4, 10, 0),
        ),
    }
    return w


def table(rows):
    return {r.username: (r.on_time, r.late, r.missed, r.open_overdue, r.open_upcoming) for r in rows}


def test_each_task_counts_in_one_column(tasks):
    rows = compliance.plan_compliance(tasks.owner, **NOV)
    assert table(rows) == {
        "rep1": (1, 1, 2, 1, 1),
        "rep2": (1, 0, 0, 0, 0),
        "rep3": (1, 0, 0, 0, 0),
    }
    rep1 = rows[0]
    assert (rep1.total, rep1.due) == (6, 5)
    assert rep1.on_time_rate == pytest.approx(0.2)


def test_missed_after_days_follows_the_policy(tasks):
    org = tasks.org
    org.policy_data = {"contact": {"missed_after_days": 30}}
    org.save()
    tasks.owner.refresh_from_db()
    rows = compliance.plan_compliance(tasks.owner, **NOV)
    assert table(rows)["rep1"] == (1, 1, 1, 2, 1)


def test_two_queries_whatever_the_number_of_people(tasks, django_assert_num_queries):
    viewer = tasks.manager1
    assert viewer.organisation is not None  # loaded with the user, as on a page
    with django_assert_num_queries(2):  # the counts per assignee, then their names
        rows = compliance.plan_compliance(viewer, **NOV)
    assert len(rows) == 2


def test_manager_sees_their_team_and_store(tasks):
    assert table(compliance.plan_compliance(tasks.manager1, **NOV)) == {
        "rep1": (1, 1, 2, 1, 1),
        "rep2": (1, 0, 0, 0, 0),
    }
    assert table(compliance.plan_compliance(tasks.manager2, **NOV)) == {"rep3": (1, 0, 0, 0, 0)}


def test_manager_without_whole_store_sees_only_their_teams(tasks):
    w = tasks
    # rep4 works in manager1's store but in manager2's team.
    rep4 = UserFactory(username="rep4", role="rep", organisation=w.org, store=w.s1, team=w.t2)
    TaskFactory(customer=CustomerFactory(owner=rep4), due_on=dt.date(2026, 11, 5))
    assert "rep4" in table(compliance.plan_compliance(w.manager1, **NOV))
    w.org.policy_data = {"people": {"manager_sees_whole_store": False}}
    w.org.save()
    w.manager1.refresh_from_db()
    assert list(table(compliance.plan_compliance(w.manager1, **NOV))) == ["rep1", "rep2"]


def test_rep_sees_only_themselves_including_tasks_they_cover(tasks):
    assert table(compliance.plan_compliance(tasks.rep1, **NOV)) == {"rep1": (1, 1, 2, 1, 1)}
    # rep2 does not own rep1's customer, but the task was theirs to do.
    assert table(compliance.plan_compliance(tasks.rep2, **NOV)) == {"rep2": (1, 0, 0, 0, 0)}
    assert table(compliance.plan_compliance(tasks.other_owner, **NOV)) == {}


def test_store_and_team_filters(tasks):
    w = tasks
    assert list(table(compliance.plan_compliance(w.owner, store_id=w.s2.pk, **NOV))) == ["rep3"]
    assert list(table(compliance.plan_compliance(w.owner, team_id=w.t1.pk, **NOV))) == ["rep1", "rep2"]


def test_period_checks(tasks):
    with pytest.raises(ValidationFailed) as exc:
        compliance.plan_compliance(tasks.owner, start=dt.date(2026, 11, 2), end=dt.date(2026, 11, 1))
    assert exc.value.errors == {"end": ["must not be before the start"]}
    with pytest.raises(ValidationFailed) as exc:
        compliance.plan_compliance(tasks.owner, start=dt.date(2025, 1, 1), end=dt.date(2026, 11, 1))
    assert exc.value.errors == {"end": ["a period covers at most 400 days"]}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("on_time", ["on_time"]),
        ("late", ["late"]),
        ("missed", ["open_long", "marked_missed"]),
        ("open_overdue", ["open_14"]),
        ("open_upcoming", ["upcoming"]),
        ("", ["open_long", "open_14", "on_time", "late", "marked_missed", "upcoming"]),
    ],
)
def test_tasks_behind_each_number(tasks, state, expected):
    qs = compliance.compliance_tasks(tasks.manager1, assignee_id=tasks.rep1.pk, state=state, **NOV)
    assert list(qs.values_list("pk", flat=True)) == [tasks.t[k].pk for k in expected]


def test_tasks_behind_a_number_respect_scope(tasks):
    assert not compliance.compliance_tasks(tasks.manager2, assignee_id=tasks.rep1.pk, **NOV).exists()
    assert not compliance.compliance_tasks(tasks.rep2, assignee_id=tasks.rep1.pk, **NOV).exists()


def test_default_period_is_the_whole_month():
    assert compliance.this_month(dt.date(2026, 2, 10)) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert compliance.this_month(dt.date(2026, 12, 31)) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))


@pytest.mark.parametrize("who", ["owner", "manager1", "rep1"])
def test_compliance_reads_the_tasks_own_columns(tasks, who):
    """Counted by the task's organisation and assignee: the statement never joins the customers
    (at 1M customers that join was most of the owner's 1.2 s)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    viewer = getattr(tasks, who)
    with CaptureQueriesContext(connection) as ctx:
        rows = compliance.plan_compliance(viewer, **NOV)
    assert rows  # every one of them has a row to see
    assert all("customers_customer" not in q["sql"] for q in ctx.captured_queries)


def test_the_compliance_tasks_of_the_owner_leave_out_unassigned_ones(tasks):
    tasks.t["upcoming"].assignee = None
    tasks.t["upcoming"].save()
    listed = set(compliance.compliance_tasks(tasks.owner, **NOV).values_list("pk", flat=True))
    assert tasks.t["upcoming"].pk not in listed
    assert tasks.t["on_time"].pk in listed and tasks.t["cancelled"].pk not in listed
