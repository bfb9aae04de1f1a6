"""Working the plan: completing tasks (outcomes, timeline, call-backs, next steps, gifts), planning,
moving and reassigning tasks, the gift catalogue and the repeat-gift warning."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone, translation

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.customers import services as customer_services
from huitou.customers.models import Activity
from huitou.followups import services
from huitou.followups.models import Channel, Gift, Purpose, Task
from tests.factories import CustomerFactory, GiftFactory, TaskFactory

pytestmark = pytest.mark.django_db


def label(outcome: Task.Outcome) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return str(outcome.label)


@pytest.fixture
def w(org_world):
    w = org_world
    w.today = timezone.localdate()
    w.customer = CustomerFactory(owner=w.rep1, name="王小明", phone="+8613812345678")
    w.task = TaskFactory(
        customer=w.customer,
        kind=Channel.CALL,
        title="交车7日回访",
        script="问候用车情况",
        due_on=w.today,
        priority=80,
    )
    w.gift = GiftFactory(organisation=w.org, name="车载香薰", value=Decimal("88.00"))
    return w


def snapshot():
    return {
        "tasks": list(Task.objects.order_by("pk").values()),
        "activities": Activity.objects.count(),
        "gifts": list(Gift.objects.order_by("pk").values()),
    }


def tomorrow_at(hour: int) -> dt.datetime:
    return (timezone.localtime() + dt.timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)


# ---------------------------------------------------------------- task_complete: outcomes


def test_reached_marks_the_task_done_and_logs_a_call(w):
    task = services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="reached", note="  很满意  ")
    task.refresh_from_db()
    assert (task.status, task.outcome, task.note, task.completed_by_id, task.version) == (
        "done",
        "reached",
        "很满意",
        w.rep1.pk,
        2,
    )
    assert task.completed_at is not None
    assert list(
        Activity.objects.values_list("customer_id", "kind", "subject", "body", "user_id", "gift_name")
    ) == [(w.customer.pk, "call", f"交车7日回访 · {label(Task.Outcome.REACHED)}", "很满意", w.rep1.pk, "")]
    assert Task.objects.count() == 1  # no next step asked for


def test_no_answer_still_logs_the_attempt(w):
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="no_answer")
    assert list(Activity.objects.values_list("kind", "subject")) == [
        ("call", f"交车7日回访 · {label(Task.Outcome.NO_ANSWER)}")
    ]
    assert Task.objects.get(pk=w.task.pk).outcome == "no_answer"


def test_visit_done_logs_a_visit(w):
    w.task.kind = Channel.VISIT
    w.task.save()
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="visit_done")
    assert list(Activity.objects.values_list("kind", flat=True)) == ["visit"]


@pytest.mark.parametrize(("kind", "expected"), [("wechat", "wechat"), ("call", "wechat"), ("sms", "sms")])
def test_message_sent_logs_the_channel_used(w, kind, expected):
    w.task.kind = kind
    w.task.save()
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="message_sent")
    assert list(Activity.objects.values_list("kind", flat=True)) == [expected]


def test_declined_is_recorded(w):
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="declined", note="不需要")
    task = Task.objects.get(pk=w.task.pk)
    assert (task.status, task.outcome, task.note) == ("done", "declined", "不需要")
    assert Activity.objects.get().subject == f"交车7日回访 · {label(Task.Outcome.DECLINED)}"


def test_unknown_outcome_is_refused_and_nothing_changes(w):
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="teleported")
    assert list(exc.value.errors) == ["outcome"]
    assert snapshot() == before


# ---------------------------------------------------------------- gifts on completion


def test_gift_given_logs_one_gift_touch_and_keeps_the_gift_on_the_task(w):
    task = services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="gift_given", gift_id=w.gift.pk)
    assert Task.objects.get(pk=task.pk).gift_id == w.gift.pk
    assert list(Activity.objects.values_list("kind", "gift_name", "subject")) == [
        ("gift", "车载香薰", f"交车7日回访 · {label(Task.Outcome.GIFT_GIVEN)}")
    ]


def test_reached_with_a_gift_logs_the_call_and_the_gift(w):
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="reached", gift_id=w.gift.pk)
    assert list(Activity.objects.order_by("pk").values_list("kind", "gift_name")) == [
        ("call", ""),
        ("gift", "车载香薰"),
    ]


def test_gift_given_without_a_gift_is_refused(w):
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="gift_given")
    assert exc.value.errors == {"gift_id": ["say which gift was given"]}
    assert snapshot() == before


def test_a_gift_with_no_answer_is_refused(w):
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="no_answer", gift_id=w.gift.pk)
    assert list(exc.value.errors) == ["gift_id"]
    assert snapshot() == before


def test_an_inactive_gift_is_refused(w):
    w.gift.active = False
    w.gift.save()
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="gift_given", gift_id=w.gift.pk)
    assert exc.value.errors == {"gift_id": ["this gift is no longer offered"]}
    assert snapshot() == before


def test_another_organisations_gift_is_not_found(w):
    foreign = GiftFactory(organisation=w.other_org, name="别家礼品")
    before = snapshot()
    with pytest.raises(NotFound):
        services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="gift_given", gift_id=foreign.pk)
    assert snapshot() == before


# ---------------------------------------------------------------- call-backs and next steps


def test_call_back_creates_a_follow_up_due_at_that_time(w):
    at = tomorrow_at(15)
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="call_back", callback_at=at)
    follow = Task.objects.get(parent=w.task)
    assert (follow.kind, follow.status, follow.title, follow.script, follow.due_on, follow.due_at) == (
        "call",
        "open",
        "交车7日回访",
        "问候用车情况",
        at.date(),
        at,
    )
    assert (
        follow.assignee_id,
        follow.customer_id,
        follow.organisation_id,
        follow.rule_id,
        follow.priority,
    ) == (
        w.rep1.pk,
        w.customer.pk,
        w.org.pk,
        None,
        80,
    )
    assert Task.objects.get(pk=w.task.pk).outcome == "call_back"


def test_call_back_without_a_time_is_refused(w):
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="call_back")
    assert exc.value.errors == {"callback_at": ["say when to call back"]}
    assert snapshot() == before


def test_call_back_in_the_past_is_refused(w):
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_complete(
            actor=w.rep1,
            task_id=w.task.pk,
            outcome="call_back",
            callback_at=timezone.now() - dt.timedelta(hours=1),
        )
    assert exc.value.errors == {"callback_at": ["the call-back time must be in the future"]}
    assert snapshot() == before


def test_next_step_creates_the_next_task(w):
    due = w.today + dt.timedelta(days=30)
    services.task_complete(
        actor=w.rep1,
        task_id=w.task.pk,
        outcome="reached",
        next_kind="visit",
        next_due_on=due,
        next_title="送交车照片",
    )
    follow = Task.objects.get(parent=w.task)
    assert (follow.kind, follow.due_on, follow.due_at, follow.title, follow.script, follow.status) == (
        "visit",
        due,
        None,
        "送交车照片",
        "",
        "open",
    )
    assert (follow.assignee_id, follow.purpose) == (w.rep1.pk, Purpose.SERVICE)


def test_next_step_without_a_title_keeps_the_tasks_title(w):
    services.task_complete(
        actor=w.rep1, task_id=w.task.pk, outcome="reached", next_kind="call", next_due_on=w.today
    )
    assert Task.objects.get(parent=w.task).title == "交车7日回访"


def test_a_manager_completing_keeps_the_next_step_with_the_assignee(w):
    services.task_complete(
        actor=w.manager1, task_id=w.task.pk, outcome="reached", next_kind="call", next_due_on=w.today
    )
    assert Task.objects.get(parent=w.task).assignee_id == w.rep1.pk
    assert Task.objects.get(pk=w.task.pk).completed_by_id == w.manager1.pk


@pytest.mark.parametrize(
    ("extra", "errors"),
    [
        ({"next_kind": "call"}, {"next_due_on": ["a next step needs both a kind and a date"]}),
        ({"next_due_on": "future"}, {"next_kind": ["a next step needs both a kind and a date"]}),
        (
            {"next_kind": "sms", "next_due_on": "future"},
            {"next_kind": ["a next step is a call, a visit or a WeChat note"]},
        ),
        (
            {"next_kind": "call", "next_due_on": "past"},
            {"next_due_on": ["the next step cannot be in the past"]},
        ),
    ],
)
def test_bad_next_steps_are_refused(w, extra, errors):
    days = {"future": 3, "past": -1}
    if "next_due_on" in extra:
        extra = {**extra, "next_due_on": w.today + dt.timedelta(days=days[extra["next_due_on"]])}
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="reached", **extra)
    assert exc.value.errors == errors
    assert snapshot() == before


# ---------------------------------------------------------------- conflicts and permissions


def test_a_done_task_cannot_be_completed_twice(w):
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="reached")
    before = snapshot()
    with pytest.raises(Conflict):
        services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="no_answer")
    assert snapshot() == before


def test_a_stale_version_is_a_conflict(w):
    services.task_reschedule(actor=w.rep1, task_id=w.task.pk, due_on=w.today + dt.timedelta(days=1))
    before = snapshot()
    with pytest.raises(Conflict):
        services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="reached", version=1)
    assert snapshot() == before


def test_the_current_version_is_accepted(w):
    task = services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="reached", version=1)
    assert task.version == 2


@pytest.mark.parametrize("who", ["rep2", "rep3", "manager2", "other_owner"])
def test_a_task_outside_the_scope_is_not_found(w, who):
    before = snapshot()
    with pytest.raises(NotFound):
        services.task_complete(actor=getattr(w, who), task_id=w.task.pk, outcome="reached")
    assert snapshot() == before


def test_an_unknown_task_is_not_found(w):
    with pytest.raises(NotFound):
        services.task_complete(actor=w.rep1, task_id=w.task.pk + 999, outcome="reached")


@pytest.mark.parametrize("who", ["dcrc", "aftersales"])
def test_someone_who_sees_the_task_but_does_not_own_it_is_refused(w, who):
    before = snapshot()
    with pytest.raises(PermissionDenied):
        services.task_complete(actor=getattr(w, who), task_id=w.task.pk, outcome="reached")
    assert snapshot() == before


def test_the_assignee_works_a_task_on_a_customer_in_their_scope(w):
    w.task.assignee = w.dcrc
    w.task.save()
    task = services.task_complete(actor=w.dcrc, task_id=w.task.pk, outcome="reached")
    assert task.completed_by_id == w.dcrc.pk


def test_the_owner_may_complete_any_task_of_the_organisation(w):
    task = services.task_complete(actor=w.owner, task_id=w.task.pk, outcome="reached")
    assert Task.objects.get(pk=task.pk).status == "done"


# ---------------------------------------------------------------- task_create


def test_a_rep_plans_a_task_for_themselves(w):
    due = w.today + dt.timedelta(days=2)
    task = services.task_create(
        actor=w.rep1,
        customer_id=w.customer.pk,
        kind="visit",
        title="  上门送礼  ",
        due_on=due,
        script="带上交车照片",
    )
    task.refresh_from_db()
    assert (task.kind, task.title, task.due_on, task.script, task.assignee_id, task.status, task.rule_id) == (
        "visit",
        "上门送礼",
        due,
        "带上交车照片",
        w.rep1.pk,
        "open",
        None,
    )
    assert (task.organisation_id, task.purpose, task.priority, task.version) == (w.org.pk, "service", 50, 1)


def test_a_manager_plans_a_task_for_a_rep_in_scope(w):
    task = services.task_create(
        actor=w.manager1,
        customer_id=w.customer.pk,
        kind="call",
        title="经理回访",
        due_on=w.today,
        assignee_id=w.rep2.pk,
    )
    assert task.assignee_id == w.rep2.pk


@pytest.mark.parametrize(
    ("actor", "changes", "errors"),
    [
        ("rep1", {"kind": "sms"}, {"kind": ["a task is a call, a visit or a WeChat note"]}),
        ("rep1", {"title": "  "}, {"title": ["required"]}),
        ("rep1", {"due_on": -1}, {"due_on": ["the due date cannot be in the past"]}),
        ("rep1", {"assignee_id": "rep2"}, {"assignee_id": ["you can only plan tasks for yourself"]}),
        ("manager1", {"assignee_id": "rep3"}, {"assignee_id": ["no such person within your reach"]}),
        ("manager1", {"assignee_id": "other_owner"}, {"assignee_id": ["no such person within your reach"]}),
        ("rep1", {"priority": 101}, {"priority": ["priority is 0–100"]}),
    ],
)
def test_task_create_refuses_bad_input(w, actor, changes, errors):
    data = {"kind": "call", "title": "回访", "due_on": w.today}
    for key, value in changes.items():
        if key == "due_on":
            value = w.today + dt.timedelta(days=value)
        if key == "assignee_id":
            value = getattr(w, value).pk
        data[key] = value
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_create(actor=getattr(w, actor), customer_id=w.customer.pk, **data)
    assert exc.value.errors == errors
    assert snapshot() == before


def test_task_create_for_another_reps_customer_is_not_found(w):
    before = snapshot()
    with pytest.raises(NotFound):
        services.task_create(actor=w.rep2, customer_id=w.customer.pk, kind="call", title="x", due_on=w.today)
    assert snapshot() == before


# ---------------------------------------------------------------- reschedule and reassign


def test_reschedule_moves_the_task_and_bumps_the_version(w):
    at = tomorrow_at(10)
    task = services.task_reschedule(actor=w.rep1, task_id=w.task.pk, due_on=at.date(), due_at=at, version=1)
    task.refresh_from_db()
    assert (task.due_on, task.due_at, task.version, task.status) == (at.date(), at, 2, "open")


def test_reschedule_into_the_past_is_refused(w):
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_reschedule(actor=w.rep1, task_id=w.task.pk, due_on=w.today - dt.timedelta(days=1))
    assert exc.value.errors == {"due_on": ["the due date cannot be in the past"]}
    assert snapshot() == before


def test_reschedule_a_done_task_is_a_conflict(w):
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="reached")
    before = snapshot()
    with pytest.raises(Conflict):
        services.task_reschedule(actor=w.rep1, task_id=w.task.pk, due_on=w.today)
    assert snapshot() == before


def test_reschedule_by_another_rep_is_not_found(w):
    before = snapshot()
    with pytest.raises(NotFound):
        services.task_reschedule(actor=w.rep2, task_id=w.task.pk, due_on=w.today)
    assert snapshot() == before


def test_a_manager_reassigns_within_scope(w):
    task = services.task_reassign(actor=w.manager1, task_id=w.task.pk, assignee_id=w.rep2.pk, version=1)
    task.refresh_from_db()
    assert (task.assignee_id, task.version) == (w.rep2.pk, 2)


def test_a_rep_cannot_reassign(w):
    before = snapshot()
    with pytest.raises(PermissionDenied):
        services.task_reassign(actor=w.rep1, task_id=w.task.pk, assignee_id=w.rep2.pk)
    assert snapshot() == before


def test_reassign_outside_the_managers_scope_is_refused(w):
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.task_reassign(actor=w.manager1, task_id=w.task.pk, assignee_id=w.rep3.pk)
    assert exc.value.errors == {"assignee_id": ["no such person within your reach"]}
    assert snapshot() == before


def test_manager_of_another_store_cannot_reach_the_task(w):
    with pytest.raises(NotFound):
        services.task_reassign(actor=w.manager2, task_id=w.task.pk, assignee_id=w.rep3.pk)


# ---------------------------------------------------------------- gift catalogue


def test_a_manager_adds_a_gift(w):
    gift = services.gift_create(actor=w.manager1, name=" 定制钥匙扣 ", value=Decimal("35.50"), note="交车礼")
    gift.refresh_from_db()
    assert (gift.organisation_id, gift.name, gift.value, gift.note, gift.active) == (
        w.org.pk,
        "定制钥匙扣",
        Decimal("35.50"),
        "交车礼",
        True,
    )


@pytest.mark.parametrize("who", ["rep1", "dcrc", "aftersales"])
def test_only_managers_and_the_owner_add_gifts(w, who):
    before = snapshot()
    with pytest.raises(PermissionDenied):
        services.gift_create(actor=getattr(w, who), name="新礼品")
    assert snapshot() == before


def test_a_gift_name_is_unique_in_the_organisation(w):
    before = snapshot()
    with pytest.raises(ValidationFailed) as exc:
        services.gift_create(actor=w.owner, name="车载香薰")
    assert exc.value.errors == {"name": ["a gift of this name exists already"]}
    assert snapshot() == before
    # Another organisation may use the same name.
    assert services.gift_create(actor=w.other_owner, name="车载香薰").organisation_id == w.other_org.pk


def test_a_negative_gift_value_is_refused(w):
    with pytest.raises(ValidationFailed) as exc:
        services.gift_create(actor=w.owner, name="x", value=Decimal("-1"))
    assert exc.value.errors == {"value": ["must not be negative"]}
    assert not Gift.objects.filter(name="x").exists()


def test_gift_update_deactivates_and_renames(w):
    gift = services.gift_update(
        actor=w.owner, gift_id=w.gift.pk, active=False, name="香薰礼盒", value=Decimal("99")
    )
    gift.refresh_from_db()
    assert (gift.active, gift.name, gift.value, gift.note) == (False, "香薰礼盒", Decimal("99.00"), "")


def test_gift_update_refuses_a_taken_name(w):
    GiftFactory(organisation=w.org, name="保温杯")
    before = snapshot()
    with pytest.raises(ValidationFailed):
        services.gift_update(actor=w.owner, gift_id=w.gift.pk, name="保温杯")
    assert snapshot() == before


def test_gift_update_of_another_organisations_gift_is_not_found(w):
    foreign = GiftFactory(organisation=w.other_org)
    with pytest.raises(NotFound):
        services.gift_update(actor=w.owner, gift_id=foreign.pk, active=False)
    assert Gift.objects.get(pk=foreign.pk).active is True


def test_a_rep_cannot_deactivate_a_gift(w):
    with pytest.raises(PermissionDenied):
        services.gift_update(actor=w.rep1, gift_id=w.gift.pk, active=False)
    assert Gift.objects.get(pk=w.gift.pk).active is True


# ---------------------------------------------------------------- repeat-gift warning


def test_no_warning_for_a_gift_never_given(w):
    assert services.gift_repeat_warning(actor=w.rep1, customer_id=w.customer.pk, gift_id=w.gift.pk) is None


def test_warning_names_the_day_and_the_person_after_a_task(w):
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="gift_given", gift_id=w.gift.pk)
    with translation.override("en"):
        warning = services.gift_repeat_warning(actor=w.rep1, customer_id=w.customer.pk, gift_id=w.gift.pk)
    assert warning == f"车载香薰 was already given to this customer on {w.today.isoformat()} by rep1."


def test_warning_comes_from_a_gift_logged_by_hand_too(w):
    when = timezone.now() - dt.timedelta(days=40)
    customer_services.activity_log(
        actor=w.manager1,
        customer_id=w.customer.pk,
        kind="gift",
        subject="生日礼物",
        gift_name="车载香薰",
        occurred_at=when,
    )
    with translation.override("en"):
        warning = services.gift_repeat_warning(actor=w.rep1, customer_id=w.customer.pk, gift_id=w.gift.pk)
    day = timezone.localtime(when).date().isoformat()
    assert warning == f"车载香薰 was already given to this customer on {day} by manager1."


def test_the_newest_giving_wins(w):
    customer_services.activity_log(
        actor=w.manager1,
        customer_id=w.customer.pk,
        kind="gift",
        subject="生日礼物",
        gift_name="车载香薰",
        occurred_at=timezone.now() - dt.timedelta(days=400),
    )
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="gift_given", gift_id=w.gift.pk)
    with translation.override("en"):
        warning = services.gift_repeat_warning(actor=w.rep1, customer_id=w.customer.pk, gift_id=w.gift.pk)
    assert warning == f"车载香薰 was already given to this customer on {w.today.isoformat()} by rep1."


def test_no_warning_for_another_gift_or_another_customer(w):
    services.task_complete(actor=w.rep1, task_id=w.task.pk, outcome="gift_given", gift_id=w.gift.pk)
    other_gift = GiftFactory(organisation=w.org, name="保温杯")
    other_customer = CustomerFactory(owner=w.rep1)
    assert (
        services.gift_repeat_warning(actor=w.rep1, customer_id=w.customer.pk, gift_id=other_gift.pk) is None
    )
    assert (
        services.gift_repeat_warning(actor=w.rep1, customer_id=other_customer.pk, gift_id=w.gift.pk) is None
    )


def test_warning_for_a_customer_out_of_scope_is_not_found(w):
    with pytest.raises(NotFound):
        services.gift_repeat_warning(actor=w.rep2, customer_id=w.customer.pk, gift_id=w.gift.pk)
