"""The organisation's own numbers for the retention calculator, read through the permission layer.

One statement per request, whatever the size of the archive: purchases of the period and of the
same number of months before it are grouped per customer in the database (``purchase_org_day_idx``
picks the rows), and only the customers who bought in the period but not in the months before are
probed for an earlier purchase (``purchase_customer_day_idx``) to tell new customers from returning
ones. Every purchase kind counts, workshop visits included: a customer who comes back to the
workshop has been kept.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.db.models import Case, DecimalField, F, IntegerField, Max, Q, Sum, Value, When

from huitou.accounts import permissions
from huitou.core.months import month_first, month_last
from huitou.core.months import month_start_after as add_months
from huitou.customers.models import Purchase

from .retention import Observed, months_between

if TYPE_CHECKING:
    from huitou.accounts.models import User

    from .services import PurchaseArrays

VIEWER_ROLES = {permissions.OWNER, permissions.MANAGER}
MAX_MONTHS = 36


def can_view_retention(viewer: User) -> bool:
    return permissions.is_active_member(viewer) and viewer.role in VIEWER_ROLES


def _number(value: object) -> float:
    if value is None:
        return 0.0
    return float(Decimal(str(value)))


def kept_window(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The twelve months the nightly run works out for the whole organisation on ``as_of``: the
    window of the owner's dashboard (the eleven months before ``as_of``'s and its own)."""
    return add_months(as_of, -11), month_first(as_of)


def observed_from_purchases(purchases: PurchaseArrays, *, start: dt.date, end: dt.date) -> Observed:
    """``retention_observed``'s figures for the whole organisation from the nightly run's purchase
    arrays (sorted by customer; every kind; money in cents), vectorised: per customer whether they
    bought in the months before the period, in it, or ever before those, and what the period
    brought."""
    start, end = month_first(start), month_last(end)
    months = months_between(start, end)
    n = len(purchases.customer)
    if months < 1 or n == 0:
        return Observed(max(months, 0), 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0)
    day = purchases.day
    b0, s0, e0 = add_months(start, -months).toordinal(), start.toordinal(), end.toordinal()
    # Each purchase's customer as 0..k-1 (the arrays are sorted by customer).
    firsts = np.flatnonzero(np.r_[True, purchases.customer[1:] != purchases.customer[:-1]])
    who = np.repeat(np.arange(len(firsts)), np.diff(np.r_[firsts, n]))
    k = len(firsts)
    period = (day >= s0) & (day <= e0)

    def per_customer(weights: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.bincount(who, weights=weights, minlength=k)

    before = per_customer((day >= b0) & (day < s0)) > 0
    bought = per_customer(period) > 0
    earlier = per_customer(day < b0) > 0
    rev = per_customer(np.where(period, purchases.amount, 0))  # cents, exact below 2**53
    mar = per_customer(np.where(period, purchases.margin, 0))
    new = bought & ~before & ~earlier
    return Observed(
        months=months,
        active_at_start=int(before.sum()),
        retained=int((before & bought).sum()),
        active_in_period=int(bought.sum()),
        new_customers=int(new.sum()),
        revenue=float(rev.sum()) / 100,
        margin=float(mar.sum()) / 100,
        new_revenue=float(rev[new].sum()) / 100,
        new_margin=float(mar[new].sum()) / 100,
    )


def _kept(viewer: User, start: dt.date, end: dt.date) -> Observed | None:
    """The figures the latest nightly run kept for this window, if it kept this one."""
    from .models import SegmentFill

    summary = (
        SegmentFill.objects.filter(organisation_id=permissions.org_id(viewer), status=SegmentFill.Status.DONE)
        .order_by("-as_of")
        .values_list("summary", flat=True)
        .first()
    )
    kept = (summary or {}).get("retention")
    if not kept or kept.get("start") != start.isoformat() or kept.get("end") != end.isoformat():
        return None
    return Observed(**kept["observed"])


def retention_observed(
    viewer: User, *, start: dt.date, end: dt.date, store_id: int | None = None
) -> Observed:
    """Counts and sums for the months ``start``..``end`` (both months whole) and as many months before.

    The whole organisation over the dashboard's twelve months is read from what the nightly run
    kept (``observed_from_purchases``), as of that run; any other window, or a store, is counted
    here."""
    start, end = month_first(start), month_last(end)
    months = months_between(start, end)
    empty = Observed(months, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0)
    if not can_view_retention(viewer) or months < 1:
        return empty
    if viewer.role == permissions.OWNER and not store_id:
        kept = _kept(viewer, start, end)
        if kept is not None:
            return kept
    base_start = add_months(start, -months)
    in_period = Q(ordered_on__gte=start)
    money = DecimalField(max_digits=20, decimal_places=2)
    rows = Purchase.objects.filter(
        organisation_id=permissions.org_id(viewer), ordered_on__gte=base_start, ordered_on__lte=end
    )
    if viewer.role != permissions.OWNER:
        # The owner sees the whole organisation, which the sale's own column already says: no
        # join of two years of sales to the million customers (2 of the 8.4 s it took at 1M).
        rows = rows.filter(permissions.customer_scope(viewer, "customer__"))
    if store_id:
        rows = rows.filter(customer__store_id=store_id)
    per_customer = (
        rows.values("customer_id")
        .annotate(
            b=Max(
                Case(When(ordered_on__lt=start, then=Value(1)), default=Value(0), output_field=IntegerField())
            ),
            p=Max(Case(When(in_period, then=Value(1)), default=Value(0), output_field=IntegerField())),
            rev=Sum(Case(When(in_period, then=F("amount")), default=Value(Decimal("0")), output_field=money)),
            mar=Sum(Case(When(in_period, then=F("margin")), default=Value(Decimal("0")), output_field=money)),
        )
        .order_by()
    )
    inner_sql, params = per_customer.query.sql_with_params()
    purchases = connection.ops.quote_name(Purchase._meta.db_table)
    # Django cannot aggregate over a grouped queryset's aggregates, hence the hand-written outer
    # level. ``is_new`` is worked out only where it matters: CASE stops before the probe for
    # customers who bought in the months before the period.
    # ``u`` is MATERIALIZED so the probe runs once per customer: inlined, PostgreSQL copied the
    # CASE (and its NOT EXISTS) into each of the three sums that read ``is_new``.
    sql = f"""
        WITH u AS MATERIALIZED (
            SELECT t.b, t.p, t.rev, t.mar,
                CASE WHEN t.p = 1 AND t.b = 0 AND NOT EXISTS (
                    SELECT 1 FROM {purchases} e WHERE e.customer_id = t.customer_id AND e.ordered_on < %s
                ) THEN 1 ELSE 0 END AS is_new
            FROM ({inner_sql}) t
        )
        SELECT
            COALESCE(SUM(u.b), 0),
            COALESCE(SUM(CASE WHEN u.b = 1 AND u.p = 1 THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(u.p), 0),
            COALESCE(SUM(u.is_new), 0),
            COALESCE(SUM(u.rev), 0),
            COALESCE(SUM(u.mar), 0),
            COALESCE(SUM(CASE WHEN u.is_new = 1 THEN u.rev ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN u.is_new = 1 THEN u.mar ELSE 0 END), 0)
        FROM u
    """  # noqa: S608 - only quoted table names and Django-compiled SQL are interpolated
    with connection.cursor() as cursor:
        # The probe's date comes first in the text, before the inner query's parameters.
        cursor.execute(sql, (connection.ops.adapt_datefield_value(base_start), *params))
        row = cursor.fetchone()
    active, retained, in_period_n, new, revenue, margin, new_revenue, new_margin = row
    return Observed(
        months=months,
        active_at_start=int(active),
        retained=int(retained),
        active_in_period=int(in_period_n),
        new_customers=int(new),
        revenue=_number(revenue),
        margin=_number(margin),
        new_revenue=_number(new_revenue),
        new_margin=_number(new_margin),
    )
