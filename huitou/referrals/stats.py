"""Stored summaries of the referrals, kept in step by the services and refreshed by the nightly job.

- ``ReferrerStats``: per referrer, referrals won, counted, made and the latest submission. The
  services call ``referrer_stats_refresh`` in the transaction of every change (``_event``): it
  locks the referrer's row first, then recomputes it from the referrals in a later statement, so
  two transactions changing referrals of the same referrer cannot both write a stale count.
- ``Referral.sale_day``: the delivery day of the referrer's latest sale (anyone's, not a workshop
  visit) on or before the submission's local day. Set at submission; a sale recorded, changed
  or back-dated later changes it, so the nightly job recomputes it for every referrer whose
  purchases changed since the last run (``referral_sale_days_refresh``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Count, DateTimeField, ExpressionWrapper, Max, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate

from huitou.customers.models import Purchase

from .models import COUNTED_STAGES, Referral, ReferrerStats, Review, Stage

REVIEW_OK = (Review.NONE, Review.APPROVED)
COUNTED = Q(stage__in=COUNTED_STAGES, review__in=REVIEW_OK)
WON = Q(stage=Stage.WON, review__in=REVIEW_OK)


def _stat_values(referrer_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = (
        Referral.objects.filter(referrer_id__in=referrer_ids)
        .values("referrer_id")
        .annotate(
            won=Count("pk", filter=WON),
            counted=Count("pk", filter=COUNTED),
            made=Count("pk"),
            last_referral_at=Max("submitted_at", output_field=DateTimeField()),
        )
        .order_by()
    )
    return {
        int(r["referrer_id"]): {k: r[k] for k in ("won", "counted", "made", "last_referral_at")} for r in rows
    }


def referrer_stats_refresh(*, organisation_id: int, referrer_ids: Iterable[int]) -> None:
    """Recompute the summaries of ``referrer_ids`` (call inside the transaction of the change)."""
    ids = sorted({int(i) for i in referrer_ids})
    if not ids:
        return
    ReferrerStats.objects.bulk_create(
        [ReferrerStats(organisation_id=organisation_id, customer_id=i) for i in ids], ignore_conflicts=True
    )
    # The lock first, the counts in a later statement: it sees whatever a concurrent change
    # that held the lock committed.
    locked = list(
        ReferrerStats.objects.select_for_update().filter(customer_id__in=ids).order_by("customer_id")
    )
    values = _stat_values(ids)
    empty = {"won": 0, "counted": 0, "made": 0, "last_referral_at": None}
    changed = []
    for row in locked:
        v = values.get(int(row.customer_id), empty)
        if any(getattr(row, k) != v[k] for k in empty):
            for k in empty:
                setattr(row, k, v[k])
            changed.append(row)
    if changed:
        ReferrerStats.objects.bulk_update(changed, list(empty))


def referrer_stats_rebuild(*, organisation_id: int) -> int:
    """Every referrer summary of the organisation from scratch, set-based (demo loads, repairs)."""
    ReferrerStats.objects.filter(organisation_id=organisation_id).delete()
    qn = connection.ops.quote_name
    ref, stats = qn(Referral._meta.db_table), qn(ReferrerStats._meta.db_table)
    counted = "', '".join(str(s) for s in COUNTED_STAGES)
    ok = "'', 'approved'"
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {stats} (organisation_id, customer_id, won, counted, made, last_referral_at) "  # noqa: S608
            f"SELECT organisation_id, referrer_id, "
            f"SUM(CASE WHEN stage = 'won' AND review IN ({ok}) THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN stage IN ('{counted}') AND review IN ({ok}) THEN 1 ELSE 0 END), "
            f"COUNT(*), MAX(submitted_at) FROM {ref} WHERE organisation_id = %s "
            f"GROUP BY organisation_id, referrer_id",
            [organisation_id],
        )
        return max(cur.rowcount, 0)


def sale_day_of(*, referrer_id: int, on: dt.date) -> dt.date | None:
    """The delivery day of ``referrer_id``'s latest sale on or before ``on``."""
    return (
        Purchase.objects.filter(customer_id=referrer_id, sale_day__lte=on)
        .exclude(kind=Purchase.Kind.SERVICE)
        .order_by("-sale_day")
        .values_list("sale_day", flat=True)
        .first()
    )


def latest_sale_day() -> Subquery:
    """For a referral query: the delivery day of the referrer's latest sale on or before the
    referral's local submission day."""
    return Subquery(
        Purchase.objects.filter(
            customer_id=OuterRef("referrer_id"),
            sale_day__lte=TruncDate(
                ExpressionWrapper(OuterRef("submitted_at"), output_field=DateTimeField())
            ),
        )
        .exclude(kind=Purchase.Kind.SERVICE)
        .order_by("-sale_day")
        .values("sale_day")[:1]
    )


def referral_sale_days_refresh(
    *, organisation_id: int | None = None, referrer_ids: Iterable[int] | None = None
) -> int:
    """Recompute ``Referral.sale_day`` for the referrals of ``referrer_ids`` (or of the whole
    organisation): one UPDATE per batch of referrers. Returns the rows written."""
    if referrer_ids is None:
        if organisation_id is None:
            raise ValueError("an organisation or referrers are needed")
        batches: list[Q] = [Q(organisation_id=organisation_id)]
    else:
        ids = sorted({int(i) for i in referrer_ids})
        batches = [Q(referrer_id__in=ids[i : i + 5000]) for i in range(0, len(ids), 5000)]
    written = 0
    for q in batches:
        written += Referral.objects.filter(q).update(sale_day=latest_sale_day())
    return written


def referrers_with_changed_sales(*, organisation_id: int | None = None, since: dt.datetime) -> list[int]:
    """Customers with a sale (or a sale's dates) recorded or changed at or after ``since`` who
    have referrals."""
    sales = Purchase.objects.filter(updated_at__gte=since).exclude(kind=Purchase.Kind.SERVICE)
    if organisation_id is not None:
        sales = sales.filter(organisation_id=organisation_id)
    customers = sales.values("customer_id")
    return list(
        Referral.objects.filter(referrer_id__in=customers).values_list("referrer_id", flat=True).distinct()
    )
