"""Reads of the working side of the contact plan. Every function takes the viewer first and sees
tasks only through ``permissions.customer_scope`` on their customer."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Case, Count, IntegerField, Max, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huitou.accounts import permissions
from huitou.core.errors import NotFound
from huitou.core.pagination import Page, paginate
from huitou.customers import selectors as customer_selectors
from huitou.customers.models import Customer, OwnedProduct, Purchase

from . import route as route_solver
from .models import Channel, Gift, Message, Task

if TYPE_CHECKING:
    from huitou.accounts.models import User

# The Today page's groups, in the order a rep works them; "other" takes any remaining channel.
GROUPS: list[tuple[str, Promise]] = [
    ("call", _("Calls")),
    ("visit", _("Visits")),
    ("wechat", _("WeChat")),
    ("other", _("Other")),
]
_GROUP_OF: dict[str, str] = {Channel.CALL: "call", Channel.VISIT: "visit", Channel.WECHAT: "wechat"}
TODAY_PAGE_SIZE = 100
MONTH_LIMIT = 3000
ROUTE_LIMIT = 200


def group_of(kind: str) -> str:
    return _GROUP_OF.get(kind, "other")


def task_scope(viewer: User) -> Q:
    """Tasks whose customer the viewer may see, plus tasks given to the viewer (a rep covering an
    absent colleague works the tasks routed to them) and, for a manager, tasks given to the people
    they manage (so the cover shows in their team's plan and compliance)."""
    from .compliance import people_scope

    if not permissions.is_active_member(viewer):
        return permissions.NOTHING
    own = Q(assignee_id=viewer.pk, organisation_id=permissions.org_id(viewer))
    scope = permissions.customer_scope(viewer, "customer__") | own
    if viewer.role == permissions.MANAGER:
        scope |= people_scope(viewer, "assignee__")
    return scope


def task_queryset(viewer: User) -> QuerySet[Task]:
    """Tasks whose customer the viewer may see (erased customers' tasks are gone with them).

    The task's own organisation is repeated from the scope so the database can use the task
    indexes that lead with it (``task_org_status_idx``, ``task_org_due_idx``) at any size.
    """
    qs = Task.objects.filter(task_scope(viewer))
    if permissions.is_active_member(viewer):
        qs = qs.filter(organisation_id=permissions.org_id(viewer))
    return qs.exclude(customer__status=Customer.Status.ERASED)


def task_get(viewer: User, task_id: int) -> Task:
    try:
        return task_queryset(viewer).select_related("customer", "assignee", "gift").get(pk=task_id)
    except (Task.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("task") from exc


def plan_user(viewer: User, user_id: int | None) -> User:
    """Whose plan the viewer looks at: their own, or (owner and managers) someone in their scope."""
    if user_id is None or user_id == viewer.pk:
        return viewer
    if viewer.role not in (permissions.OWNER, permissions.MANAGER):
        raise NotFound("user")
    user = customer_selectors.users_in_scope(viewer).filter(pk=user_id).first()
    if user is None:
        raise NotFound("user")
    return user


def plan_people(viewer: User) -> list[User]:
    """People whose plan the viewer may open (the rep picker); empty for everyone else."""
    if viewer.role not in (permissions.OWNER, permissions.MANAGER):
        return []
    return list(customer_selectors.users_in_scope(viewer).order_by("username"))


# ---------------------------------------------------------------- Today


@dataclass(frozen=True)
class TodayRow:
    task: Task
    customer_id: int
    customer_name: str
    phone: str
    phone_e164: str
    tier: str
    tier_label: str
    product: str
    delivered_on: dt.date | None
    last_purchase_on: dt.date | None
    days_overdue: int
    script: str


@dataclass(frozen=True)
class TaskGroup:
    key: str
    label: str
    count: int
    rows: list[TodayRow] = field(default_factory=list)


@dataclass(frozen=True)
class TodayPlan:
    user: User
    day: dt.date
    groups: list[TaskGroup]
    total: int
    page: Page[Task]
    full_phone: bool


def _due_open(viewer: User, user: User, day: dt.date) -> QuerySet[Task]:
    return task_queryset(viewer).filter(assignee_id=user.pk, status=Task.Status.OPEN, due_on__lte=day)


def today_counts(viewer: User, *, day: dt.date, user_id: int | None = None) -> dict[str, int]:
    """Open tasks due by ``day`` per group: one grouped query."""
    user = plan_user(viewer, user_id)
    return _counts(_due_open(viewer, user, day))


def _counts(qs: QuerySet[Task]) -> dict[str, int]:
    counts = dict.fromkeys((key for key, _label in GROUPS), 0)
    for kind, n in qs.order_by().values_list("kind").annotate(n=Count("id")).values_list("kind", "n"):
        counts[group_of(kind)] += n
    return counts


def _group_order() -> Case:
    return Case(
        When(kind=Channel.CALL, then=Value(0)),
        When(kind=Channel.VISIT, then=Value(1)),
        When(kind=Channel.WECHAT, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )


def _key_facts(customer_ids: set[int]) -> tuple[dict[int, dict[str, Any]], dict[int, dt.date]]:
    """The newest product each customer owns and the day of their last purchase: two queries."""
    if not customer_ids:
        return {}, {}
    products: dict[int, dict[str, Any]] = {}
    for row in (
        OwnedProduct.objects.filter(customer_id__in=customer_ids, active=True)
        .order_by("customer_id", "-delivered_on", "-id")
        .values("customer_id", "description", "product__name", "plate", "delivered_on")
    ):
        products.setdefault(row["customer_id"], dict(row))
    last = dict(
        Purchase.objects.filter(customer_id__in=customer_ids)
        .order_by()
        .values("customer_id")
        .annotate(last=Max("ordered_on"))
        .values_list("customer_id", "last")
    )
    return products, last


def _rows(viewer: User, tasks: list[Task], day: dt.date, full: bool) -> list[TodayRow]:
    """Tasks (customer and rule already joined) with their customers' key facts: two queries."""
    products, last = _key_facts({t.customer_id for t in tasks})
    tiers = {k: str(v) for k, v in Customer.Tier.choices}
    rows = []
    for task in tasks:
        customer = task.customer
        product = products.get(task.customer_id)
        rows.append(
            TodayRow(
                task=task,
                customer_id=customer.pk,
                customer_name=customer.name,
                phone=permissions.phone_for(viewer, customer.phone, full=full) if customer.phone else "",
                phone_e164=customer.phone if full else "",
                tier=customer.tier,
                tier_label=tiers.get(customer.tier, ""),
                product=(
                    (product["description"] or product["product__name"] or product["plate"] or "")
                    if product
                    else ""
                ),
                delivered_on=product["delivered_on"] if product else None,
                last_purchase_on=last.get(task.customer_id),
                days_overdue=max(0, (day - task.due_on).days) if task.status == Task.Status.OPEN else 0,
                script=task.script or (task.rule.script if task.rule else ""),
            )
        )
    return rows


def task_follow_ups(viewer: User, task_id: int) -> list[Task]:
    """Tasks planned as the next step of this one (call-backs and next steps), soonest first."""
    return list(
        task_queryset(viewer)
        .filter(parent_id=task_id)
        .select_related("customer", "assignee")
        .order_by("due_on", "id")
    )


def today_row(viewer: User, task_id: int, *, day: dt.date) -> TodayRow:
    """One task as a row of the Today page, whatever its state (to redraw it after a change)."""
    try:
        task = task_queryset(viewer).select_related("customer", "rule").get(pk=task_id)
    except (Task.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("task") from exc
    return _rows(viewer, [task], day, permissions.sees_full_phone(viewer))[0]


@dataclass(frozen=True)
class EscalatedRow:
    task_id: int
    customer_id: int
    customer_name: str
    title: str
    assignee: str
    due_on: dt.date
    days_overdue: int


def escalated_to_me(viewer: User, *, today: dt.date, limit: int = 50) -> list[EscalatedRow]:
    """Open tasks that went overdue and were escalated to this manager (routing.tasks_escalate).
    One query; empty for roles nobody escalates to, without touching the database."""
    if viewer.role not in (permissions.OWNER, permissions.MANAGER):
        return []
    rows = (
        task_queryset(viewer)
        .filter(escalated_to_id=viewer.pk, status=Task.Status.OPEN)
        .order_by("due_on", "id")
        .values_list(
            "id",
            "customer_id",
            "customer__name",
            "title",
            "assignee__display_name",
            "assignee__username",
            "due_on",
        )[:limit]
    )
    return [
        EscalatedRow(tid, cid, cname, title, display or (username or ""), due, (today - due).days)
        for tid, cid, cname, title, display, username, due in rows
    ]


def today_tasks(
    viewer: User, *, day: dt.date, user_id: int | None = None, page: int = 1, size: int = TODAY_PAGE_SIZE
) -> TodayPlan:
    """Open tasks due on or before ``day`` for the viewer (or, for a manager, a rep in scope),
    grouped by kind, each with the customer's key facts and the script to follow.

    A fixed number of queries whatever the number of tasks: the counts per group, one page of
    tasks with their customers and rules, the customers' products, their last purchases (and the
    person looked at when it is not the viewer).
    """
    user = plan_user(viewer, user_id)
    base = _due_open(viewer, user, day)
    counts = _counts(base)
    rows_qs = (
        base.select_related("customer", "rule")
        .annotate(group_order=_group_order())
        .order_by("group_order", "due_on", "-priority", "id")
    )
    result = paginate(rows_qs, page=page, size=size, count=False)
    full = permissions.sees_full_phone(viewer)
    by_group: dict[str, list[TodayRow]] = {key: [] for key, _label in GROUPS}
    for row in _rows(viewer, result.items, day, full):
        by_group[group_of(row.task.kind)].append(row)
    groups = [TaskGroup(key, str(label), counts[key], by_group[key]) for key, label in GROUPS]
    total = sum(counts.values())
    page_info = Page(
        items=result.items,
        number=result.number,
        size=result.size,
        has_next=result.has_next,
        total=total,
        total_capped=False,
    )
    return TodayPlan(user=user, day=day, groups=groups, total=total, page=page_info, full_phone=full)


# ---------------------------------------------------------------- calendar


@dataclass(frozen=True)
class DayCell:
    day: dt.date
    in_month: bool
    is_today: bool
    tasks: list[dict[str, Any]]


@dataclass(frozen=True)
class MonthPlan:
    user: User
    year: int
    month: int
    weeks: list[list[DayCell]]
    total: int
    truncated: bool

    @property
    def first(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def previous(self) -> dt.date:
        return (self.first - dt.timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> dt.date:
        return (self.first + dt.timedelta(days=32)).replace(day=1)


def tasks_month(viewer: User, *, year: int, month: int, user_id: int | None = None) -> MonthPlan:
    """The month grid (Monday first, whole weeks) with the person's tasks on each day; one query
    for the tasks, plain values so a busy month costs no model instances."""
    if not 1 <= month <= 12 or not 1900 <= year <= 9999:
        raise NotFound("month")
    user = plan_user(viewer, user_id)
    days = calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    first, last = days[0][0], days[-1][-1]
    rows = list(
        task_queryset(viewer)
        .filter(
            assignee_id=user.pk,
            status__in=[Task.Status.OPEN, Task.Status.DONE, Task.Status.MISSED],
            due_on__gte=first,
            due_on__lte=last,
        )
        .order_by("due_on", "due_at", "-priority", "id")
        .values(
            "id", "title", "kind", "status", "outcome", "due_on", "due_at", "customer_id", "customer__name"
        )[: MONTH_LIMIT + 1]
    )
    truncated = len(rows) > MONTH_LIMIT
    rows = rows[:MONTH_LIMIT]
    by_day: dict[dt.date, list[dict[str, Any]]] = {}
    for values in rows:
        row: dict[str, Any] = {**values, "group": group_of(values["kind"])}
        by_day.setdefault(row["due_on"], []).append(row)
    today = timezone.localdate()
    weeks = [
        [
            DayCell(day=d, in_month=d.month == month, is_today=d == today, tasks=by_day.get(d, []))
            for d in week
        ]
        for week in days
    ]
    return MonthPlan(user=user, year=year, month=month, weeks=weeks, total=len(rows), truncated=truncated)


# ---------------------------------------------------------------- customer page


@dataclass(frozen=True)
class CustomerPlan:
    customer: Customer
    open_tasks: list[Task]
    recent_messages: list[Message]


def customer_plan(viewer: User, customer_id: int, *, limit: int = 10) -> CustomerPlan:
    """The customer's open tasks (soonest first) and latest outbox messages, for the customer page."""
    customer = customer_selectors.customer_get(viewer, customer_id)
    tasks = list(
        task_queryset(viewer)
        .filter(customer_id=customer.pk, status=Task.Status.OPEN)
        .select_related("assignee")
        .order_by("due_on", "-priority", "id")[:limit]
    )
    from .outbox.selectors import message_queryset  # the outbox decides who reads messages

    messages = list(
        message_queryset(viewer).filter(customer_id=customer.pk).order_by("-scheduled_for", "-id")[:limit]
    )
    return CustomerPlan(customer=customer, open_tasks=tasks, recent_messages=messages)


# ---------------------------------------------------------------- API list


@dataclass(frozen=True)
class TaskFilters:
    status: str = ""
    kind: str = ""
    due_from: dt.date | None = None
    due_to: dt.date | None = None
    assignee_id: int | None = None
    customer_id: int | None = None


def task_list(viewer: User, filters: TaskFilters, *, page: int = 1, size: int = 50) -> Page[Task]:
    qs = task_queryset(viewer).select_related("customer", "assignee")
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.due_from:
        qs = qs.filter(due_on__gte=filters.due_from)
    if filters.due_to:
        qs = qs.filter(due_on__lte=filters.due_to)
    if filters.assignee_id:
        qs = qs.filter(assignee_id=filters.assignee_id)
    if filters.customer_id:
        qs = qs.filter(customer_id=filters.customer_id)
    key = hashlib.sha256(repr(filters).encode()).hexdigest()[:32]
    return paginate(
        qs.order_by("due_on", "id"), page=page, size=size, count_cache_key=f"task-count:{viewer.pk}:{key}"
    )


# ---------------------------------------------------------------- gifts


def gifts_list(viewer: User, *, active_only: bool = False) -> list[Gift]:
    if not permissions.is_active_member(viewer):
        return []
    qs = Gift.objects.filter(organisation_id=permissions.org_id(viewer))
    if active_only:
        qs = qs.filter(active=True)
    return list(qs.order_by("-active", "name"))


# ---------------------------------------------------------------- visit route


@dataclass(frozen=True)
class RouteStop:
    task_id: int
    title: str
    customer_id: int
    customer_name: str
    address: str
    latitude: float | None
    longitude: float | None
    seq: int = 0
    leg_m: int = 0


@dataclass(frozen=True)
class VisitRoute:
    user: User
    day: dt.date
    stops: list[RouteStop]
    unplaced: list[RouteStop]
    total_m: int
    start: tuple[float, float] | None

    @property
    def total_km(self) -> float:
        return round(self.total_m / 1000, 1)


def visit_route(
    viewer: User,
    *,
    day: dt.date,
    user_id: int | None = None,
    start: tuple[float, float] | None = None,
    time_limit_s: float = 1.0,
) -> VisitRoute:
    """The person's open visits of ``day`` in a short driving order (from ``start`` when given,
    else from the first visit); customers without coordinates are listed apart."""
    user = plan_user(viewer, user_id)
    tasks = list(
        task_queryset(viewer)
        .filter(assignee_id=user.pk, status=Task.Status.OPEN, kind=Channel.VISIT, due_on=day)
        .order_by("due_at", "-priority", "id")
        .values(
            "id",
            "title",
            "customer_id",
            "customer__name",
            "customer__city",
            "customer__address",
            "customer__latitude",
            "customer__longitude",
        )[:ROUTE_LIMIT]
    )
    placed: list[RouteStop] = []
    unplaced: list[RouteStop] = []
    for t in tasks:
        lat, lng = t["customer__latitude"], t["customer__longitude"]
        stop = RouteStop(
            task_id=t["id"],
            title=t["title"],
            customer_id=t["customer_id"],
            customer_name=t["customer__name"],
            address=f"{t['customer__city']} {t['customer__address']}".strip(),
            latitude=float(lat) if lat is not None else None,
            longitude=float(lng) if lng is not None else None,
        )
        (placed if lat is not None and lng is not None else unplaced).append(stop)
    points = [(s.latitude, s.longitude) for s in placed]
    offset = 0
    if start is not None and placed:
        points = [start, *points]
        offset = 1
    coords: list[tuple[float, float]] = [(float(a or 0), float(b or 0)) for a, b in points]
    order, total = route_solver.route_order(coords, 0, time_limit_s=time_limit_s)
    legs = route_solver.legs_m(coords, order)
    stops: list[RouteStop] = []
    for leg, index in zip(legs, order, strict=True):
        if index < offset:
            continue  # the starting point is not a stop
        s = placed[index - offset]
        stops.append(
            RouteStop(
                task_id=s.task_id,
                title=s.title,
                customer_id=s.customer_id,
                customer_name=s.customer_name,
                address=s.address,
                latitude=s.latitude,
                longitude=s.longitude,
                seq=len(stops) + 1,
                leg_m=leg,
            )
        )
    return VisitRoute(user=user, day=day, stops=stops, unplaced=unplaced, total_m=total, start=start)


# ---------------------------------------------------------------- ICS feed


def ics_tasks(user: User, *, start: dt.date, days: int = 60) -> list[Task]:
    """The person's open tasks from ``start`` for ``days`` days (overdue ones on their due day)."""
    return list(
        task_queryset(user)
        .filter(
            assignee_id=user.pk,
            status=Task.Status.OPEN,
            due_on__gte=start,
            due_on__lt=start + dt.timedelta(days=days),
        )
        .select_related("customer")
        .only(
            "id",
            "title",
            "kind",
            "script",
            "due_on",
            "due_at",
            "version",
            "created_at",
            "customer__id",
            "customer__name",
            "customer__city",
            "customer__address",
        )
        .order_by("due_on", "id")[:2000]
    )
