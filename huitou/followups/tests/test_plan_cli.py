"""``huitou plan``, ``plan_catch_up`` and the morning job."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from huitou.cli import main
from huitou.followups.models import Channel, ContactRule, Message, PlanRun, Purpose, Task, Trigger
from huitou.followups.plan import plan_catch_up, plan_days_pending
from huitou.followups.tasks import plan_morning
from tests.factories import ContactRuleFactory, CustomerFactory, OwnedProductFactory, TaskFactory

D = dt.date(2026, 3, 10)


@pytest.fixture
def w(org_world):
    ContactRuleFactory(
        organisation=org_world.org, trigger=Trigger.DELIVERED, offset_days=0, channel=Channel.CALL
    )
    ContactRuleFactory(
        organisation=org_world.org,
        trigger=Trigger.DELIVERED,
        offset_days=0,
        channel=Channel.SMS,
        purpose=Purpose.MARKETING,
    )
    return org_world


def deliveries(w, *days):
    for day in days:
        OwnedProductFactory(customer=CustomerFactory(owner=w.rep1), delivered_on=day)


def done(w, day):
    PlanRun.objects.create(organisation=w.org, day=day, status="done", started_at=timezone.now())


def test_json_for_one_day(w, capsys):
    deliveries(w, D, D - dt.timedelta(days=1))
    assert main(["plan", "--org", "huanan", "--date", D.isoformat(), "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == {"tasks_created": 1, "messages_queued": 0, "skipped": {"no_consent": 1}}
    assert out.strip() == '{"tasks_created": 1, "messages_queued": 0, "skipped": {"no_consent": 1}}'


def test_range_sums_days_and_prints_a_summary(w, capsys):
    deliveries(w, D, D + dt.timedelta(days=1), D + dt.timedelta(days=5))
    code = main(["plan", "--date", D.isoformat(), "--through", (D + dt.timedelta(days=2)).isoformat()])
    assert code == 0
    out = capsys.readouterr().out
    assert (
        "planned 6 day(s) for 2 organisation(s): 2 tasks created, 0 messages queued; skipped: no_consent 2"
        in out
    )
    assert Task.objects.count() == 2
    assert set(PlanRun.objects.filter(organisation=w.org).values_list("day", flat=True)) == {
        D,
        D + dt.timedelta(days=1),
        D + dt.timedelta(days=2),
    }


def test_through_alone_catches_up_from_the_last_done_day(w, capsys):
    done(w, D - dt.timedelta(days=3))
    deliveries(w, D - dt.timedelta(days=3), D - dt.timedelta(days=2), D)
    assert main(["plan", "--org", "huanan", "--through", D.isoformat(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tasks_created"] == 2
    assert sorted(
        PlanRun.objects.filter(organisation=w.org, status="done").values_list("day", flat=True)
    ) == [D - dt.timedelta(days=k) for k in (3, 2, 1, 0)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "--date", "2026-13-01"], "--date must be a date as YYYY-MM-DD, got '2026-13-01'"),
        (["plan", "--through", "yesterday"], "--through must be a date as YYYY-MM-DD, got 'yesterday'"),
        (
            ["plan", "--date", "2026-03-10", "--through", "2026-03-09"],
            "--through 2026-03-09 is before --date 2026-03-10",
        ),
        (["plan", "--org", "nope"], "no organisation with slug 'nope'"),
    ],
)
def test_bad_arguments_exit_2_and_change_nothing(w, capsys, argv, message):
    deliveries(w, D)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not Task.objects.exists() and not PlanRun.objects.exists()


def test_catch_up_limits_to_catch_up_days_and_reports_the_rest(w):
    w.org.policy_data = {"contact": {"catch_up_days": 2}}
    w.org.save()
    done(w, D - dt.timedelta(days=6))
    deliveries(w, D - dt.timedelta(days=4), D - dt.timedelta(days=2), D)
    days, stale = plan_days_pending(organisation=w.org, through=D)
    assert days == [D - dt.timedelta(days=2), D - dt.timedelta(days=1), D]
    assert stale == [D - dt.timedelta(days=5), D - dt.timedelta(days=4), D - dt.timedelta(days=3)]
    result = plan_catch_up(organisation=w.org, through=D)
    assert result.tasks_created == 2 and result.days_run == days and result.days_skipped == stale
    assert plan_catch_up(organisation=w.org, through=D).days_run == []


def test_catch_up_of_a_new_organisation_runs_through_only_or_since(w):
    assert plan_days_pending(organisation=w.org, through=D) == ([D], [])
    assert plan_days_pending(organisation=w.org, through=D, since=D - dt.timedelta(days=1)) == (
        [D - dt.timedelta(days=1), D],
        [],
    )
    # A crashed (still running) day is run again.
    PlanRun.objects.create(
        organisation=w.org, day=D - dt.timedelta(days=1), status="running", started_at=timezone.now()
    )
    done(w, D - dt.timedelta(days=2))
    assert plan_days_pending(organisation=w.org, through=D)[0] == [D - dt.timedelta(days=1), D]


def test_morning_job_seeds_plans_escalates_and_marks_missed(org_world):
    w = org_world
    assert not ContactRule.objects.filter(organisation=w.other_org).exists()
    today = D
    c = CustomerFactory(owner=w.rep1)
    OwnedProductFactory(customer=c, delivered_on=today - dt.timedelta(days=3))  # seeded 3-day call
    overdue = TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=today - dt.timedelta(days=7))
    forgotten = TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=today - dt.timedelta(days=30))
    totals = plan_morning(today=today)
    assert ContactRule.objects.filter(organisation=w.other_org).exists()  # seeded
    assert Task.objects.filter(customer=c, rule__code="delivery-call-3d", due_on=today).exists()
    assert Task.objects.get(pk=overdue.pk).escalated_to_id == w.manager1.pk
    assert Task.objects.get(pk=forgotten.pk).status == "missed"
    assert totals["tasks_created"] >= 1 and totals["escalated"] >= 1 and totals["missed"] == 1
    again = plan_morning(today=today)
    assert (again["tasks_created"], again["messages_queued"], again["escalated"], again["missed"]) == (
        0,
        0,
        0,
        0,
    )
    assert Message.objects.filter(status="queued").count() == Message.objects.count()


def test_morning_task_is_a_periodic_huey_task():
    from huey.api import PeriodicTask

    from huitou.followups import tasks

    task = tasks.plan_morning_task.task_class()
    assert isinstance(task, PeriodicTask)
    # 05:30 in Asia/Shanghai is 21:30 UTC, the clock Huey's schedule runs on.
    assert task.validate_datetime(dt.datetime(2026, 3, 10, 21, 30)) is True
    assert task.validate_datetime(dt.datetime(2026, 3, 10, 5, 30)) is False
