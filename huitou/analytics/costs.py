"""Cost-to-serve of each customer (DOMAIN §2, best and worst customers).

What serving a customer cost in a period, from six sources, each read with one GROUP BY:

- tasks done (``followups.Task``), priced per kind by policy ``serve_costs.task_*``;
- visits (``customers.Activity`` of kind visit), priced by ``serve_costs.visit``;
- tickets received (``feedback.Ticket``), priced per kind (complaint, service request);
- concessions approved or offered (``feedback.Concession``), at their actual value;
- vouchers redeemed (``referrals.Voucher``), at their value;
- gifts handed over on a task done (``followups.Task.gift``), at the gift's catalogue value.

Completing a task logs its touch on the timeline (``followups.services.task_complete``); a task
whose touch was a visit is therefore priced once, as a visit, and not again as a task.

The period runs from ``start`` to ``end``, both days included, in the site's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt
from django.db.models import Count, DateTimeField, F, FloatField, Q, Sum
from django.db.models.functions import Cast, Coalesce, TruncMonth
from django.utils import timezone

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User
    from huitou.accounts.policy import ServeCostPolicy
    from huitou.customers.models import Customer

ZERO = Decimal("0")
CENT = Decimal("0.01")
# SQLite refuses more than 32,766 bound parameters; lists of ids are sent in slices below that.
_ID_CHUNK = 10_000
COMPONENTS = ("tasks", "visits", "tickets", "concessions", "vouchers", "gifts")


class ServeCost(NamedTuple):
    """One customer's (or customer-month's) cost-to-serve in ¥, by source, and their total."""

    tasks: Decimal = ZERO
    visits: Decimal = ZERO
    tickets: Decimal = ZERO
    concessions: Decimal = ZERO
    vouchers: Decimal = ZERO
    gifts: Decimal = ZERO
    total: Decimal = ZERO


Key = Any  # int (customer id) or (customer id, first day of the month)


def period_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Aware datetimes [start 00:00, the day after end 00:00) in the current time zone."""
    tz = timezone.get_current_timezone()
    lo = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return lo, hi


def _task_price(policy: ServeCostPolicy, kind: str) -> Decimal:
    if kind == "call":
        return policy.task_call
    if kind == "wechat":
        return policy.task_wechat
    return policy.task_message


def _ticket_price(policy: ServeCostPolicy, kind: str) -> Decimal:
    return policy.ticket_request if kind == "request" else policy.ticket_complaint


def _task_touch_was_visit() -> Q:
    # Mirrors followups.services._activity_kind: these tasks logged a visit on the timeline.
    return Q(outcome="visit_done") | (Q(kind="visit") & ~Q(outcome__in=("gift_given", "message_sent")))


def _chunks(ids: Sequence[int] | None) -> Iterator[list[int] | None]:
    if ids is None:
        yield None
        return
    for i in range(0, len(ids), _ID_CHUNK):
        yield list(ids[i : i + _ID_CHUNK])


# Components priced per piece of work and kind (a count); visits are priced per visit; the others
# are taken at their actual value (a sum).
BY_KIND = ("tasks", "tickets")


def price_of(policy: ServeCostPolicy, component: str, kind: str) -> Decimal:
    if component == "tasks":
        return _task_price(policy, kind)
    if component == "tickets":
        return _ticket_price(policy, kind)
    return policy.visit


def source_rows(
    organisation: Organisation,
    *,
    start: dt.date,
    end: dt.date,
    customer_ids: Iterable[int] | None = None,
    by_month: bool = False,
    customer_q: Callable[[str], Q] | None = None,
    as_float: bool = False,
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """(component, rows) per source, rows being (customer id, kind, count) for the priced
    components and (customer id, ¥) for the others, each followed by the month's first moment
    when ``by_month``. One GROUP BY per source (and per slice of ``customer_ids``); nothing is
    read row by row. ``customer_q(prefix)`` is an extra condition on the customer reached through
    ``prefix`` (a viewer's scope and filters). ``as_float`` sums money as floats (for ranking)."""
    from huitou.customers.models import Activity
    from huitou.feedback.models import Concession, Ticket
    from huitou.followups.models import Task
    from huitou.referrals.models import Voucher

    org_id = organisation.pk
    lo, hi = period_bounds(start, end)
    ids = None if customer_ids is None else sorted(set(customer_ids))

    def total(field: str) -> Any:
        return Cast(Sum(field), FloatField()) if as_float else Sum(field)

    def grouped(qs: Any, when: str, *fields: str, **agg: Any) -> list[tuple[Any, ...]]:
        (name,) = agg
        group = list(fields)
        if by_month:
            qs = qs.annotate(_month=TruncMonth(when))
            group.append("_month")
        qs = qs.values(*group).order_by().annotate(**agg)
        names = (*fields, name, *(["_month"] if by_month else []))
        if as_float and not by_month:
            return _plain_rows(qs, names)
        return list(qs.values_list(*names))

    for chunk in _chunks(ids):
        scope = Q() if chunk is None else Q(customer_id__in=chunk)
        cscope = Q() if chunk is None else Q(ticket__customer_id__in=chunk)
        if customer_q is not None:
            scope &= customer_q("customer__")
            cscope &= customer_q("ticket__customer__")

        done = Task.objects.filter(
            scope, organisation_id=org_id, status="done", completed_at__gte=lo, completed_at__lt=hi
        )
        yield (
            "tasks",
            grouped(
                done.exclude(_task_touch_was_visit()), "completed_at", "customer_id", "kind", n=Count("id")
            ),
        )
        yield (
            "gifts",
            grouped(done.filter(gift__isnull=False), "completed_at", "customer_id", v=total("gift__value")),
        )
        visits = Activity.objects.filter(
            scope, organisation_id=org_id, kind="visit", occurred_at__gte=lo, occurred_at__lt=hi
        )
        yield "visits", grouped(visits, "occurred_at", "customer_id", n=Count("id"))
        tickets = Ticket.objects.filter(
            scope, organisation_id=org_id, received_at__gte=lo, received_at__lt=hi
        )
        yield "tickets", grouped(tickets, "received_at", "customer_id", "kind", n=Count("id"))
        concessions = (
            Concession.objects.filter(
                cscope, ticket__organisation_id=org_id, status__in=("approved", "offered")
            )
            .annotate(
                _at=Coalesce("offered_at", "decided_at", "created_at", output_field=DateTimeField()),
                customer_id=F("ticket__customer_id"),
            )
            .filter(_at__gte=lo, _at__lt=hi)
        )
        yield "concessions", grouped(concessions, "_at", "customer_id", v=total("value"))
        vouchers = Voucher.objects.filter(
            scope, organisation_id=org_id, status="redeemed", redeemed_at__gte=lo, redeemed_at__lt=hi
        )
        yield "vouchers", grouped(vouchers, "redeemed_at", "customer_id", v=total("value"))


def _plain_rows(qs: Any, names: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of ``qs.values_list(*names)`` as the driver returns them, for ids, kinds, counts
    and float sums, which need none of Django's per-value converters. The owner's table groups
    about two million rows; through the ORM's iterator that took 3 s of Python at 1M customers."""
    from django.db import connections

    sql, params = qs.values_list(*names).query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c[0] for c in cursor.description]
        rows = cursor.fetchall()
    # Django selects a grouped query's fields before its aggregates; every caller names them so.
    if columns != list(names):
        raise ValueError(f"columns {columns} are not {list(names)}")
    return rows


def _month_of(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.date().replace(day=1)
    return value.replace(day=1)  # type: ignore[no-any-return]


def component_rows(
    organisation: Organisation,
    *,
    start: dt.date,
    end: dt.date,
    customer_ids: Iterable[int] | None = None,
    by_month: bool = False,
    customer_q: Callable[[str], Q] | None = None,
) -> Iterator[tuple[str, int, dt.date | None, Decimal]]:
    """(component, customer id, first day of the month or None, ¥) rows, several per customer."""
    policy = organisation.policy.serve_costs
    for component, rows in source_rows(
        organisation,
        start=start,
        end=end,
        customer_ids=customer_ids,
        by_month=by_month,
        customer_q=customer_q,
    ):
        for row in rows:
            month = _month_of(row[-1]) if by_month else None
            if component in BY_KIND:
                yield component, row[0], month, price_of(policy, component, row[1]) * row[2]
            elif component == "visits":
                yield component, row[0], month, policy.visit * row[1]
            else:
                yield component, row[0], month, Decimal(row[1] or 0)


def serve_costs(
    organisation: Organisation,
    *,
    start: dt.date,
    end: dt.date,
    customer_ids: Iterable[int] | None = None,
    by_month: bool = False,
) -> dict[Key, ServeCost]:
    """Cost-to-serve per customer id, or per (customer id, first day of the month) when ``by_month``.

    Only customers with some cost in the period appear. ``customer_ids`` limits the customers read;
    the caller is responsible for having scoped them to what its viewer may see.
    """
    position = {c: i for i, c in enumerate(COMPONENTS)}
    sums: dict[Key, list[Decimal]] = {}
    for component, customer_id, month, amount in component_rows(
        organisation, start=start, end=end, customer_ids=customer_ids, by_month=by_month
    ):
        key: Key = (customer_id, month) if by_month else customer_id
        parts = sums.get(key)
        if parts is None:
            parts = sums[key] = [ZERO] * len(COMPONENTS)
        parts[position[component]] += amount
    out: dict[Key, ServeCost] = {}
    for key, parts in sums.items():
        # Quantized so that both databases return the same figures (SQLite drops trailing zeros).
        values = [p.quantize(CENT) for p in parts]
        out[key] = ServeCost._make([*values, sum(values, ZERO)])
    return out


# ---------------------------------------------------------------- best and worst customers


VIEWER_ROLES = {"owner", "manager", "rep"}
CACHE_SECONDS = 300


def can_view_costs(viewer: User) -> bool:
    from huitou.accounts import permissions

    return permissions.is_active_member(viewer) and viewer.role in VIEWER_ROLES


@dataclass(frozen=True)
class CostFilters:
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None


@dataclass(frozen=True)
class CostTable:
    """Every customer with margin or cost in the period, as arrays ordered by net value (margin −
    cost), worst first. Floats rank and sum; the figures shown per row are re-read exactly."""

    ids: npt.NDArray[np.int64]
    margin: npt.NDArray[np.float64]
    cost: npt.NDArray[np.float64]
    # When the nightly run ranked it (``ServeCostTable``); None when worked out for this request.
    kept_at: dt.datetime | None = None

    def narrowed(self, keep: npt.NDArray[np.bool_]) -> CostTable:
        return CostTable(
            ids=self.ids[keep], margin=self.margin[keep], cost=self.cost[keep], kept_at=self.kept_at
        )

    @property
    def net(self) -> npt.NDArray[np.float64]:
        return self.margin - self.cost

    @property
    def customers(self) -> int:
        return int(self.ids.size)

    @property
    def losing(self) -> int:
        """Customers who cost more to serve than the margin they brought."""
        return int(np.count_nonzero(self.net < -0.005))

    @property
    def losing_share(self) -> float:
        return self.losing / self.customers if self.customers else 0.0

    def worst(self) -> npt.NDArray[np.intp]:
        """Positions of the losing customers, most negative first."""
        return np.arange(self.losing, dtype=np.intp)

    def best(self) -> npt.NDArray[np.intp]:
        """Positions of the customers who brought more than they cost, best first."""
        gaining = int(np.count_nonzero(self.net > 0.005))
        return np.arange(self.customers - 1, self.customers - 1 - gaining, -1, dtype=np.intp)


def _scope_fn(viewer: User, f: CostFilters) -> Callable[[str], Q] | None:
    from huitou.accounts import permissions

    if viewer.role == permissions.OWNER and not (f.store_id or f.team_id or f.rep_id):
        return None  # every source is already limited to the organisation

    def q(prefix: str) -> Q:
        out = permissions.customer_scope(viewer, prefix)
        if f.store_id:
            out &= Q(**{f"{prefix}store_id": f.store_id})
        if f.team_id:
            out &= Q(**{f"{prefix}owner__team_id": f.team_id})
        if f.rep_id:
            out &= Q(**{f"{prefix}owner_id": f.rep_id})
        return out

    return q


def _margin_rows(
    org_id: int,
    start: dt.date,
    end: dt.date,
    scope: Callable[[str], Q] | None,
    ids: Sequence[int] | None = None,
    *,
    as_float: bool = False,
) -> list[tuple[Any, ...]]:
    """(customer id, margin) of the purchases ordered in the period."""
    from huitou.customers.models import Purchase

    out: list[tuple[Any, ...]] = []
    total = Cast(Sum("margin"), FloatField()) if as_float else Sum("margin")
    for chunk in _chunks(ids):
        qs = Purchase.objects.filter(organisation_id=org_id, ordered_on__gte=start, ordered_on__lte=end)
        if scope is not None:
            qs = qs.filter(scope("customer__"))
        if chunk is not None:
            qs = qs.filter(customer_id__in=chunk)
        grouped = qs.values("customer_id").order_by().annotate(m=total)
        if as_float:
            out.extend(_plain_rows(grouped, ("customer_id", "m")))
        else:
            out.extend(grouped.values_list("customer_id", "m"))
    return out


def _build_table(
    org: Organisation, start: dt.date, end: dt.date, scope: Callable[[str], Q] | None
) -> CostTable:
    """The customers (all of ``org``'s, or those ``scope`` admits) ranked by margin − cost."""
    policy = org.policy.serve_costs
    id_parts: list[npt.NDArray[np.int64]] = []
    margin_parts: list[npt.NDArray[np.float64]] = []
    cost_parts: list[npt.NDArray[np.float64]] = []

    def add(rows: list[tuple[Any, ...]], values: npt.NDArray[np.float64], *, is_margin: bool) -> None:
        id_parts.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
        zeros = np.zeros(len(rows), dtype=np.float64)
        margin_parts.append(values if is_margin else zeros)
        cost_parts.append(zeros if is_margin else values)

    def column(rows: list[tuple[Any, ...]], i: int) -> npt.NDArray[np.float64]:
        return np.fromiter((r[i] or 0.0 for r in rows), dtype=np.float64, count=len(rows))

    m_rows = _margin_rows(org.pk, start, end, scope, as_float=True)
    add(m_rows, column(m_rows, 1), is_margin=True)
    for component, rows in source_rows(org, start=start, end=end, customer_q=scope, as_float=True):
        if component in BY_KIND:
            prices = {k: float(price_of(policy, component, k)) for k in {r[1] for r in rows}}
            kind_price = np.fromiter((prices[r[1]] for r in rows), dtype=np.float64, count=len(rows))
            add(rows, kind_price * column(rows, 2), is_margin=False)
        elif component == "visits":
            add(rows, float(policy.visit) * column(rows, 1), is_margin=False)
        else:
            add(rows, column(rows, 1), is_margin=False)
    ids, inverse = np.unique(np.concatenate(id_parts), return_inverse=True)
    margin = np.bincount(inverse, weights=np.concatenate(margin_parts), minlength=ids.size)
    cost = np.bincount(inverse, weights=np.concatenate(cost_parts), minlength=ids.size)
    # Worst first; ties by customer id so pages are stable.
    order = np.lexsort((ids, margin - cost))
    return CostTable(
        ids=ids[order].astype(np.int64),
        margin=margin[order].astype(np.float64),
        cost=cost[order].astype(np.float64),
    )


def cost_table(viewer: User, *, start: dt.date, end: dt.date, filters: CostFilters) -> CostTable:
    """The viewer's customers ranked by margin − cost-to-serve in the period.

    A table worked out for a request is cached for a few minutes per viewer (per organisation for
    its owners), filters and policy version, so paging and the export reuse one computation. When
    none is cached and the nightly run kept the organisation's table for this period and policy
    (:func:`kept_table`), that is read and narrowed to the customers the viewer's scope and
    filters admit (one query for their ids). Otherwise the table is worked out."""
    from django.core.cache import cache

    if not can_view_costs(viewer):
        empty = np.zeros(0)
        return CostTable(ids=empty.astype(np.int64), margin=empty, cost=empty)
    org = viewer.organisation
    assert org is not None
    scope = _scope_fn(viewer, filters)
    key = ":".join(
        str(x)
        for x in (
            "serve-costs",
            org.pk,
            org.policy_version,
            # The whole organisation's table (an owner without filters) is the same for every
            # owner, so they share it; any narrower one is the viewer's own.
            "org" if scope is None else f"{viewer.pk}:{viewer.role}",
            start.isoformat(),
            end.isoformat(),
            filters.store_id,
            filters.team_id,
            filters.rep_id,
        )
    )
    cached = cache.get(key)
    if cached is not None:
        ids, margin, cost = cached
        return CostTable(ids=ids, margin=margin, cost=cost)
    kept = kept_table(org, start=start, end=end)
    if kept is not None:
        # Not cached: reading the kept row costs about what the cache would.
        return kept if scope is None else kept.narrowed(np.isin(kept.ids, _customer_ids(org.pk, scope)))
    table = _build_table(org, start, end, scope)
    cache.set(key, (table.ids, table.margin, table.cost), CACHE_SECONDS)
    return table


def _customer_ids(org_id: int, scope: Callable[[str], Q]) -> npt.NDArray[np.int64]:
    """Ids of the organisation's customers that ``scope`` admits (the same condition the sources
    apply through ``customer__`` when the table is worked out), read straight from the driver."""
    from huitou.customers.models import Customer

    qs = Customer.objects.filter(scope(""), organisation_id=org_id).order_by().values("id")
    rows = _plain_rows(qs, ("id",))
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def kept_period(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The period the nightly run keeps: the page's default on ``as_of`` (the last 365 days)."""
    from .forms_qualify import CostFilterForm

    return as_of - dt.timedelta(days=CostFilterForm.default_days - 1), as_of


def kept_table(org: Organisation, *, start: dt.date, end: dt.date) -> CostTable | None:
    """The organisation's table as the nightly run of ``end`` kept it, when that run covered
    exactly ``start``–``end`` with the organisation's current policy; else None. One query."""
    from .models_costs import CostFill, ServeCostTable

    row = (
        ServeCostTable.objects.filter(
            organisation_id=org.pk,
            as_of=end,
            start=start,
            policy_version=org.policy_version,
            as_of__in=CostFill.objects.filter(
                organisation_id=org.pk, as_of=end, status=CostFill.Status.DONE
            ).values("as_of"),
        )
        .values_list("ids", "margin", "cost", "computed_at")
        .first()
    )
    if row is None:
        return None
    ids, margin, cost, computed_at = row
    return CostTable(
        ids=np.frombuffer(bytes(ids), dtype=np.int64),
        margin=np.frombuffer(bytes(margin), dtype=np.float64),
        cost=np.frombuffer(bytes(cost), dtype=np.float64),
        kept_at=computed_at,
    )


def costs_refresh(*, organisation: Organisation, as_of: dt.date, clock: Any = None) -> dict[str, Any]:
    """The nightly phase: rank the organisation's customers over :func:`kept_period` and keep
    the arrays (``ServeCostTable``), replacing the day's row and the older days' (the page reads
    only the newest). A failed run leaves a ``failed`` fill row and no table for the day."""
    from django.db import transaction

    from .models_costs import CostFill, ServeCostTable
    from .nightly import lap, running_fill

    with running_fill(CostFill, organisation, as_of) as fill:
        start, end = kept_period(as_of)
        table = _build_table(organisation, start, end, None)
        lap(clock, "compute")
        with transaction.atomic():
            ServeCostTable.objects.filter(organisation=organisation, as_of__lte=as_of).delete()
            ServeCostTable.objects.create(
                organisation=organisation,
                as_of=as_of,
                start=start,
                policy_version=organisation.policy_version,
                ids=np.ascontiguousarray(table.ids, dtype=np.int64).tobytes(),
                margin=np.ascontiguousarray(table.margin, dtype=np.float64).tobytes(),
                cost=np.ascontiguousarray(table.cost, dtype=np.float64).tobytes(),
                computed_at=timezone.now(),
            )
            lap(clock, "write")
            fill.status = CostFill.Status.DONE
            fill.finished_at = timezone.now()
            fill.customers = table.customers
            # The period and policy version are on the table's row; the fill says what it found.
            fill.summary = {"losing": table.losing}
            fill.save(update_fields=["status", "finished_at", "customers", "summary"])
    return {"organisation": organisation.slug, "as_of": as_of.isoformat(), "customers": table.customers}


@dataclass(frozen=True)
class CostRow:
    customer: Customer
    margin: Decimal
    cost: ServeCost

    @property
    def net(self) -> Decimal:
        return self.margin - self.cost.total


def cost_rows(viewer: User, *, start: dt.date, end: dt.date, customer_ids: Sequence[int]) -> list[CostRow]:
    """Exact figures of the given customers (one page of the table), in that order; three queries
    for the customers and margins plus one per cost source."""
    from huitou.accounts import permissions
    from huitou.customers.models import Customer

    if not customer_ids:
        return []
    org = viewer.organisation
    assert org is not None
    customers = {
        c.pk: c
        for c in Customer.objects.filter(
            permissions.customer_scope(viewer), pk__in=list(customer_ids)
        ).select_related("owner", "store")
    }
    ids = [i for i in customer_ids if i in customers]
    margins = dict(_margin_rows(org.pk, start, end, None, ids))
    costs = serve_costs(org, start=start, end=end, customer_ids=ids)
    return [
        CostRow(
            customer=customers[i],
            margin=Decimal(margins.get(i) or ZERO).quantize(CENT),
            cost=costs.get(i, ServeCost._make([ZERO.quantize(CENT)] * 7)),
        )
        for i in ids
    ]
