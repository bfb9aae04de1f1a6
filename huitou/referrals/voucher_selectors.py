"""Reads of vouchers: the list, one voucher with its ledger, the desk's recent redemptions, and
the voucher statistics table (转介绍保养券统计表).

The list and the detail go through ``selectors.voucher_queryset`` (who may see the holder). The
statistics table is about who is credited: a rep sees the vouchers credited to them, a manager
those of the people they manage and of their store (policy ``people.manager_sees_whole_store``),
the owner everything; the DCRC and after-sales see the vouchers of the customers they may see.
It is one GROUP BY with conditional aggregates, whatever the number of vouchers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from huitou.accounts import permissions
from huitou.accounts.models import Store
from huitou.accounts.models import User as UserModel
from huitou.accounts.permissions import AFTERSALES, DCRC, MANAGER, OWNER, REP
from huitou.core.errors import NotFound, ValidationFailed

from .models import Voucher, VoucherEntry
from .selectors import voucher_queryset

if TYPE_CHECKING:
    from huitou.accounts.models import User

MAX_STATS_DAYS = 3 * 366 + 1

# ---------------------------------------------------------------------------------------------
# List and detail


@dataclass(frozen=True)
class VoucherFilters:
    status: str = ""
    kind: str = ""
    store_id: int | None = None
    rep_id: int | None = None
    month: dt.date | None = None  # any day of the month of issue
    code: str = ""
    customer_id: int | None = None


def month_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month holding ``day`` as aware datetimes [first 00:00, next first 00:00) local time."""
    tz = timezone.get_current_timezone()
    first = day.replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return (
        dt.datetime.combine(first, dt.time.min, tzinfo=tz),
        dt.datetime.combine(nxt, dt.time.min, tzinfo=tz),
    )


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def voucher_list(viewer: User, filters: VoucherFilters | None = None) -> QuerySet[Voucher]:
    """Vouchers whose holder the viewer may see, newest first, filtered on indexed columns."""
    f = filters or VoucherFilters()
    qs = voucher_queryset(viewer)
    if permissions.is_active_member(viewer):
        # Lets the (organisation, …) indexes lead whatever the role's scope.
        qs = qs.filter(organisation_id=permissions.org_id(viewer))
    if f.status:
        if f.status not in Voucher.Status.values:
            raise ValidationFailed({"status": ["not a valid choice"]})
        qs = qs.filter(status=f.status)
    if f.kind:
        if f.kind not in Voucher.Kind.values:
            raise ValidationFailed({"kind": ["not a valid choice"]})
        qs = qs.filter(kind=f.kind)
    if f.store_id is not None:
        qs = qs.filter(store_id=f.store_id)
    if f.rep_id is not None:
        qs = qs.filter(rep_id=f.rep_id)
    if f.customer_id is not None:
        qs = qs.filter(customer_id=f.customer_id)
    if f.month is not None:
        start, end = month_bounds(f.month)
        qs = qs.filter(issued_at__gte=start, issued_at__lt=end)
    if f.code:
        from .vouchers import CODE_LENGTH, code_normalise

        code = code_normalise(f.code)
        # A whole code uses the unique index; a beginning is searched within the scope only.
        qs = qs.filter(code=code) if len(code) >= CODE_LENGTH else qs.filter(code__startswith=code)
    return qs.select_related("customer", "store", "rep").order_by("-issued_at", "-id")


def voucher_get(viewer: User, voucher_id: int) -> Voucher:
    """One voucher if the viewer may see its holder; otherwise NotFound (we never say which)."""
    try:
        return (
            voucher_queryset(viewer)
            .select_related(
                "customer", "store", "rep", "issued_by", "redeemed_by", "redeemed_store", "referral", "reward"
            )
            .get(pk=voucher_id)
        )
    except (Voucher.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("voucher") from exc


def voucher_ledger(voucher: Voucher) -> list[VoucherEntry]:
    """Every state change of a voucher the caller already fetched through ``voucher_get``."""
    return list(voucher.entries.select_related("actor", "store").order_by("at", "id"))


def desk_recent(viewer: User, *, store_id: int | None, limit: int = 10) -> list[VoucherEntry]:
    """The latest redemptions and refusals at this desk (the store, or the person without one)."""
    if not permissions.is_active_member(viewer):
        return []
    qs = VoucherEntry.objects.filter(
        voucher__organisation_id=permissions.org_id(viewer),
        action__in=[VoucherEntry.Action.REDEEM, VoucherEntry.Action.REFUSED],
        at__gte=timezone.now() - dt.timedelta(days=7),
    )
    qs = qs.filter(store_id=store_id) if store_id is not None else qs.filter(actor_id=viewer.pk)
    return list(
        qs.select_related("voucher", "voucher__customer", "actor", "store").order_by("-at", "-id")[:limit]
    )


# ---------------------------------------------------------------------------------------------
# Statistics


def stats_scope(viewer: User) -> Q:
    """Vouchers counted in the viewer's statistics table (by who is credited, see module doc)."""
    if not permissions.is_active_member(viewer):
        return permissions.NOTHING
    org = Q(organisation_id=viewer.organisation_id)
    role = viewer.role
    if role == OWNER:
        return org
    if role == REP:
        return org & Q(rep_id=viewer.pk)
    if role == MANAGER:
        q = Q(rep__team__manager_id=viewer.pk) | Q(rep_id=viewer.pk)
        policy = viewer.organisation.policy  # type: ignore[union-attr]
        if policy.people.manager_sees_whole_store and viewer.store_id:
            q |= Q(store_id=viewer.store_id)
        return org & q
    if role in (DCRC, AFTERSALES):
        return permissions.customer_scope(viewer, "customer__")
    return permissions.NOTHING


STAT_COLUMNS = ("issued", "redeemed", "expired", "void", "outstanding")


@dataclass
class StatsRow:
    month: dt.date | None
    store_id: int | None
    store: str
    rep_id: int | None
    rep: str
    counts: dict[str, int] = field(default_factory=dict)
    values: dict[str, Decimal] = field(default_factory=dict)

    def count(self, column: str) -> int:
        return self.counts.get(column, 0)

    def value(self, column: str) -> Decimal:
        return self.values.get(column, Decimal("0"))

    @property
    def redemption_rate(self) -> float | None:
        """Redeemed over issued vouchers, or None when none were issued."""
        issued = self.count("issued")
        return self.count("redeemed") / issued if issued else None


def _column_filters(today: dt.date) -> dict[str, Q | None]:
    issued = Q(status=Voucher.Status.ISSUED)
    # A voucher past its date is expired even before the night job has marked it.
    return {
        "issued": None,
        "redeemed": Q(status=Voucher.Status.REDEEMED),
        "expired": Q(status=Voucher.Status.EXPIRED) | (issued & Q(expires_on__lt=today)),
        "void": Q(status=Voucher.Status.VOID),
        "outstanding": issued & Q(expires_on__gte=today),
    }


def voucher_stats(
    viewer: User,
    *,
    start: dt.date,
    end: dt.date,
    store_id: int | None = None,
    rep_id: int | None = None,
    today: dt.date | None = None,
) -> list[StatsRow]:
    """One row per month of issue, store and rep credited, for vouchers issued from ``start`` to
    ``end`` (inclusive, local dates): counts and values issued, redeemed, expired, void and still
    outstanding as of ``today``. One query."""
    if end < start:
        raise ValidationFailed({"end": ["must not be before the start"]})
    if (end - start).days > MAX_STATS_DAYS:
        raise ValidationFailed({"end": ["a period covers at most three years"]})
    if not permissions.is_active_member(viewer):
        return []
    today = today or timezone.localdate()
    tz = timezone.get_current_timezone()
    qs = Voucher.objects.filter(
        stats_scope(viewer),
        organisation_id=permissions.org_id(viewer),
        issued_at__gte=_day_start(start),
        issued_at__lt=_day_start(end + dt.timedelta(days=1)),
    )
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if rep_id is not None:
        qs = qs.filter(rep_id=rep_id)
    zero = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=2))
    aggregates: dict[str, Any] = {}
    for column, condition in _column_filters(today).items():
        aggregates[f"n_{column}"] = Count("pk", filter=condition)
        aggregates[f"v_{column}"] = Coalesce(Sum("value", filter=condition), zero)
    # Grouped by ids only; names and the order by store code and username come from two small
    # lookups. On PostgreSQL the extended statistics ``voucher_stats_groups`` (migration 0004) on
    # (store, rep, this month expression) let the planner hash the ~1,200 groups of an owner's
    # year instead of sorting 100,000 vouchers on disk (see bench/referrals_notes.md).
    grouped: list[dict[str, Any]] = [
        dict(r)
        for r in qs.annotate(month=TruncMonth("issued_at", tzinfo=tz))
        .values("month", "store_id", "rep_id")
        .annotate(**aggregates)
        .order_by()
    ]
    stores: dict[int, dict[str, Any]] = {
        s["pk"]: dict(s)
        for s in Store.objects.filter(pk__in={r["store_id"] for r in grouped if r["store_id"]}).values(
            "pk", "name", "code"
        )
    }
    users: dict[int, dict[str, Any]] = {
        u["pk"]: dict(u)
        for u in UserModel.objects.filter(pk__in={r["rep_id"] for r in grouped if r["rep_id"]}).values(
            "pk", "username", "display_name"
        )
    }
    keyed: list[tuple[tuple[Any, ...], StatsRow]] = []
    for r in grouped:
        month = r["month"]
        if isinstance(month, dt.datetime):
            month = (timezone.localtime(month, tz) if timezone.is_aware(month) else month).date()
        store = stores.get(r["store_id"]) or {}
        user = users.get(r["rep_id"]) or {}
        # Codes and usernames are ASCII: the same order on every database, unlike Chinese names.
        key = (
            month,
            store.get("code") is None,
            store.get("code") or "",
            r["store_id"] is None,
            r["store_id"] or 0,
            user.get("username") is None,
            user.get("username") or "",
            r["rep_id"] is None,
            r["rep_id"] or 0,
        )
        row = StatsRow(
            month=month,
            store_id=r["store_id"],
            store=store.get("name") or "",
            rep_id=r["rep_id"],
            rep=user.get("display_name") or user.get("username") or "",
            counts={c: int(r[f"n_{c}"]) for c in STAT_COLUMNS},
            values={c: Decimal(r[f"v_{c}"]) for c in STAT_COLUMNS},
        )
        keyed.append((key, row))
    keyed.sort(key=lambda kr: kr[0])
    return [row for _key, row in keyed]


def stats_totals(rows: list[StatsRow]) -> StatsRow:
    total = StatsRow(month=None, store_id=None, store="", rep_id=None, rep="")
    for c in STAT_COLUMNS:
        total.counts[c] = sum(r.count(c) for r in rows)
        total.values[c] = sum((r.value(c) for r in rows), Decimal("0"))
    return total


def stats_by_month(rows: list[StatsRow]) -> list[StatsRow]:
    """The rows summed per month (for the chart), months without vouchers included as zeros."""
    months: dict[dt.date, list[StatsRow]] = {}
    for r in rows:
        if r.month is not None:
            months.setdefault(r.month, []).append(r)
    if not months:
        return []
    out = []
    month, last = min(months), max(months)
    while month <= last:
        t = stats_totals(months.get(month, []))
        t.month = month
        out.append(t)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return out
