"""Writes of the working side of the contact plan: completing, creating, moving tasks, and gifts.

Every task is reached through ``permissions.customer_scope`` on its customer, so a task outside the
viewer's reach is ``NotFound`` exactly like a customer would be. Inside the scope, the assignee
works their task; the owner and managers may work, move and reassign any task they can see.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.customers import selectors as customer_selectors
from huitou.customers import services as customer_services
from huitou.customers.models import Activity

from .models import TASK_CHANNELS, Channel, Gift, Purpose, Task
from .selectors import task_scope

if TYPE_CHECKING:
    from huitou.accounts.models import User

# Who may look after the gift catalogue and move other people's tasks.
PLAN_MANAGERS = frozenset({permissions.OWNER, permissions.MANAGER})

# Timeline kind of a touch made on each channel.
_ACTIVITY_KIND: dict[str, str] = {
    Channel.CALL: Activity.Kind.CALL,
    Channel.VISIT: Activity.Kind.VISIT,
    Channel.WECHAT: Activity.Kind.WECHAT,
    Channel.SMS: Activity.Kind.SMS,
    Channel.EMAIL: Activity.Kind.EMAIL,
    Channel.LETTER: Activity.Kind.LETTER,
    Channel.CARD: Activity.Kind.LETTER,
}
# Outcomes after which handing over a gift makes sense (the customer was met or spoken to).
_GIFT_OUTCOMES = frozenset({Task.Outcome.REACHED, Task.Outcome.VISIT_DONE, Task.Outcome.GIFT_GIVEN})


def _task_locked(actor: User, task_id: int) -> Task:
    """The task, locked for this transaction, if the actor may see its customer."""
    try:
        return (
            Task.objects.filter(task_scope(actor))
            .select_for_update(of=("self",))
            .select_related("customer")
            .get(pk=task_id)
        )
    except (Task.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("task") from exc


def _check_may_work(actor: User, task: Task) -> None:
    if task.assignee_id != actor.pk and actor.role not in PLAN_MANAGERS:
        raise PermissionDenied("only the assignee or a manager works this task")


def _check_open(task: Task, version: int | None) -> None:
    if task.status != Task.Status.OPEN:
        raise Conflict("this task is no longer open")
    if version is not None and version != task.version:
        raise Conflict("this task was changed by someone else; reload and try again")


def _gift_of_org(actor: User, gift_id: int) -> Gift:
    try:
        return Gift.objects.get(pk=gift_id, organisation_id=permissions.org_id(actor))
    except (Gift.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("gift") from exc


def _aware(value: dt.datetime) -> dt.datetime:
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def _default_language_label(label: object) -> str:
    # The timeline is shared by everyone in the organisation, so it is written in the site's
    # language, not in that of whoever happened to click.
    with translation.override(settings.LANGUAGE_CODE):
        return str(label)


def _activity_kind(task: Task, outcome: str) -> str:
    if outcome == Task.Outcome.GIFT_GIVEN:
        return Activity.Kind.GIFT
    if outcome == Task.Outcome.VISIT_DONE:
        return Activity.Kind.VISIT
    if outcome == Task.Outcome.MESSAGE_SENT and task.kind in (Channel.CALL, Channel.VISIT):
        return Activity.Kind.WECHAT
    return _ACTIVITY_KIND.get(task.kind, Activity.Kind.NOTE)


@transaction.atomic
def task_complete(
    *,
    actor: User,
    task_id: int,
    outcome: str,
    note: str = "",
    gift_id: int | None = None,
    callback_at: dt.datetime | None = None,
    next_kind: str | None = None,
    next_due_on: dt.date | None = None,
    next_title: str = "",
    version: int | None = None,
) -> Task:
    """Record what came of a task, log the touch on the customer's timeline, and plan what follows.

    "Call back at" needs ``callback_at`` and creates a follow-up task due then; a next step
    (``next_kind`` with ``next_due_on``) creates the next task. Both point back here as ``parent``.
    A gift is logged as a gift touch (kind ``gift`` with the gift's name) and kept on the task.
    """
    task = _task_locked(actor, task_id)
    _check_may_work(actor, task)
    _check_open(task, version)

    errors: dict[str, list[str]] = {}
    if outcome not in Task.Outcome.values:
        errors.setdefault("outcome", []).append(f"unknown outcome {outcome!r}")
    gift: Gift | None = None
    if gift_id:
        gift = _gift_of_org(actor, gift_id)
        if not gift.active:
            errors.setdefault("gift_id", []).append("this gift is no longer offered")
        elif outcome in Task.Outcome.values and outcome not in _GIFT_OUTCOMES:
            errors.setdefault("gift_id", []).append("a gift needs the customer reached or visited")
    elif outcome == Task.Outcome.GIFT_GIVEN:
        errors.setdefault("gift_id", []).append("say which gift was given")
    now = timezone.now()
    if outcome == Task.Outcome.CALL_BACK:
        if callback_at is None:
            errors.setdefault("callback_at", []).append("say when to call back")
        elif _aware(callback_at) <= now:
            errors.setdefault("callback_at", []).append("the call-back time must be in the future")
    if (next_kind or next_due_on) and not (next_kind and next_due_on):
        errors.setdefault("next_due_on" if next_kind else "next_kind", []).append(
            "a next step needs both a kind and a date"
        )
    if next_kind and next_kind not in TASK_CHANNELS:
        errors.setdefault("next_kind", []).append("a next step is a call, a visit or a WeChat note")
    if next_due_on and next_due_on < timezone.localdate():
        errors.setdefault("next_due_on", []).append("the next step cannot be in the past")
    if errors:
        raise ValidationFailed(errors)

    note = note.strip()
    task.status = Task.Status.DONE
    task.outcome = outcome
    task.note = note
    task.gift = gift
    task.completed_at = now
    task.completed_by = actor
    task.version += 1  # the row is locked
    task.save(update_fields=["status", "outcome", "note", "gift", "completed_at", "completed_by", "version"])

    label = _default_language_label(Task.Outcome(outcome).label)
    kind = _activity_kind(task, outcome)
    if kind == Activity.Kind.GIFT and gift is not None:
        customer_services.activity_log(
            actor=actor,
            customer_id=task.customer_id,
            customer=task.customer,
            kind=kind,
            subject=f"{task.title} · {label}",
            body=note,
            occurred_at=now,
            gift_name=gift.name,
        )
    else:
        customer_services.activity_log(
            actor=actor,
            customer_id=task.customer_id,
            customer=task.customer,
            kind=kind,
            subject=f"{task.title} · {label}",
            body=note,
            occurred_at=now,
        )
        if gift is not None:
            gift_label = _default_language_label(Task.Outcome.GIFT_GIVEN.label)
            customer_services.activity_log(
                actor=actor,
                customer_id=task.customer_id,
                customer=task.customer,
                kind=Activity.Kind.GIFT,
                subject=f"{task.title} · {gift_label}",
                occurred_at=now,
                gift_name=gift.name,
            )

    assignee_id = task.assignee_id or actor.pk
    if outcome == Task.Outcome.CALL_BACK and callback_at is not None:
        at = _aware(callback_at)
        _follow_up(
            task,
            kind=task.kind,
            due_on=timezone.localdate(at),
            due_at=at,
            title=task.title,
            assignee_id=assignee_id,
        )
    if next_kind and next_due_on:
        _follow_up(
            task,
            kind=next_kind,
            due_on=next_due_on,
            due_at=None,
            title=(next_title.strip() or task.title)[:200],
            assignee_id=assignee_id,
        )
    return task


def _follow_up(
    parent: Task, *, kind: str, due_on: dt.date, due_at: dt.datetime | None, title: str, assignee_id: int
) -> Task:
    return Task.objects.create(
        organisation_id=parent.organisation_id,
        customer_id=parent.customer_id,
        kind=kind,
        purpose=parent.purpose,
        priority=parent.priority,
        title=title,
        script=parent.script if kind == parent.kind else "",
        due_on=due_on,
        due_at=due_at,
        assignee_id=assignee_id,
        parent=parent,
    )


def _assignee_in_scope(actor: User, assignee_id: int) -> User:
    user = customer_selectors.users_in_scope(actor).filter(pk=assignee_id).first()
    if user is None:
        raise ValidationFailed({"assignee_id": ["no such person within your reach"]})
    return user


@transaction.atomic
def task_create(
    *,
    actor: User,
    customer_id: int,
    kind: str,
    title: str,
    due_on: dt.date,
    due_at: dt.datetime | None = None,
    script: str = "",
    assignee_id: int | None = None,
    purpose: str = Purpose.SERVICE,
    priority: int = 50,
) -> Task:
    """A task planned by hand. Reps plan for themselves; managers may plan for people in scope."""
    customer = customer_selectors.customer_get(actor, customer_id)
    if not permissions.can_log_activity(actor):
        raise PermissionDenied("your role cannot plan tasks")
    errors: dict[str, list[str]] = {}
    if kind not in TASK_CHANNELS:
        errors.setdefault("kind", []).append("a task is a call, a visit or a WeChat note")
    if purpose not in Purpose.values:
        errors.setdefault("purpose", []).append(f"unknown purpose {purpose!r}")
    if not title.strip():
        errors.setdefault("title", []).append("required")
    if due_on < timezone.localdate():
        errors.setdefault("due_on", []).append("the due date cannot be in the past")
    if not 0 <= priority <= 100:
        errors.setdefault("priority", []).append("priority is 0–100")
    if assignee_id is not None and assignee_id != actor.pk and actor.role not in PLAN_MANAGERS:
        errors.setdefault("assignee_id", []).append("you can only plan tasks for yourself")
    if errors:
        raise ValidationFailed(errors)
    if assignee_id is not None and assignee_id != actor.pk:
        _assignee_in_scope(actor, assignee_id)
    return Task.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=kind,
        purpose=purpose,
        priority=priority,
        title=title.strip()[:200],
        script=script.strip(),
        due_on=due_on,
        due_at=_aware(due_at) if due_at else None,
        assignee_id=assignee_id or actor.pk,
    )


@transaction.atomic
def task_reschedule(
    *,
    actor: User,
    task_id: int,
    due_on: dt.date,
    due_at: dt.datetime | None = None,
    version: int | None = None,
) -> Task:
    task = _task_locked(actor, task_id)
    _check_may_work(actor, task)
    _check_open(task, version)
    if due_on < timezone.localdate():
        raise ValidationFailed({"due_on": ["the due date cannot be in the past"]})
    task.due_on = due_on
    task.due_at = _aware(due_at) if due_at else None
    task.version += 1
    task.save(update_fields=["due_on", "due_at", "version"])
    return task


@transaction.atomic
def task_reassign(*, actor: User, task_id: int, assignee_id: int, version: int | None = None) -> Task:
    """Give an open task to someone else in the actor's scope (owner and managers only)."""
    task = _task_locked(actor, task_id)
    if actor.role not in PLAN_MANAGERS:
        raise PermissionDenied("only managers and the owner reassign tasks")
    _check_open(task, version)
    assignee = _assignee_in_scope(actor, assignee_id)
    if assignee.pk == task.assignee_id:
        return task
    task.assignee = assignee
    task.version += 1
    task.save(update_fields=["assignee", "version"])
    return task


# ---------------------------------------------------------------- gifts


def _check_gift_editor(actor: User) -> None:
    if actor.role not in PLAN_MANAGERS or not permissions.is_active_member(actor):
        raise PermissionDenied("only managers and the owner edit the gift catalogue")


def _gift_clean(name: str | None, value: Decimal | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if name is not None and not name.strip():
        errors.setdefault("name", []).append("required")
    if value is not None and value < 0:
        errors.setdefault("value", []).append("must not be negative")
    return errors


@transaction.atomic
def gift_create(*, actor: User, name: str, value: Decimal = Decimal("0"), note: str = "") -> Gift:
    _check_gift_editor(actor)
    errors = _gift_clean(name, value)
    if errors:
        raise ValidationFailed(errors)
    org = permissions.org_id(actor)
    if Gift.objects.filter(organisation_id=org, name=name.strip()).exists():
        raise ValidationFailed({"name": ["a gift of this name exists already"]})
    try:
        with transaction.atomic():
            return Gift.objects.create(
                organisation_id=org, name=name.strip()[:120], value=value, note=note.strip()[:255]
            )
    except IntegrityError as exc:  # created meanwhile by someone else
        raise ValidationFailed({"name": ["a gift of this name exists already"]}) from exc


@transaction.atomic
def gift_update(
    *,
    actor: User,
    gift_id: int,
    name: str | None = None,
    value: Decimal | None = None,
    note: str | None = None,
    active: bool | None = None,
) -> Gift:
    """Change the fields given (None leaves a field as it is); deactivating keeps the history."""
    _check_gift_editor(actor)
    try:
        gift = Gift.objects.select_for_update().get(pk=gift_id, organisation_id=permissions.org_id(actor))
    except (Gift.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("gift") from exc
    errors = _gift_clean(name, value)
    if name is not None and (
        Gift.objects.filter(organisation_id=gift.organisation_id, name=name.strip())
        .exclude(pk=gift.pk)
        .exists()
    ):
        errors.setdefault("name", []).append("a gift of this name exists already")
    if errors:
        raise ValidationFailed(errors)
    changed = []
    for field, new in (
        ("name", name.strip()[:120] if name is not None else None),
        ("value", value),
        ("note", note.strip()[:255] if note is not None else None),
        ("active", active),
    ):
        if new is not None and getattr(gift, field) != new:
            setattr(gift, field, new)
            changed.append(field)
    if changed:
        gift.save(update_fields=[*changed, "updated_at"])
    return gift


def gift_repeat_warning(*, actor: User, customer_id: int, gift_id: int) -> str | None:
    """Says when and by whom this gift was already given to this customer, or None if never.

    A read, but kept next to ``task_complete`` because pages ask it right before saving a gift.
    Looks both at the timeline (gifts logged by hand, by name) and at completed tasks.
    """
    customer = customer_selectors.customer_get(actor, customer_id)
    gift = _gift_of_org(actor, gift_id)
    logged = (
        Activity.objects.filter(customer_id=customer.pk, kind=Activity.Kind.GIFT, gift_name=gift.name)
        .select_related("user")
        .order_by("-occurred_at", "-id")
        .first()
    )
    done = (
        Task.objects.filter(customer_id=customer.pk, gift_id=gift.pk, status=Task.Status.DONE)
        .select_related("completed_by")
        .order_by("-completed_at", "-id")
        .first()
    )
    when: dt.datetime | None = None
    who: User | None = None
    if logged is not None:
        when, who = logged.occurred_at, logged.user
    if done is not None and done.completed_at is not None and (when is None or done.completed_at > when):
        when, who = done.completed_at, done.completed_by
    if when is None:
        return None
    return gettext("%(gift)s was already given to this customer on %(date)s by %(user)s.") % {
        "gift": gift.name,
        "date": timezone.localtime(when).date().isoformat(),
        "user": who.label if who is not None else gettext("someone"),
    }
