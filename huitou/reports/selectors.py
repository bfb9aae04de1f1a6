"""Reads of the account reports (DOMAIN §7). Every query starts from the viewer's scope.

- The account report reads one account's rows (a distributor's few thousand orders at most) and
  does the arithmetic in ``metrics``.
- The accounts overview pages customers along an index and aggregates only the page's accounts.
- Receivables and the funnel are one GROUP BY each (per source), bounded by the period's index.

Definitions (shown on the pages too):
- sales: the amount of the account's purchases ordered in the period (workshop visits included);
- a purchase is due on its payment due day, or, without one, on the day it was ordered;
- open: paid less than the amount; overdue: open and past its due day;
- collection delay: days from the due day to the day paid in full (early counts as 0), by the
  month it was paid;
- visits planned: visit tasks due in the period (cancelled ones excluded), of which done; visits
  done: visits logged on the timeline in the period (a completed visit task logs one, and so does
  a visit recorded without a task).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.http import Http404
from django.utils import timezone

from huitou.accounts import permissions
from huitou.accounts.models import Store, User
from huitou.analytics.costs import serve_costs
from huitou.core.months import add_months, month_first, month_last
from huitou.customers.models import Activity, Customer, Purchase
from huitou.customers.selectors import customer_queryset
from huitou.followups.models import Channel, Task
from huitou.referrals.models import Stage
from huitou.referrals.selectors import referral_queryset

from . import metrics
from .models import Promotion, PromotionPurchase, StockCheck, WalletEstimate
from .policy import report_policy

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation

ZERO = Decimal("0.00")
YEARS_SHOWN = 5
MAX_FUNNEL_MONTHS = 24
MONEY = DecimalField(max_digits=16, decimal_places=2)


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()), timezone.get_current_timezone())


def _local_day(value: dt.datetime) -> dt.date:
    return timezone.localtime(value).date()


# ---------------------------------------------------------------------------------------------
# Selling cost (huitou.analytics.costs)


def selling_costs(
    organisation: Organisation,
    *,
    start: dt.date,
    end: dt.date,
    customer_ids: list[int] | None,
    by_month: bool,
) -> dict[Any, Decimal]:
    """Total selling cost (analytics' cost-to-serve: tasks, visits, tickets, concessions, vouchers,
    gifts) per customer id, or per (customer id, month start) when ``by_month``."""
    raw = serve_costs(organisation, start=start, end=end, customer_ids=customer_ids, by_month=by_month)
    return {key: Decimal(value.total) for key, value in raw.items()}


# ---------------------------------------------------------------------------------------------
# One account


def account_or_none(viewer: User, customer_id: int) -> Customer | None:
    """The account if the viewer may see it (prospects too: a lead can have a plan of visits)."""
    return customer_queryset(viewer).select_related("owner", "store").filter(pk=customer_id).first()


def account_for(viewer: User, customer_id: int) -> Customer:
    """The account if the viewer may see it; 404 otherwise (we never tell which)."""
    customer = account_or_none(viewer, customer_id)
    if customer is None:
        raise Http404
    return customer


@dataclass(frozen=True)
class PeriodRow:
    """One month or one year of an account."""

    key: str  # "2025-03" or "2025"
    start: dt.date
    end: dt.date
    sales: Decimal
    previous_sales: Decimal  # the period before (previous month / previous year)
    last_year_sales: Decimal  # the same period a year before (monthly rows; = previous for years)
    wallet: Decimal | None  # the year's estimate (monthly rows: of the month's year)
    sales_to_date: Decimal  # sales of the year up to the period's end (share of wallet to date)
    cost: Decimal
    previous_cost: Decimal
    promotion_sales: Decimal
    promotion_purchases: int
    paid: int
    late: int
    mean_delay_days: float | None
    max_delay_days: int | None
    visits_planned: int
    visits_planned_done: int
    visits_done: int

    @property
    def growth_previous(self) -> float | None:
        return metrics.growth(self.sales, self.previous_sales)

    @property
    def growth_last_year(self) -> float | None:
        return metrics.growth(self.sales, self.last_year_sales)

    @property
    def share_of_wallet(self) -> float | None:
        return metrics.ratio(self.sales_to_date, self.wallet)

    @property
    def expense_ratio(self) -> float | None:
        """Selling cost ÷ sales."""
        return metrics.ratio(self.cost, self.sales)

    @property
    def cost_growth(self) -> float | None:
        return metrics.growth(self.cost, self.previous_cost)

    @property
    def cost_vs_sales(self) -> float | None:
        """Growth of selling cost minus growth of sales: above 0, costs grow faster than sales."""
        c, s = self.cost_growth, self.growth_previous
        return None if c is None or s is None else c - s

    @property
    def visit_plan_rate(self) -> float | None:
        return metrics.ratio(self.visits_planned_done, self.visits_planned)


class _Lift:
    """A promotion's lift: the sales in its days against as many days just before (the
    dataclasses below carry both)."""

    sales_during: Decimal
    sales_before: Decimal

    @property
    def lift(self) -> Decimal:
        return self.sales_during - self.sales_before

    @property
    def lift_rate(self) -> float | None:
        return metrics.growth(self.sales_during, self.sales_before)


@dataclass(frozen=True)
class PromotionRow(_Lift):
    promotion_id: int
    name: str
    starts_on: dt.date
    ends_on: dt.date
    purchases: int  # tagged purchases of the account
    promotion_sales: Decimal
    sales_during: Decimal  # all the account's sales in the promotion's days
    sales_before: Decimal  # in as many days just before (or the policy's baseline days)
    baseline_days: int


@dataclass(frozen=True)
class AccountReport:
    customer: Customer
    year: int
    today: dt.date
    months: list[PeriodRow]
    years: list[PeriodRow]
    ageing: metrics.Ageing
    ageing_edges: tuple[int, ...]
    delays: metrics.Delays  # over every purchase paid in the years shown
    promotions: list[PromotionRow]
    stock: StockStatus | None = None  # None: the policy does not check this kind of account


@dataclass
class _AccountData:
    day: np.ndarray  # ordinal of ordered_on
    amount: np.ndarray  # cents
    paid_day: np.ndarray  # ordinal of paid_on of fully paid purchases (−1 otherwise)
    due_day: np.ndarray
    promo: np.ndarray  # bool: tagged with a promotion
    visit_due: np.ndarray  # ordinals of visit tasks due (not cancelled)
    visit_due_done: np.ndarray  # bool per visit task: done
    visit_day: np.ndarray  # ordinals of visits logged
    wallet: dict[int, Decimal] = field(default_factory=dict)


def _ordinals(days: list[Any]) -> np.ndarray:
    """Day numbers of dates (never None here: the queries ask for set dates only)."""
    return np.array([d.toordinal() for d in days], dtype=np.int64)


def _load_account(customer: Customer, first: dt.date, last: dt.date) -> _AccountData:
    rows = list(
        Purchase.objects.filter(customer_id=customer.pk, ordered_on__gte=first, ordered_on__lte=last)
        .annotate(promo=Exists(PromotionPurchase.objects.filter(purchase_id=OuterRef("pk"))))
        .values_list("ordered_on", "amount", "paid_amount", "paid_on", "payment_due_on", "promo")
    )
    paid_rows = list(
        Purchase.objects.filter(
            customer_id=customer.pk, paid_on__gte=first, paid_on__lte=last, paid_amount__gte=F("amount")
        ).values_list("paid_on", "payment_due_on", "ordered_on")
    )
    tasks = list(
        Task.objects.filter(customer_id=customer.pk, kind=Channel.VISIT, due_on__gte=first, due_on__lte=last)
        .exclude(status=Task.Status.CANCELLED)
        .values_list("due_on", "status")
    )
    visits = list(
        Activity.objects.filter(
            customer_id=customer.pk,
            kind=Activity.Kind.VISIT,
            occurred_at__gte=_start_of(first),
            occurred_at__lt=_start_of(last + dt.timedelta(days=1)),
        ).values_list("occurred_at", flat=True)
    )
    wallet = dict(
        WalletEstimate.objects.filter(
            customer_id=customer.pk, year__gte=first.year, year__lte=last.year
        ).values_list("year", "amount")
    )
    return _AccountData(
        day=_ordinals([r[0] for r in rows]),
        amount=metrics.cents([r[1] for r in rows]),
        paid_day=_ordinals([r[0] for r in paid_rows]),
        due_day=_ordinals([r[1] or r[2] for r in paid_rows]),
        promo=np.array([bool(r[5]) for r in rows], dtype=bool),
        visit_due=_ordinals([t[0] for t in tasks]),
        visit_due_done=np.array([t[1] == Task.Status.DONE for t in tasks], dtype=bool),
        visit_day=_ordinals([_local_day(v) for v in visits]),
        wallet=wallet,
    )


def _sum_between(days: np.ndarray, amounts: np.ndarray, start: dt.date, end: dt.date) -> Decimal:
    keep = (days >= start.toordinal()) & (days <= end.toordinal())
    return metrics.money(amounts[keep].sum())


def _count_between(days: np.ndarray, start: dt.date, end: dt.date) -> int:
    return int(((days >= start.toordinal()) & (days <= end.toordinal())).sum())


def _period_row(
    data: _AccountData,
    *,
    key: str,
    start: dt.date,
    end: dt.date,
    previous: tuple[dt.date, dt.date],
    last_year: tuple[dt.date, dt.date],
    costs: dict[Any, Decimal],
    cost_key: Any,
    previous_cost_key: Any,
) -> PeriodRow:
    inside = (data.paid_day >= start.toordinal()) & (data.paid_day <= end.toordinal())
    late = metrics.delays(data.paid_day[inside], data.due_day[inside])
    planned = (data.visit_due >= start.toordinal()) & (data.visit_due <= end.toordinal())
    promo_days = data.day[data.promo]
    year_start = dt.date(end.year, 1, 1)
    cost = _cost_sum(costs, cost_key)
    previous_cost = _cost_sum(costs, previous_cost_key)
    return PeriodRow(
        key=key,
        start=start,
        end=end,
        sales=_sum_between(data.day, data.amount, start, end),
        previous_sales=_sum_between(data.day, data.amount, *previous),
        last_year_sales=_sum_between(data.day, data.amount, *last_year),
        wallet=data.wallet.get(end.year),
        sales_to_date=_sum_between(data.day, data.amount, year_start, end),
        cost=cost,
        previous_cost=previous_cost,
        promotion_sales=_sum_between(promo_days, data.amount[data.promo], start, end),
        promotion_purchases=_count_between(promo_days, start, end),
        paid=late.paid,
        late=late.late,
        mean_delay_days=late.mean_days,
        max_delay_days=late.max_days,
        visits_planned=int(planned.sum()),
        visits_planned_done=int((planned & data.visit_due_done).sum()),
        visits_done=_count_between(data.visit_day, start, end),
    )


def _cost_sum(costs: dict[Any, Decimal], keys: Any) -> Decimal:
    return sum((costs.get(k, ZERO) for k in keys), ZERO)


def account_report(
    viewer: User, customer: Customer, *, year: int, today: dt.date | None = None
) -> AccountReport:
    """Months of ``year`` and the ``YEARS_SHOWN`` years up to it, receivables as of ``today``.

    A year still running is compared with the same days of the year before (year to date), so an
    unfinished year does not look like a fall."""
    today = today or timezone.localdate()
    organisation = customer.organisation
    policy = report_policy(organisation)
    first_year = year - YEARS_SHOWN + 1
    first = dt.date(first_year - 1, 1, 1)
    last = dt.date(year, 12, 31)
    data = _load_account(customer, first, last)

    raw_costs = selling_costs(organisation, start=first, end=last, customer_ids=[customer.pk], by_month=True)
    costs = {k[1]: v for k, v in raw_costs.items()}

    months = []
    for m in range(1, 13):
        start = dt.date(year, m, 1)
        end = month_last(start)
        prev = add_months(start, -1)
        ly = dt.date(year - 1, m, 1)
        months.append(
            _period_row(
                data,
                key=start.strftime("%Y-%m"),
                start=start,
                end=end,
                previous=(prev, month_last(prev)),
                last_year=(ly, month_last(ly)),
                costs=costs,
                cost_key=[start],
                previous_cost_key=[prev],
            )
        )
    years = []
    for y in range(first_year, year + 1):
        start, end = dt.date(y, 1, 1), dt.date(y, 12, 31)
        prev_start, prev_end = dt.date(y - 1, 1, 1), dt.date(y - 1, 12, 31)
        if y == today.year:
            # Year to date against the same days a year before.
            end = today
            prev_end = _same_day(today, y - 1)
        month_keys = [dt.date(y, m, 1) for m in range(1, end.month + 1)]
        prev_keys = [dt.date(y - 1, m, 1) for m in range(1, prev_end.month + 1)]
        years.append(
            _period_row(
                data,
                key=str(y),
                start=start,
                end=end,
                previous=(prev_start, prev_end),
                last_year=(prev_start, prev_end),
                costs=costs,
                cost_key=month_keys,
                previous_cost_key=prev_keys,
            )
        )
    all_paid = metrics.delays(data.paid_day, data.due_day)
    return AccountReport(
        customer=customer,
        year=year,
        today=today,
        months=months,
        years=years,
        ageing=account_ageing(customer, today=today, edges=policy.ageing_edges),
        ageing_edges=policy.ageing_edges,
        delays=all_paid,
        promotions=_account_promotions(
            customer,
            data,
            first=dt.date(first_year, 1, 1),
            last=last,
            policy_days=policy.promotion_baseline_days,
        ),
        stock=account_stock(customer, year=year) if policy.stock_checks_apply(customer.kind) else None,
    )


def _same_day(day: dt.date, year: int) -> dt.date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February
        return day.replace(year=year, day=28)


def account_ageing(customer: Customer, *, today: dt.date, edges: tuple[int, ...]) -> metrics.Ageing:
    rows = list(
        Purchase.objects.filter(customer_id=customer.pk, open_amount__gt=0).values_list(
            "amount", "paid_amount", "payment_due_on", "ordered_on"
        )
    )
    outstanding = metrics.cents([r[0] for r in rows]) - metrics.cents([r[1] for r in rows])
    due = _ordinals([r[2] or r[3] for r in rows])
    return metrics.ageing(outstanding, today.toordinal() - due, edges)


def _account_promotions(
    customer: Customer, data: _AccountData, *, first: dt.date, last: dt.date, policy_days: int
) -> list[PromotionRow]:
    tagged = list(
        PromotionPurchase.objects.filter(
            customer_id=customer.pk, promotion__ends_on__gte=first, promotion__starts_on__lte=last
        )
        .values("promotion_id", "promotion__name", "promotion__starts_on", "promotion__ends_on")
        .annotate(n=Count("pk"), total=Sum("purchase__amount"))
        .order_by("promotion__starts_on", "promotion_id")
    )
    out = []
    for t in tagged:
        starts, ends = t["promotion__starts_on"], t["promotion__ends_on"]
        days = policy_days or (ends - starts).days + 1
        out.append(
            PromotionRow(
                promotion_id=t["promotion_id"],
                name=t["promotion__name"],
                starts_on=starts,
                ends_on=ends,
                purchases=t["n"],
                promotion_sales=(t["total"] or ZERO).quantize(metrics.CENT),
                sales_during=_sum_between(data.day, data.amount, starts, ends),
                sales_before=_sum_between(
                    data.day, data.amount, starts - dt.timedelta(days=days), starts - dt.timedelta(days=1)
                ),
                baseline_days=days,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Display and stock (distributors)


@dataclass(frozen=True)
class StockMonth:
    key: str  # "2025-03"
    start: dt.date
    check: StockCheck | None  # the month's latest check (None: not checked that month)


@dataclass(frozen=True)
class StockStatus:
    latest: StockCheck | None  # the account's latest check, whatever the year
    months: list[StockMonth]  # the report year's months
    checks_in_year: int


def account_stock(customer: Customer, *, year: int) -> StockStatus:
    """The latest check and each month's latest check of ``year``: two reads along
    (customer, checked_on), a year holding a few dozen checks at most."""
    rows = list(
        StockCheck.objects.filter(
            customer_id=customer.pk,
            checked_on__gte=dt.date(year, 1, 1),
            checked_on__lte=dt.date(year, 12, 31),
        )
        .select_related("checked_by")
        .order_by("checked_on", "id")
    )
    by_month: dict[int, StockCheck] = {}
    for r in rows:
        by_month[r.checked_on.month] = r  # ordered: the last one of a month wins
    latest = (
        StockCheck.objects.filter(customer_id=customer.pk)
        .select_related("checked_by")
        .order_by("-checked_on", "-id")
        .first()
    )
    months = [
        StockMonth(key=f"{year}-{m:02d}", start=dt.date(year, m, 1), check=by_month.get(m))
        for m in range(1, 13)
    ]
    return StockStatus(latest=latest, months=months, checks_in_year=len(rows))


def stock_checks(viewer: User, customer: Customer, *, limit: int = 100) -> list[StockCheck]:
    """The account's checks, newest first (``customer`` came through ``account_for``)."""
    return list(
        StockCheck.objects.filter(customer_id=customer.pk)
        .select_related("checked_by")
        .order_by("-checked_on", "-id")[:limit]
    )


def stock_checks_apply(customer: Customer) -> bool:
    return report_policy(customer.organisation).stock_checks_apply(customer.kind)


# ---------------------------------------------------------------------------------------------
# Accounts overview


@dataclass(frozen=True)
class AccountFilters:
    year: int
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None
    kind: str = ""
    sort: str = "-id"
    stock_out: bool = False  # only accounts whose latest display and stock check found stock out


SORTS = {"-id": ("-id",), "id": ("id",), "name": ("name", "id")}


def team_member_ids(viewer: User, team_id: int) -> list[int]:
    return list(
        User.objects.filter(organisation_id=permissions.org_id(viewer), team_id=team_id).values_list(
            "pk", flat=True
        )
    )


def accounts_queryset(viewer: User, filters: AccountFilters) -> QuerySet[Customer]:
    """The accounts in the viewer's scope, along an index: (organisation|owner|store, id)."""
    qs = customer_queryset(viewer).exclude(status=Customer.Status.PROSPECT)
    if filters.store_id is not None:
        qs = qs.filter(store_id=filters.store_id)
    if filters.rep_id is not None:
        qs = qs.filter(owner_id=filters.rep_id)
    if filters.team_id is not None:
        qs = qs.filter(owner_id__in=team_member_ids(viewer, filters.team_id))
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.stock_out and permissions.is_active_member(viewer):
        # A semi-join driven by the partial index of latest checks that found stock out.
        out = StockCheck.objects.filter(
            organisation_id=permissions.org_id(viewer), is_latest=True, stock=StockCheck.Stock.OUT
        )
        qs = qs.filter(pk__in=out.values("customer_id"))
    return qs.order_by(*SORTS.get(filters.sort, SORTS["-id"]))


@dataclass(frozen=True)
class AccountRow:
    id: int
    name: str
    kind: str
    rep: str
    store: str
    sales: Decimal
    previous_sales: Decimal  # the same span of the year before
    wallet: Decimal | None
    outstanding: Decimal
    overdue: Decimal
    visits_planned: int
    visits_done: int

    @property
    def growth(self) -> float | None:
        return metrics.growth(self.sales, self.previous_sales)

    @property
    def share_of_wallet(self) -> float | None:
        return metrics.ratio(self.sales, self.wallet)


def year_span(year: int, today: dt.date) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    """The year (to date, if running) and the same span of the year before."""
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    if year == today.year:
        end = today
    return start, end, dt.date(year - 1, 1, 1), _same_day(end, year - 1)


def account_rows(customers: list[Customer], *, year: int, today: dt.date) -> list[AccountRow]:
    """Figures of these accounts (already in the viewer's scope): five grouped queries in all."""
    ids = [c.pk for c in customers]
    if not ids:
        return []
    start, end, prev_start, prev_end = year_span(year, today)
    money0 = Value(ZERO, output_field=MONEY)
    sales = {
        r["customer_id"]: dict(r)
        for r in Purchase.objects.filter(customer_id__in=ids, ordered_on__gte=prev_start, ordered_on__lte=end)
        .values("customer_id")
        .annotate(
            cur=Coalesce(Sum("amount", filter=Q(ordered_on__gte=start)), money0),
            prev=Coalesce(Sum("amount", filter=Q(ordered_on__lte=prev_end)), money0),
        )
        .order_by()
    }
    open_amount = F("amount") - F("paid_amount")
    due = Coalesce("payment_due_on", "ordered_on")
    receivable = {
        r["customer_id"]: dict(r)
        for r in Purchase.objects.filter(customer_id__in=ids, open_amount__gt=0)
        .annotate(due=due)
        .values("customer_id")
        .annotate(
            outstanding=Sum(open_amount, output_field=MONEY),
            overdue=Coalesce(Sum(open_amount, filter=Q(due__lt=today), output_field=MONEY), money0),
        )
        .order_by()
    }
    wallet = dict(
        WalletEstimate.objects.filter(customer_id__in=ids, year=year).values_list("customer_id", "amount")
    )
    planned = dict(
        Task.objects.filter(customer_id__in=ids, kind=Channel.VISIT, due_on__gte=start, due_on__lte=end)
        .exclude(status=Task.Status.CANCELLED)
        .values("customer_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("customer_id", "n")
    )
    done = dict(
        Activity.objects.filter(
            customer_id__in=ids,
            kind=Activity.Kind.VISIT,
            occurred_at__gte=_start_of(start),
            occurred_at__lt=_start_of(end + dt.timedelta(days=1)),
        )
        .values("customer_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("customer_id", "n")
    )
    out = []
    for c in customers:
        s: dict[str, Any] = sales.get(c.pk, {})
        r: dict[str, Any] = receivable.get(c.pk, {})
        out.append(
            AccountRow(
                id=c.pk,
                name=c.name,
                kind=c.kind,
                rep=c.owner.label if c.owner else "",
                store=c.store.name if c.store else "",
                sales=Decimal(s.get("cur") or 0).quantize(metrics.CENT),
                previous_sales=Decimal(s.get("prev") or 0).quantize(metrics.CENT),
                wallet=wallet.get(c.pk),
                outstanding=Decimal(r.get("outstanding") or 0).quantize(metrics.CENT),
                overdue=Decimal(r.get("overdue") or 0).quantize(metrics.CENT),
                visits_planned=int(planned.get(c.pk, 0)),
                visits_done=int(done.get(c.pk, 0)),
            )
        )
    return out


def account_rows_all(
    viewer: User, filters: AccountFilters, *, today: dt.date, chunk: int = 2000, limit: int = 100_000
) -> Iterator[AccountRow]:
    """Every account of the filters, chunk by chunk along the id index (the xlsx export)."""
    qs = accounts_queryset(viewer, replace(filters, sort="id")).select_related("owner", "store")
    last_id = 0
    sent = 0
    while sent < limit:
        batch = list(qs.filter(pk__gt=last_id)[: min(chunk, limit - sent)])
        if not batch:
            return
        yield from account_rows(batch, year=filters.year, today=today)
        sent += len(batch)
        last_id = batch[-1].pk


# ---------------------------------------------------------------------------------------------
# Receivables ageing (organisation, store, rep)


@dataclass(frozen=True)
class AgeingRow:
    key: int | None
    name: str
    buckets: tuple[Decimal, ...]
    open_count: int
    overdue_count: int

    @property
    def outstanding(self) -> Decimal:
        return sum(self.buckets, ZERO)

    @property
    def overdue(self) -> Decimal:
        return sum(self.buckets[1:], ZERO)

    @property
    def overdue_share(self) -> float | None:
        return metrics.ratio(self.overdue, self.outstanding)


def _purchase_scope(
    viewer: User, *, store_id: int | None, team_id: int | None, rep_id: int | None
) -> QuerySet[Purchase]:
    org_id = permissions.org_id(viewer)
    scope = permissions.customer_scope(viewer, "customer__")
    if scope == Q(customer__organisation_id=org_id):
        # The whole organisation (owner, DCRC by policy): the purchase's own organisation says
        # it, and skipping the join to customers makes the GROUP BY 3× faster at 10M purchases.
        scope = Q()
    qs = Purchase.objects.filter(Q(organisation_id=org_id) & scope)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if rep_id is not None:
        qs = qs.filter(rep_id=rep_id)
    if team_id is not None:
        qs = qs.filter(rep_id__in=team_member_ids(viewer, team_id))
    return qs


def receivables_ageing(
    viewer: User,
    *,
    group: str = "store",
    store_id: int | None = None,
    team_id: int | None = None,
    rep_id: int | None = None,
    today: dt.date | None = None,
) -> tuple[list[AgeingRow], AgeingRow, tuple[int, ...]]:
    """Open amounts per store or per rep of the sale, in ageing buckets as of ``today``: one
    GROUP BY over the open purchases in scope. Returns rows, their total and the bucket edges."""
    today = today or timezone.localdate()
    edges = report_policy(viewer.organisation).ageing_edges
    if not permissions.is_active_member(viewer):
        return [], AgeingRow(None, "", tuple(ZERO for _ in range(len(edges) + 2)), 0, 0), edges
    open_amount = F("amount") - F("paid_amount")
    money0 = Value(ZERO, output_field=MONEY)
    bounds = [today, *(today - dt.timedelta(days=e) for e in edges)]
    conditions = [Q(due__gte=bounds[0])]
    for i in range(1, len(bounds)):
        conditions.append(Q(due__lt=bounds[i - 1], due__gte=bounds[i]))
    conditions.append(Q(due__lt=bounds[-1]))
    aggregates: dict[str, Any] = {
        f"b{i}": Coalesce(Sum(open_amount, filter=cond, output_field=MONEY), money0)
        for i, cond in enumerate(conditions)
    }
    # Counted on ``ordered_on`` (never null), not the id: every column read is then in
    # ``purchase_open_idx`` (key or INCLUDE) and the database answers from the index alone; the id
    # would send it to 160,000 table rows at 1M customers, so it scanned all 10M sales (1.2 s).
    aggregates["n"] = Count("ordered_on")
    aggregates["late"] = Count("ordered_on", filter=Q(due__lt=today))
    column = "rep_id" if group == "rep" else "store_id"
    rows = list(
        _purchase_scope(viewer, store_id=store_id, team_id=team_id, rep_id=rep_id)
        .filter(open_amount__gt=0)
        .annotate(due=Coalesce("payment_due_on", "ordered_on"))
        .values(column)
        .annotate(**aggregates)
        .order_by()
    )
    names = _names(group, [r[column] for r in rows])
    out = [
        AgeingRow(
            key=r[column],
            name=names.get(r[column], ""),
            buckets=tuple(Decimal(r[f"b{i}"]).quantize(metrics.CENT) for i in range(len(conditions))),
            open_count=r["n"],
            overdue_count=r["late"],
        )
        for r in rows
    ]
    out.sort(key=lambda r: (r.key is None, r.name, r.key or 0))
    total = AgeingRow(
        None,
        "",
        tuple(sum((r.buckets[i] for r in out), ZERO) for i in range(len(conditions))),
        sum(r.open_count for r in out),
        sum(r.overdue_count for r in out),
    )
    return out, total, edges


def _names(group: str, keys: list[int | None]) -> dict[int | None, str]:
    ids = [k for k in keys if k is not None]
    if group == "rep":
        return {u.pk: u.label for u in User.objects.filter(pk__in=ids)}
    return dict(Store.objects.filter(pk__in=ids).values_list("pk", "name"))


# ---------------------------------------------------------------------------------------------
# Sales funnel (销售漏斗)

FUNNEL_STAGES = (
    "leads",
    "verified",
    "contacted",
    "quoted",
    "won",
    "prospects",
    "converted",
    "first_purchases",
)
# Each stage's share is of the stage before it in this chain.
FUNNEL_FROM = {
    "verified": "leads",
    "contacted": "verified",
    "quoted": "contacted",
    "won": "quoted",
    "converted": "prospects",
}


@dataclass
class FunnelRow:
    key: Any
    name: str
    leads: int = 0
    verified: int = 0
    contacted: int = 0
    quoted: int = 0
    won: int = 0
    prospects: int = 0
    converted: int = 0
    first_purchases: int = 0
    first_purchase_sales: Decimal = ZERO

    def count(self, stage: str) -> int:
        return int(getattr(self, stage))

    def rate(self, stage: str) -> float | None:
        before = FUNNEL_FROM.get(stage)
        return metrics.ratio(self.count(stage), self.count(before)) if before else None

    def add(self, other: dict[str, Any]) -> None:
        for k, v in other.items():
            setattr(self, k, getattr(self, k) + v)


@dataclass(frozen=True)
class Funnel:
    start: dt.date
    end: dt.date
    by_rep: list[FunnelRow]
    by_store: list[FunnelRow]
    by_month: list[FunnelRow]
    total: FunnelRow


def _reached() -> dict[str, Q]:
    won = Q(stage=Stage.WON)
    quoted = Q(quoted_at__isnull=False) | won
    contacted = Q(contacted_at__isnull=False) | quoted
    verified = Q(verified_at__isnull=False) | contacted
    return {"verified": verified, "contacted": contacted, "quoted": quoted, "won": won}


def sales_funnel(
    viewer: User,
    *,
    start: dt.date,
    end: dt.date,
    store_id: int | None = None,
    team_id: int | None = None,
    rep_id: int | None = None,
) -> Funnel:
    """Opportunities entering from ``start``'s month to ``end``'s month, and how far they went.

    Referral leads by the day submitted, with every stage they reached since (the referral's rep
    and store); new prospects by the day they were recorded, converted when they have bought
    since (the owner rep and store); first purchases by the day ordered (the sale's rep and store).
    """
    first, last = month_first(start), month_last(end)
    tz = timezone.get_current_timezone()
    reps: list[int] | None = None
    if team_id is not None:
        reps = team_member_ids(viewer, team_id)
    cells: dict[tuple[Any, Any, dt.date], dict[str, Any]] = defaultdict(lambda: defaultdict(int))

    if permissions.is_active_member(viewer):
        refs = referral_queryset(viewer).filter(
            submitted_at__gte=_start_of(first), submitted_at__lt=_start_of(last + dt.timedelta(days=1))
        )
        refs = _narrow(refs, store_id=store_id, rep_id=rep_id, reps=reps, rep_field="rep_id")
        reached = {k: Count("pk", filter=q) for k, q in _reached().items()}
        for r in _dicts(
            refs.annotate(month=TruncMonth("submitted_at", tzinfo=tz))
            .values("rep_id", "store_id", "month")
            .annotate(leads=Count("pk"), **reached)
            .order_by()
        ):
            cell = cells[(r["rep_id"], r["store_id"], _month_of(r["month"]))]
            for k in ("leads", "verified", "contacted", "quoted", "won"):
                cell[k] += r[k]

        prospects = customer_queryset(viewer).filter(
            created_at__gte=_start_of(first), created_at__lt=_start_of(last + dt.timedelta(days=1))
        )
        prospects = _narrow(prospects, store_id=store_id, rep_id=rep_id, reps=reps, rep_field="owner_id")
        bought = Exists(Purchase.objects.filter(customer_id=OuterRef("pk")))
        for r in _dicts(
            prospects.annotate(month=TruncMonth("created_at", tzinfo=tz))
            .values("owner_id", "store_id", "month")
            .annotate(prospects=Count("pk"), converted=Count("pk", filter=Q(bought)))
            .order_by()
        ):
            cell = cells[(r["owner_id"], r["store_id"], _month_of(r["month"]))]
            cell["prospects"] += r["prospects"]
            cell["converted"] += r["converted"]

        firsts = _purchase_scope(viewer, store_id=store_id, team_id=team_id, rep_id=rep_id).filter(
            kind=Purchase.Kind.FIRST, ordered_on__gte=first, ordered_on__lte=last
        )
        for r in _dicts(
            firsts.annotate(month=TruncMonth("ordered_on"))
            .values("rep_id", "store_id", "month")
            .annotate(n=Count("pk"), total=Sum("amount"))
            .order_by()
        ):
            cell = cells[(r["rep_id"], r["store_id"], _month_of(r["month"]))]
            cell["first_purchases"] += r["n"]
            cell["first_purchase_sales"] += Decimal(r["total"] or 0)

    by_rep: dict[Any, FunnelRow] = {}
    by_store: dict[Any, FunnelRow] = {}
    by_month: dict[dt.date, FunnelRow] = {}
    m = first
    while m <= last:
        by_month[m] = FunnelRow(m, m.strftime("%Y-%m"))
        m = add_months(m, 1)
    total = FunnelRow(None, "")
    rep_names = _names("rep", list({k[0] for k in cells}))
    store_names = _names("store", list({k[1] for k in cells}))
    for (rep, store, month), cell in cells.items():
        by_rep.setdefault(rep, FunnelRow(rep, rep_names.get(rep, ""))).add(cell)
        by_store.setdefault(store, FunnelRow(store, store_names.get(store, ""))).add(cell)
        if month in by_month:
            by_month[month].add(cell)
        total.add(cell)

    def order(rows: dict[Any, FunnelRow]) -> list[FunnelRow]:
        return sorted(rows.values(), key=lambda r: (r.key is None, r.name, r.key or 0))

    return Funnel(first, last, order(by_rep), order(by_store), list(by_month.values()), total)


def _narrow(
    qs: QuerySet, *, store_id: int | None, rep_id: int | None, reps: list[int] | None, rep_field: str
) -> QuerySet:
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if rep_id is not None:
        qs = qs.filter(**{rep_field: rep_id})
    if reps is not None:
        qs = qs.filter(**{f"{rep_field}__in": reps})
    return qs


def _dicts(rows: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]


def _month_of(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return month_first(value)


# ---------------------------------------------------------------------------------------------
# Promotions and wallet estimates (lists for the API and the forms)


def promotion_queryset(viewer: User) -> QuerySet[Promotion]:
    if not permissions.is_active_member(viewer):
        return Promotion.objects.none()
    return Promotion.objects.filter(organisation_id=permissions.org_id(viewer))


def wallet_estimates(viewer: User, customer: Customer) -> list[WalletEstimate]:
    """The account's estimates, newest year first (``customer`` came through ``account_for``)."""
    return list(WalletEstimate.objects.filter(customer_id=customer.pk).order_by("-year"))


def promotion_for(viewer: User, promotion_id: int) -> Promotion:
    """A promotion of the viewer's organisation; 404 otherwise."""
    promotion = promotion_queryset(viewer).filter(pk=promotion_id).prefetch_related("stores").first()
    if promotion is None:
        raise Http404
    return promotion


def promotion_tags(viewer: User, promotion_ids: list[int]) -> QuerySet[PromotionPurchase]:
    """Tagged purchases of these promotions whose account the viewer may see: a rep's figures
    are their own accounts' participation, a manager's their teams' (``customer_queryset``)."""
    if not permissions.is_active_member(viewer):
        return PromotionPurchase.objects.none()
    return PromotionPurchase.objects.filter(
        promotion_id__in=promotion_ids,
        organisation_id=permissions.org_id(viewer),
        customer__in=customer_queryset(viewer),
    )


@dataclass(frozen=True)
class PromotionListRow:
    promotion: Promotion
    store_names: list[str]  # empty: every store
    purchases: int  # tagged purchases in the viewer's scope
    accounts: int  # accounts taking part, in the viewer's scope
    promotion_sales: Decimal

    @property
    def id(self) -> int:
        return int(self.promotion.pk)


def promotions_page_queryset(viewer: User) -> QuerySet[Promotion]:
    """Newest first, along (organisation, starts_on)."""
    return promotion_queryset(viewer).order_by("-starts_on", "-id")


def promotion_rows(viewer: User, promotions: list[Promotion]) -> list[PromotionListRow]:
    """Figures of these promotions: one grouped query over their tags, one for their stores."""
    ids = [p.pk for p in promotions]
    if not ids:
        return []
    figures: dict[int, dict[str, Any]] = {
        r["promotion_id"]: dict(r)
        for r in promotion_tags(viewer, ids)
        .values("promotion_id")
        .annotate(n=Count("pk"), accounts=Count("customer_id", distinct=True), total=Sum("purchase__amount"))
        .order_by()
    }
    stores: dict[int, list[str]] = defaultdict(list)
    through = Promotion.stores.through
    for pid, name in (
        through.objects.filter(promotion_id__in=ids)
        .order_by("store__code")
        .values_list("promotion_id", "store__name")
    ):
        stores[pid].append(name)
    out = []
    for p in promotions:
        f = figures.get(p.pk, {})
        out.append(
            PromotionListRow(
                promotion=p,
                store_names=stores.get(p.pk, []),
                purchases=int(f.get("n") or 0),
                accounts=int(f.get("accounts") or 0),
                promotion_sales=Decimal(f.get("total") or 0).quantize(metrics.CENT),
            )
        )
    return out


def promotion_rows_all(viewer: User, *, chunk: int = 500, limit: int = 100_000) -> Iterator[PromotionListRow]:
    """Every promotion of the organisation, newest first, chunk by chunk (the xlsx export)."""
    qs = promotions_page_queryset(viewer)
    sent = 0
    while sent < limit:
        batch = list(qs[sent : sent + min(chunk, limit - sent)])
        if not batch:
            return
        yield from promotion_rows(viewer, batch)
        sent += len(batch)


@dataclass(frozen=True)
class PromotionDetail(_Lift):
    promotion: Promotion
    store_names: list[str]
    purchases: int
    accounts: int
    promotion_sales: Decimal
    sales_during: Decimal  # all sales of the accounts taking part, in the promotion's days
    sales_before: Decimal  # theirs in the baseline days just before
    baseline_days: int
    baseline_start: dt.date
    step_days: int  # the chart's buckets: 7 (weeks) or 30 days
    bucket_labels: list[str]
    during_buckets: list[Decimal]
    before_buckets: list[Decimal]


# A promotion (and baseline) of up to this many days is charted week by week, longer by 30-day blocks.
WEEKLY_CHART_DAYS = 91


def promotion_detail(viewer: User, promotion: Promotion) -> PromotionDetail:
    """The promotion's figures in the viewer's scope, with the effect the account report uses:
    the participating accounts' sales during the promotion against the baseline days before it
    (policy ``promotion_baseline_days``; 0: as many days as the promotion lasts)."""
    policy = report_policy(promotion.organisation)
    starts, ends = promotion.starts_on, promotion.ends_on
    length = (ends - starts).days + 1
    days = policy.promotion_baseline_days or length
    base_start = starts - dt.timedelta(days=days)
    tags = promotion_tags(viewer, [promotion.pk])
    totals = tags.aggregate(
        n=Count("pk"), accounts=Count("customer_id", distinct=True), total=Sum("purchase__amount")
    )
    per_day = dict(
        Purchase.objects.filter(
            customer_id__in=tags.values("customer_id"), ordered_on__gte=base_start, ordered_on__lte=ends
        )
        .values("ordered_on")
        .annotate(total=Sum("amount"))
        .order_by()
        .values_list("ordered_on", "total")
    )
    # Week by week unless the promotion or its baseline is long; both series share the buckets.
    step = 7 if max(length, days) <= WEEKLY_CHART_DAYS else 30
    buckets = max(-(-length // step), -(-days // step))
    during = [ZERO] * buckets
    before = [ZERO] * buckets
    sales_during = sales_before = ZERO
    for day, total in per_day.items():
        amount = Decimal(total or 0)
        if day >= starts:
            sales_during += amount
            during[(day - starts).days // step] += amount
        else:
            sales_before += amount
            before[(day - base_start).days // step] += amount
    labels = [f"{i * step + 1}–{(i + 1) * step}" for i in range(buckets)]
    return PromotionDetail(
        promotion=promotion,
        store_names=[s.name for s in sorted(promotion.stores.all(), key=lambda s: s.code)],
        purchases=int(totals["n"] or 0),
        accounts=int(totals["accounts"] or 0),
        promotion_sales=Decimal(totals["total"] or 0).quantize(metrics.CENT),
        sales_during=sales_during.quantize(metrics.CENT),
        sales_before=sales_before.quantize(metrics.CENT),
        baseline_days=days,
        baseline_start=base_start,
        step_days=step,
        bucket_labels=labels,
        during_buckets=[d.quantize(metrics.CENT) for d in during],
        before_buckets=[b.quantize(metrics.CENT) for b in before],
    )


def promotion_purchases_queryset(viewer: User, promotion: Promotion) -> QuerySet[PromotionPurchase]:
    """The promotion's tagged purchases in the viewer's scope, newest purchase first."""
    return (
        promotion_tags(viewer, [promotion.pk])
        .select_related("purchase", "purchase__store", "purchase__rep", "customer", "tagged_by")
        .order_by("-purchase__ordered_on", "-purchase_id")
    )


def recent_purchases(viewer: User, customer: Customer, *, limit: int = 20) -> list[Purchase]:
    """The account's latest purchases with their promotion tag, if any (``customer`` came
    through ``account_for``), along (customer, ordered_on)."""
    return list(
        Purchase.objects.filter(customer_id=customer.pk)
        .select_related("store", "promotion_tag__promotion")
        .order_by("-ordered_on", "-id")[:limit]
    )


def taggable_promotions(viewer: User, *, since: dt.date, today: dt.date, limit: int = 50) -> list[Promotion]:
    """Promotions running on some day from ``since`` to ``today`` (the days of the purchases
    offered for tagging), latest first."""
    return list(
        promotion_queryset(viewer)
        .filter(starts_on__lte=today, ends_on__gte=since)
        .order_by("-starts_on", "-id")[:limit]
    )
