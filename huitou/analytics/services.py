"""Writes of the analytics app: the nightly segment snapshot (DOMAIN §2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from huitou.core.bulk import insert_rows
from huitou.customers.models import Customer, Purchase

from . import segments as seg
from .models import CustomerSegment, SegmentFill

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation

SALES_KINDS = (Purchase.Kind.FIRST, Purchase.Kind.REPLACEMENT, Purchase.Kind.EXPANSION)
_CHUNK = 5000
_ZERO = Decimal("0")


def _purchase_rows(organisation: Organisation, as_of: dt.date, start: dt.date) -> list[tuple[Any, ...]]:
    """One grouped query: per customer, the last purchase day (any kind, up to as_of), the distinct
    purchase days since ``start`` (any kind), and revenue and margin of sales since ``start``."""
    window = Q(ordered_on__gte=start)
    sales = window & Q(kind__in=SALES_KINDS)
    return list(
        Purchase.objects.filter(organisation=organisation, ordered_on__lte=as_of)
        .values("customer_id")
        .annotate(
            last=Max("ordered_on"),
            days=Count("ordered_on", filter=window, distinct=True),
            revenue=Sum("amount", filter=sales),
            margin_sum=Sum("margin", filter=sales),
        )
        .order_by("customer_id")
        .values_list("customer_id", "last", "days", "revenue", "margin_sum")
    )


def segments_refresh(*, organisation: Organisation, as_of: dt.date) -> dict[str, Any]:
    """Compute the segment snapshot of ``organisation`` as of ``as_of`` and, when the policy says
    ``segments.auto_tiers``, write each customer's tier. Running it again replaces the snapshot of
    that day and changes no tier a second time (idempotent).

    The snapshot holds the customers with at least one purchase up to ``as_of``; customers without
    sales value in the lookback get no tier. Customer types set by hand are never changed; the rule's
    suggestion is only stored in the snapshot.
    """
    policy = organisation.policy.segments
    start = as_of - dt.timedelta(days=policy.lookback_days - 1)
    fill, _created = SegmentFill.objects.update_or_create(
        organisation=organisation,
        as_of=as_of,
        defaults={"status": SegmentFill.Status.RUNNING, "started_at": timezone.now(), "finished_at": None},
    )
    try:
        result = _refresh(organisation, as_of, start, fill)
    except Exception:
        SegmentFill.objects.filter(pk=fill.pk).update(
            status=SegmentFill.Status.FAILED, finished_at=timezone.now()
        )
        raise
    return result


_SNAPSHOT_COLUMNS = (
    "organisation",
    "as_of",
    "customer",
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
def _refresh(organisation: Organisation, as_of: dt.date, start: dt.date, fill: SegmentFill) -> dict[str, Any]:
    policy = organisation.policy.segments
    rows = _purchase_rows(organisation, as_of, start)
    n = len(rows)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    as_of_ord = as_of.toordinal()
    recency = np.fromiter((as_of_ord - r[1].toordinal() for r in rows), dtype=np.int64, count=n)
    frequency = np.fromiter((r[2] for r in rows), dtype=np.int64, count=n)
    revenue_dec = [r[3] if r[3] is not None else _ZERO for r in rows]
    margin_dec = [r[4] if r[4] is not None else _ZERO for r in rows]
    revenue = np.fromiter((float(v) for v in revenue_dec), dtype=np.float64, count=n)
    margin = np.fromiter((float(v) for v in margin_dec), dtype=np.float64, count=n)

    rfm = seg.rfm_scores(recency, frequency, revenue)
    value = revenue if policy.basis == "revenue" else margin
    tiers = seg.value_tiers(value, gold_share=policy.gold_share, silver_share=policy.silver_share)

    # Referral counts and kinds of the customers in the snapshot (two more grouped reads).
    referred = dict(
        Customer.objects.filter(organisation=organisation, referred_by__isnull=False)
        .values("referred_by_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("referred_by_id", "n")
    )
    current = list(
        Customer.objects.filter(organisation=organisation).order_by("id").values_list("id", "kind", "tier")
    )
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

    CustomerSegment.objects.filter(organisation=organisation, as_of=as_of).delete()
    day_rows = list(
        zip(
            repeat(organisation.pk),
            repeat(as_of),
            ids.tolist(),
            recency.tolist(),
            frequency.tolist(),
            revenue_dec,
            margin_dec,
            rfm.r.tolist(),
            rfm.f.tolist(),
            rfm.m.tolist(),
            [seg.TIER_NAMES[t] for t in tiers.tolist()],
            [seg.TYPE_NAMES[t] for t in types.tolist()],
            strict=False,  # the repeat() columns are endless
        )
    )
    insert_rows(CustomerSegment, _SNAPSHOT_COLUMNS, day_rows)

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

    counts = {name or "none": int((tiers == code).sum()) for code, name in enumerate(seg.TIER_NAMES)}
    fill.summary = seg.pareto_summary(revenue, margin)
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
