"""Writes of the analytics app: the nightly segment snapshot (DOMAIN §2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import islice, repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from django.db import connection, models, transaction
from django.db.models import Count, F
from django.utils import timezone

from huitou.core.bulk import max_params
from huitou.core.months import month_last
from huitou.customers.models import Customer, Purchase

from . import segments as seg
from .models import CustomerSegment, SegmentFill
from .retention_data import kept_window, observed_from_purchases

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation

    from .nightly import Clock

SALES_KINDS = (Purchase.Kind.FIRST, Purchase.Kind.REPLACEMENT, Purchase.Kind.EXPANSION)
_CHUNK = 5000
# Date ordinals (datetime.date.toordinal) from SQL: day 1 is 0001-01-01.
_PG_ORDINAL = "({col} - DATE '0001-01-01' + 1)"
_SQLITE_ORDINAL = "CAST(julianday({col}) - 1721424.5 AS INTEGER)"
_NO_DUE = np.iinfo(np.int32).max


# ---------------------------------------------------------------------------------------------
# The purchases of one organisation up to a day, read once into numpy and shared by the phases of
# a nightly run (segments, value, risk). Grouping in numpy beats a GROUP BY with COUNT(DISTINCT ...)
# or a window function per phase: PostgreSQL sorts 10M rows for each such query.


@dataclass(frozen=True)
class PurchaseArrays:
    """Purchases sorted by (customer, day): one entry per purchase. Money in integer cents (exact),
    days as date ordinals; ``due`` is the payment due day of a purchase not fully paid (a large
    sentinel otherwise)."""

    as_of: dt.date
    customer: npt.NDArray[np.int64]
    day: npt.NDArray[np.int32]
    sale: npt.NDArray[np.bool_]
    amount: npt.NDArray[np.int64]
    margin: npt.NDArray[np.int64]
    due: npt.NDArray[np.int32]

    def groups(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """(customer ids, start of each customer's run, first purchase of each distinct day)."""
        n = len(self.customer)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.intp), np.zeros(0, bool)
        new_customer = np.empty(n, dtype=bool)
        new_customer[0] = True
        np.not_equal(self.customer[1:], self.customer[:-1], out=new_customer[1:])
        new_day = new_customer.copy()
        new_day[1:] |= self.day[1:] != self.day[:-1]
        starts = np.flatnonzero(new_customer)
        return self.customer[starts], starts, new_day


_SHARED: list[dict[tuple[int, dt.date], PurchaseArrays]] = []


@contextmanager
def shared_purchases() -> Iterator[None]:
    """Within this block, purchases read for an organisation and day are kept and reused (the
    nightly run reads them once for all its phases); outside it every call reads afresh."""
    _SHARED.append({})
    try:
        yield
    finally:
        _SHARED.pop()


def purchase_arrays(organisation_id: int, as_of: dt.date) -> PurchaseArrays:
    """Every purchase of the organisation on or before ``as_of``, as arrays (see PurchaseArrays).

    PostgreSQL sends them with one binary ``COPY ... TO STDOUT`` whose fixed-width rows numpy reads
    in place; SQLite through a plain cursor."""
    key = (organisation_id, as_of)
    if _SHARED and key in _SHARED[-1]:
        return _SHARED[-1][key]
    sales = ", ".join(f"'{k}'" for k in SALES_KINDS)
    if connection.vendor == "postgresql":
        cols = _read_pg(organisation_id, as_of, sales)
    else:
        cols = _read_sqlite(organisation_id, as_of, sales)
    customer, day, sale, amount, margin, due = cols
    # One sort on a combined (customer, day) key: cheaper than lexsort's two passes.
    if len(day):
        first = int(day.min())
        order = np.argsort(customer * (int(day.max()) - first + 1) + (day - first))
    else:
        order = np.zeros(0, dtype=np.intp)
    out = PurchaseArrays(
        as_of=as_of,
        customer=customer[order],
        day=day[order],
        sale=sale[order],
        amount=amount[order],
        margin=margin[order],
        due=due[order],
    )
    if _SHARED:
        _SHARED[-1][key] = out
    return out


def _select(ordinal: str, sales: str, cents: str, cast: str) -> str:
    """The purchase columns; ``cents`` turns a money column into integer cents, ``cast`` names the
    4-byte integer type the others are cast to (nothing on SQLite)."""
    day = ordinal.format(col="ordered_on")
    due = ordinal.format(col="payment_due_on")
    # Every name and value in the statement is a constant of this module.
    return (
        f"SELECT customer_id, ({day}){cast}, (CASE WHEN kind IN ({sales}) THEN 1 ELSE 0 END){cast}, "  # noqa: S608
        f"{cents.format(col='amount')}, {cents.format(col='margin')}, "
        "(CASE WHEN payment_due_on IS NOT NULL AND paid_amount < amount "
        f"THEN {due} ELSE {_NO_DUE} END){cast} "
        "FROM customers_purchase WHERE organisation_id = %s AND ordered_on <= %s"
    )


_PG_ROW = np.dtype(
    [
        ("nf", ">i2"),
        ("l0", ">i4"),
        ("customer", ">i8"),
        ("l1", ">i4"),
        ("day", ">i4"),
        ("l2", ">i4"),
        ("sale", ">i4"),
        ("l3", ">i4"),
        ("amount", ">i8"),
        ("l4", ">i4"),
        ("margin", ">i8"),
        ("l5", ">i4"),
        ("due", ">i4"),
    ]
)
_PG_HEADER = 19  # signature (11), flags (4), header extension length (4)


def _read_pg(organisation_id: int, as_of: dt.date, sales: str) -> tuple[Any, ...]:
    """One binary COPY whose rows all have the same width (no NULLs: every column is a fixed-size
    integer), so numpy reads the whole stream in place with one structured dtype."""
    sql = _select(_PG_ORDINAL, sales, "({col} * 100)::int8", "::int4").replace(
        "SELECT customer_id,", "SELECT customer_id::int8,"
    )
    # Appended to one buffer as they come: libpq hands over one message per row, and keeping 10M
    # small bytes objects alive until a join costs ~1 GB more.
    buf = bytearray()
    connection.ensure_connection()
    with connection.cursor() as cur:
        query = cur.cursor.mogrify(sql, [organisation_id, as_of])
        with cur.cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
            for block in copy:
                buf += block
    n = max((len(buf) - _PG_HEADER - 2) // _PG_ROW.itemsize, 0)
    rows = np.frombuffer(buf, dtype=_PG_ROW, count=n, offset=_PG_HEADER if n else 0)
    return (
        rows["customer"].astype(np.int64),
        rows["day"].astype(np.int32),
        rows["sale"].astype(bool),
        rows["amount"].astype(np.int64),
        rows["margin"].astype(np.int64),
        rows["due"].astype(np.int32),
    )


def _read_sqlite(organisation_id: int, as_of: dt.date, sales: str) -> tuple[Any, ...]:
    sql = _select(_SQLITE_ORDINAL, sales, "CAST(ROUND({col} * 100) AS INTEGER)", "")
    with connection.cursor() as cur:
        cur.execute(sql, [organisation_id, as_of])
        table = np.array(cur.fetchall(), dtype=np.int64).reshape(-1, 6)
    return (
        table[:, 0].copy(),
        table[:, 1].astype(np.int32),
        table[:, 2].astype(bool),
        table[:, 3].copy(),
        table[:, 4].copy(),
        table[:, 5].astype(np.int32),
    )


_Ints = npt.NDArray[np.int64]


def write_columns(
    model: type[Any], names: Sequence[str], columns: Sequence[Sequence[str | None] | str]
) -> int:
    """Insert rows given column by column as their text in COPY's format (None for NULL, ``t``/``f``
    for booleans, JSON as its text); a plain string is a constant column. The snapshot writers build
    each column in one vectorised step, so no per-value converter runs (core.bulk's row writer
    costs ~4 µs a row). PostgreSQL takes one COPY; SQLite multi-row INSERTs, to which the same
    texts are bound (its column affinities turn them into numbers)."""
    n = max((len(c) for c in columns if not isinstance(c, str)), default=0)
    if n == 0:
        return 0
    fields = [model._meta.get_field(c) for c in names]
    cols = [repeat(c, n) if isinstance(c, str) else c for c in columns]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    col_sql = ", ".join(qn(f.column) for f in fields)
    connection.ensure_connection()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            null_safe = [
                c if not f.null else ["\\N" if v is None else v for v in c]  # type: ignore[union-attr]
                for c, f in zip(cols, fields, strict=True)
            ]
            with cur.cursor.copy(f"COPY {table} ({col_sql}) FROM STDIN") as copy:
                rows = zip(*null_safe, strict=False)
                while block := list(islice(rows, 20_000)):
                    copy.write("\n".join(map("\t".join, block)) + "\n")
            return n
        booleans = [i for i, f in enumerate(fields) if isinstance(f, models.BooleanField)]
        per = max(1, min(1000, max_params() // len(fields)))
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        rows = zip(*cols, strict=False)
        while block := list(islice(rows, per)):
            params: list[Any] = []
            for row in block:
                values = list(row)
                for i in booleans:
                    values[i] = None if values[i] is None else values[i] == "t"
                params.extend(values)
            cur.execute(f"INSERT INTO {table} ({col_sql}) VALUES {', '.join([one] * len(block))}", params)  # noqa: S608
        return n


def _segment_figures(purchases: PurchaseArrays, start: dt.date) -> tuple[_Ints, _Ints, _Ints, _Ints, _Ints]:
    """Per customer with a purchase: id, last purchase day (any kind), distinct purchase days since
    ``start`` (any kind), and revenue and margin of sales since ``start`` (cents)."""
    ids, starts, new_day = purchases.groups()
    if len(ids) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, empty, empty
    in_window = purchases.day >= start.toordinal()
    last = np.maximum.reduceat(purchases.day, starts).astype(np.int64)
    days = np.add.reduceat((new_day & in_window).astype(np.int64), starts)
    counted = in_window & purchases.sale
    revenue = np.add.reduceat(np.where(counted, purchases.amount, 0), starts)
    margin = np.add.reduceat(np.where(counted, purchases.margin, 0), starts)
    return ids, last, days, revenue, margin


def value_purchase_columns(
    purchases: PurchaseArrays, *, include_service: bool
) -> dict[str, npt.NDArray[Any]]:
    """What the lifetime-value snapshot reads, from the shared arrays (no second pass over the
    purchases table): per customer with a purchase (service visits only when ``include_service``),
    ordered by id: first and last purchase day (ordinals), purchase days, revenue, recorded margin,
    revenue of purchases without a recorded margin (margin 0), and the first day's revenue. Money
    in cents."""
    keep = np.ones(len(purchases.customer), dtype=bool) if include_service else purchases.sale
    cust, day = purchases.customer[keep], purchases.day[keep]
    amount, margin = purchases.amount[keep], purchases.margin[keep]
    n = len(cust)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return dict.fromkeys(
            ("ids", "first", "last", "days", "revenue", "margin", "unmargined", "first_day"), empty
        )
    new_customer = np.empty(n, dtype=bool)
    new_customer[0] = True
    np.not_equal(cust[1:], cust[:-1], out=new_customer[1:])
    new_day = new_customer.copy()
    new_day[1:] |= day[1:] != day[:-1]
    starts = np.flatnonzero(new_customer)
    day_starts = np.flatnonzero(new_day)
    day_revenue = np.add.reduceat(amount, day_starts)
    # The customer's first day is the day group that begins where the customer begins.
    first_group = np.searchsorted(day_starts, starts)
    return {
        "ids": cust[starts],
        "first": day[starts].astype(np.int64),
        "last": np.maximum.reduceat(day, starts).astype(np.int64),
        "days": np.add.reduceat(new_day.astype(np.int64), starts),
        "revenue": np.add.reduceat(amount, starts),
        "margin": np.add.reduceat(margin, starts),
        "unmargined": np.add.reduceat(np.where(margin == 0, amount, 0), starts),
        "first_day": day_revenue[first_group],
    }


def _texts(values: npt.NDArray[Any]) -> list[str]:
    return list(map(str, values.tolist()))


def cents_texts(cents: npt.NDArray[np.int64]) -> list[str]:
    """Integer cents as exact decimal texts with two places ("-12.05")."""
    return [f"{c // 100}.{c % 100:02d}" if c >= 0 else f"-{-c // 100}.{-c % 100:02d}" for c in cents.tolist()]


def segments_refresh(
    *, organisation: Organisation, as_of: dt.date, clock: Clock | None = None
) -> dict[str, Any]:
    """Compute the segment snapshot of ``organisation`` as of ``as_of`` and, when the policy says
    ``segments.auto_tiers``, write each customer's tier. Running it again replaces the snapshot of
    that day and changes no tier a second time (idempotent).

    The snapshot holds the customers with at least one purchase up to ``as_of``, whatever their
    status; customers without sales value in the lookback get no tier. Customer types set by hand
    are never changed; the rule's suggestion is only stored in the snapshot, next to a copy of the
    type set by hand and of the customer's owner and store at the time of the run (what the pages'
    figures scope, filter and group on: ``scope.snapshot_scope``).
    """
    policy = organisation.policy.segments
    start = as_of - dt.timedelta(days=policy.lookback_days - 1)
    from .nightly import running_fill

    with running_fill(SegmentFill, organisation, as_of) as fill:
        return _refresh(organisation, as_of, start, fill, clock)


_SNAPSHOT_COLUMNS = (
    "organisation",
    "as_of",
    "customer",
    "owner",
    "store",
    "customer_type",
    "recency_days",
    "frequency",
    "monetary",
    "margin",
    "r",
    "f",
    "m",
    "tier",
    "suggested_type",
)


@transaction.atomic
def _refresh(
    organisation: Organisation, as_of: dt.date, start: dt.date, fill: SegmentFill, clock: Clock | None
) -> dict[str, Any]:
    from .nightly import lap

    policy = organisation.policy.segments
    purchases = purchase_arrays(organisation.pk, as_of)
    # Referral counts and kinds of the customers in the snapshot (two more grouped reads).
    referred = dict(
        Customer.objects.filter(organisation=organisation, referred_by__isnull=False)
        .values("referred_by_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("referred_by_id", "n")
    )
    # With the owner, store and type set on each customer, copied onto their snapshot row.
    current = list(
        Customer.objects.filter(organisation=organisation)
        .order_by("id")
        .values_list("id", "kind", "tier", "owner_id", "store_id", "customer_type")
    )
    lap(clock, "read")
    ids, last, frequency, revenue_cents, margin_cents = _segment_figures(purchases, start)
    n = len(ids)
    recency = as_of.toordinal() - last
    # Exact: a sum of cents over 100 is the double nearest the decimal, as float(Decimal) gives.
    revenue = revenue_cents / 100.0
    margin = margin_cents / 100.0

    rfm = seg.rfm_scores(recency, frequency, revenue)
    value = revenue if policy.basis == "revenue" else margin
    tiers = seg.value_tiers(value, gold_share=policy.gold_share, silver_share=policy.silver_share)

    cust_ids = np.fromiter((c[0] for c in current), dtype=np.int64, count=len(current))
    pos = np.searchsorted(cust_ids, ids)  # every purchase's customer is in the organisation
    is_company = np.array([current[p][1] == Customer.Kind.COMPANY for p in pos], dtype=bool)
    referrals = np.fromiter((referred.get(int(i), 0) for i in ids), dtype=np.int64, count=n)
    types = seg.suggest_types(
        revenue=revenue,
        margin=margin,
        f_score=rfm.f,
        referrals=referrals,
        is_company=is_company,
        tier=tiers,
        profit_min_margin_rate=policy.profit_min_margin_rate,
        volume_min_f_score=policy.volume_min_f_score,
        relationship_min_referrals=policy.relationship_min_referrals,
    )
    picked = [current[p] for p in pos.tolist()]
    columns = [
        str(organisation.pk),
        as_of.isoformat(),
        _texts(ids),
        [None if c[3] is None else str(c[3]) for c in picked],
        [None if c[4] is None else str(c[4]) for c in picked],
        [c[5] for c in picked],
        _texts(recency),
        _texts(frequency),
        cents_texts(revenue_cents),
        cents_texts(margin_cents),
        _texts(rfm.r),
        _texts(rfm.f),
        _texts(rfm.m),
        [seg.TIER_NAMES[t] for t in tiers.tolist()],
        [seg.TYPE_NAMES[t] for t in types.tolist()],
    ]
    lap(clock, "compute")
    CustomerSegment.objects.filter(organisation=organisation, as_of=as_of).delete()
    write_columns(CustomerSegment, _SNAPSHOT_COLUMNS, columns)

    changed = 0
    if policy.auto_tiers:
        new_tier = np.zeros(len(current), dtype=np.int64)
        new_tier[pos] = tiers
        old_tier = np.array([seg.TIER_NAMES.index(c[2]) if c[2] in seg.TIER_NAMES else -1 for c in current])
        diff = new_tier != old_tier
        now = timezone.now()
        for code, name in enumerate(seg.TIER_NAMES):
            to_set = cust_ids[diff & (new_tier == code)].tolist()
            for i in range(0, len(to_set), _CHUNK):
                # One UPDATE per chunk of ids; the version bump makes an open edit form of the
                # same customer refuse to overwrite the new tier with the old one.
                changed += Customer.objects.filter(pk__in=to_set[i : i + _CHUNK]).update(
                    tier=name, version=F("version") + 1, updated_at=now
                )

    lap(clock, "write")
    counts = {name or "none": int((tiers == code).sum()) for code, name in enumerate(seg.TIER_NAMES)}
    fill.summary = seg.pareto_summary(revenue, margin)
    # The owner's retention figures over the dashboard's twelve months, from the purchases in
    # hand: counted in the database on demand they group two years of sales per customer (3-8 s
    # at 1M customers).
    r_start, r_end = kept_window(as_of)
    fill.summary["retention"] = {
        "start": r_start.isoformat(),
        "end": month_last(r_end).isoformat(),
        "observed": asdict(observed_from_purchases(purchases, start=r_start, end=r_end)),
    }
    fill.status = SegmentFill.Status.DONE
    fill.finished_at = timezone.now()
    fill.customers = n
    fill.tiers_changed = changed
    fill.save(update_fields=["status", "finished_at", "customers", "tiers_changed", "summary"])
    return {
        "organisation": organisation.slug,
        "as_of": as_of.isoformat(),
        "customers": n,
        "tiers": counts,
        "tiers_changed": changed,
        "top20_revenue_share": fill.summary["top20_revenue_share"],
        "top20_margin_share": fill.summary["top20_margin_share"],
    }
