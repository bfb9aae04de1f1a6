"""Who works a task, and what happens to tasks left undone.

Routing (DOMAIN §3, §9): a rule names the kind of person (``ContactRule.assignee``) and the
:class:`Router` turns it into a user:

- ``owner``: the customer's owner rep;
- ``manager``: the owner rep's team manager;
- ``dcrc`` / ``aftersales``: one of the users with that role in the customer's store, chosen by
  customer id (``customer_id % n`` over the pool sorted by id, so the same customer always lands on
  the same agent and a store's customers spread evenly); when the store has none, the pool of the
  whole organisation.

Then availability, for the day the task is due:

- a user who has left (``left_at`` set) or is inactive is replaced by their manager
  (:meth:`Router.manager_of`: team manager, else a manager of their store, else the organisation
  owner);
- a user absent that day (:class:`~huitou.followups.models.Absence`) is replaced by the absence's
  delegate when the delegate is available, else by their manager.

Replacements are followed until someone available is found (each user at most once, so a loop of
delegates ends); when nobody is, the task keeps the last active candidate rather than nobody.

The router loads the organisation's users, teams and the absences of the days it will be asked
about once, and caches every answer per user and day: the plan asks it for thousands of tasks and
it never queries per task.

Escalation: :func:`tasks_escalate` and :func:`tasks_mark_missed` are bulk updates, safe to run any
number of times (the morning job runs them after the plan).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from huitou.accounts.models import Organisation, User

from . import calendar
from .models import Absence, Assignee, Task

OWNER, MANAGER, REP, DCRC, AFTERSALES = "owner", "manager", "rep", "dcrc", "aftersales"
_POOL_ROLES: dict[str, str] = {Assignee.DCRC: DCRC, Assignee.AFTERSALES: AFTERSALES}
_MAX_HOPS = 8  # people followed when looking for a replacement


@dataclass(frozen=True, slots=True)
class _Person:
    id: int
    role: str
    store_id: int | None
    team_id: int | None
    active: bool  # active account and has not left


class Router:
    """Resolve assignees for one organisation; everything is loaded once, answers are cached.

    ``start``/``end`` bound the days the caller will ask about (absences outside are not loaded);
    asking about another day still works, it only loads that day's absences once more.
    """

    def __init__(
        self, *, organisation: Organisation | int, start: dt.date, end: dt.date | None = None
    ) -> None:
        self.org_id = organisation if isinstance(organisation, int) else organisation.pk
        self.people: dict[int, _Person] = {}
        for uid, role, store_id, team_id, is_active, left_at in User.objects.filter(
            organisation_id=self.org_id
        ).values_list("id", "role", "store_id", "team_id", "is_active", "left_at"):
            self.people[uid] = _Person(uid, role, store_id, team_id, bool(is_active) and left_at is None)
        from huitou.accounts.models import Team

        self.team_manager: dict[int, int | None] = dict(
            Team.objects.filter(organisation_id=self.org_id).values_list("id", "manager_id")
        )
        by_id = sorted(self.people.values(), key=lambda p: p.id)
        self.store_managers: dict[int | None, list[int]] = defaultdict(list)
        self.owners: list[int] = []
        self.pools: dict[tuple[str, int | None], list[int]] = defaultdict(list)
        self.org_pools: dict[str, list[int]] = defaultdict(list)
        for p in by_id:
            if not p.active:
                continue
            if p.role == MANAGER:
                self.store_managers[p.store_id].append(p.id)
            elif p.role == OWNER:
                self.owners.append(p.id)
            elif p.role in (DCRC, AFTERSALES):
                self.pools[(p.role, p.store_id)].append(p.id)
                self.org_pools[p.role].append(p.id)
        self._absences: dict[int, list[tuple[dt.date, dt.date, int | None]]] = defaultdict(list)
        self._loaded: tuple[dt.date, dt.date] | None = None
        self._manager_cache: dict[int, int | None] = {}
        self._resolve_cache: dict[tuple[int, dt.date], int | None] = {}
        self._pool_cache: dict[tuple[str, int | None, dt.date], list[int]] = {}
        self._load_absences(start, end or start)

    # -- loading ---------------------------------------------------------------------------------

    def _load_absences(self, start: dt.date, end: dt.date) -> None:
        if self._loaded and self._loaded[0] <= start and end <= self._loaded[1]:
            return
        lo, hi = (min(start, self._loaded[0]), max(end, self._loaded[1])) if self._loaded else (start, end)
        self._absences.clear()
        for user_id, starts_on, ends_on, delegate_id in Absence.objects.filter(
            organisation_id=self.org_id, starts_on__lte=hi, ends_on__gte=lo
        ).values_list("user_id", "starts_on", "ends_on", "delegate_id"):
            self._absences[user_id].append((starts_on, ends_on, delegate_id))
        for spans in self._absences.values():
            spans.sort(key=lambda s: (s[0], s[1]))
        self._loaded = (lo, hi)
        self._resolve_cache.clear()
        self._pool_cache.clear()

    # -- questions -------------------------------------------------------------------------------

    def is_active(self, user_id: int | None) -> bool:
        p = self.people.get(user_id) if user_id is not None else None
        return bool(p and p.active)

    def absence(self, user_id: int, day: dt.date) -> tuple[dt.date, dt.date, int | None] | None:
        self._load_absences(day, day)
        for span in self._absences.get(user_id, ()):
            if span[0] <= day <= span[1]:
                return span
        return None

    def is_available(self, user_id: int | None, day: dt.date) -> bool:
        return user_id is not None and self.is_active(user_id) and self.absence(user_id, day) is None

    def store_manager(self, store_id: int | None, *, exclude: int | None = None) -> int | None:
        for uid in self.store_managers.get(store_id, ()) if store_id is not None else ():
            if uid != exclude:
                return uid
        return None

    def org_owner(self, *, exclude: int | None = None) -> int | None:
        return next((uid for uid in self.owners if uid != exclude), None)

    def manager_of(self, user_id: int | None, *, store_id: int | None = None) -> int | None:
        """The active person a user answers to: team manager, else a manager of the user's store
        (or of ``store_id`` when the user is unknown), else the organisation owner; never the user."""
        if user_id is None:
            return self.store_manager(store_id) or self.org_owner()
        if user_id in self._manager_cache:
            return self._manager_cache[user_id]
        p = self.people.get(user_id)
        found: int | None = None
        if p is not None:
            team_manager = self.team_manager.get(p.team_id) if p.team_id else None
            if team_manager is not None and team_manager != user_id and self.is_active(team_manager):
                found = team_manager
            else:
                found = self.store_manager(p.store_id, exclude=user_id)
        else:
            found = self.store_manager(store_id)
        if found is None:
            found = self.org_owner(exclude=user_id)
        self._manager_cache[user_id] = found
        return found

    def resolve(self, user_id: int | None, day: dt.date) -> int | None:
        """``user_id`` or whoever covers for them on ``day`` (see the module docstring)."""
        if user_id is None:
            return None
        key = (user_id, day)
        if key in self._resolve_cache:
            return self._resolve_cache[key]
        seen: set[int] = set()
        current: int | None = user_id
        fallback: int | None = None
        answer: int | None = None
        for _ in range(_MAX_HOPS):
            if current is None or current in seen:
                break
            seen.add(current)
            if not self.is_active(current):
                current = self.manager_of(current)
                continue
            fallback = fallback or current
            span = self.absence(current, day)
            if span is None:
                answer = current
                break
            delegate = span[2]
            if delegate is not None and delegate not in seen and self.is_available(delegate, day):
                answer = delegate
                break
            current = self.manager_of(current)
        if answer is None:
            answer = fallback
        self._resolve_cache[key] = answer
        return answer

    def _pool(self, role: str, store_id: int | None, day: dt.date) -> list[int]:
        key = (role, store_id, day)
        if key not in self._pool_cache:
            pool = self.pools.get((role, store_id)) or self.org_pools.get(role) or []
            available = [uid for uid in pool if self.absence(uid, day) is None]
            self._pool_cache[key] = available or list(pool)
        return self._pool_cache[key]

    def assignee(
        self, *, kind: str, owner_id: int | None, store_id: int | None, customer_id: int, day: dt.date
    ) -> int | None:
        """The user who gets a task of a rule with ``assignee == kind`` for this customer on ``day``."""
        if kind in _POOL_ROLES:
            pool = self._pool(_POOL_ROLES[kind], store_id, day)
            if pool:
                return self.resolve(pool[customer_id % len(pool)], day)
            kind = Assignee.OWNER  # nobody in that role anywhere: the customer's own people
        if kind == Assignee.MANAGER:
            target = self.manager_of(owner_id, store_id=store_id)
        else:
            target = owner_id if owner_id is not None else self.manager_of(None, store_id=store_id)
        return self.resolve(target, day)


def task_assignee(
    *,
    organisation: Organisation,
    kind: str,
    owner_id: int | None,
    store_id: int | None,
    customer_id: int,
    day: dt.date,
) -> int | None:
    """One-off routing (a single task); bulk callers build one :class:`Router` and reuse it."""
    return Router(organisation=organisation, start=day).assignee(
        kind=kind, owner_id=owner_id, store_id=store_id, customer_id=customer_id, day=day
    )


# ---------------------------------------------------------------------------------------------
# Escalation and missed tasks


def escalation_cutoff(today: dt.date, working_days: int) -> dt.date:
    """Tasks due before the returned day are overdue by more than ``working_days`` working days on
    ``today`` (the overdue days of a task due on ``d`` are the working days in ``(d, today]``)."""
    need = working_days + 1
    d = today
    counted = 0
    # Walk back until ``need`` working days lie in [d, today]; bounded by the longest holiday runs.
    for _ in range(366 * 2):
        if calendar.is_working_day(d):
            counted += 1
            if counted == need:
                return d
        d -= dt.timedelta(days=1)
    return d


@transaction.atomic
def tasks_escalate(*, organisation: Organisation, today: dt.date) -> int:
    """Flag open tasks overdue by more than ``escalate_after_days`` working days to the assignee's
    manager, once (``escalated_at`` is set only where it is empty). Returns how many were flagged."""
    policy = organisation.policy.contact
    cutoff = escalation_cutoff(today, policy.escalate_after_days)
    due = Task.objects.filter(
        organisation=organisation, status=Task.Status.OPEN, escalated_at__isnull=True, due_on__lt=cutoff
    )
    # One UPDATE per manager escalated to (a handful of people), never one per task.
    assignees = set(due.exclude(assignee__isnull=True).values_list("assignee_id", flat=True).distinct())
    unassigned_stores = set(
        due.filter(assignee__isnull=True).values_list("customer__store_id", flat=True).distinct()
    )
    if not assignees and not unassigned_stores:
        return 0
    router = Router(organisation=organisation, start=today)
    by_manager: dict[int | None, set[int]] = defaultdict(set)
    for assignee_id in assignees:
        by_manager[router.manager_of(assignee_id)].add(assignee_id)
    now = timezone.now()
    flagged = 0
    for manager_id, ids in by_manager.items():
        flagged += due.filter(assignee_id__in=ids).update(
            escalated_at=now, escalated_to_id=manager_id, version=F("version") + 1
        )
    for store_id in unassigned_stores:
        unassigned = due.filter(assignee__isnull=True)
        unassigned = (
            unassigned.filter(customer__store__isnull=True)
            if store_id is None
            else unassigned.filter(customer__store_id=store_id)
        )
        flagged += unassigned.update(
            escalated_at=now,
            escalated_to_id=router.manager_of(None, store_id=store_id),
            version=F("version") + 1,
        )
    return flagged


def tasks_mark_missed(*, organisation: Organisation, today: dt.date) -> int:
    """Open tasks due more than ``missed_after_days`` (calendar) days before ``today`` become missed."""
    days = organisation.policy.contact.missed_after_days
    return Task.objects.filter(
        organisation=organisation, status=Task.Status.OPEN, due_on__lt=today - dt.timedelta(days=days)
    ).update(status=Task.Status.MISSED, version=F("version") + 1)
