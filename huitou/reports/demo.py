"""Account-report data of the demo organisation (issue 6): wallet estimates and promotions.

Meant to be called by ``huitou.demo.demo_load`` after the archive and the other demos::

    from huitou.reports.demo import reports_demo
    reports_demo(organisation=org, today=today, seed=seed)

Deterministic for a seed, safe to call twice (it does nothing when the organisation already has
promotions). What it builds:

- total purchases in the category for last year and this year, for the accounts that bought from
  us in those years (at most ``MAX_ESTIMATES``), as the rep would estimate them: our sales times
  1.2–4 (a loyal account buys most of its cars and service from us, a shopper spreads them);
- three promotions of the past year — a spring service festival (workshop visits), a National-Day
  car fair (first and replacement purchases, store 1 only when there are several stores) and a
  year-end thank-you (every kind) — with about two purchases in three of their days and kinds
  tagged, as a rep would at the sale.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from huitou.accounts.models import Store
from huitou.customers.models import Purchase

from .models import Promotion, PromotionPurchase, WalletEstimate

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation

MAX_ESTIMATES = 2000
MAX_TAGS_PER_PROMOTION = 3000
BATCH = 1000


def _latest(today: dt.date, month: int, first: int, last: int) -> tuple[dt.date, dt.date]:
    """The days ``first``–``last`` of ``month`` in the latest year in which they are over."""
    year = today.year if dt.date(today.year, month, last) < today else today.year - 1
    return dt.date(year, month, first), dt.date(year, month, last)


def _promotions(today: dt.date) -> list[tuple[str, dt.date, dt.date, list[str], bool]]:
    """(name, first day, last day, purchase kinds, first store only), all over by ``today``."""
    return [
        ("春季保养节", *_latest(today, 4, 1, 30), [Purchase.Kind.SERVICE], False),
        ("国庆购车节", *_latest(today, 10, 1, 7), [Purchase.Kind.FIRST, Purchase.Kind.REPLACEMENT], True),
        ("年末老客户回馈", *_latest(today, 12, 1, 31), [], False),
    ]


def reports_demo(
    *, organisation: Organisation, today: dt.date | None = None, seed: int = 42
) -> dict[str, int]:
    """Create the demo's wallet estimates, promotions and promotion purchases. Returns counts."""
    today = today or timezone.localdate()
    org = organisation
    if Promotion.objects.filter(organisation=org).exists():
        return {"estimates": 0, "promotions": 0, "tagged": 0}
    rng = random.Random(seed)
    with transaction.atomic():
        estimates = _estimates(org, today, rng)
        promotions, tagged = _promotions_and_tags(org, today, rng)
    return {"estimates": estimates, "promotions": promotions, "tagged": tagged}


def _estimates(org: Organisation, today: dt.date, rng: random.Random) -> int:
    rows = []
    for year in (today.year - 1, today.year):
        sales = (
            Purchase.objects.filter(organisation=org, ordered_on__year=year)
            .values("customer_id")
            .annotate(total=Sum("amount"))
            .order_by("-total", "customer_id")[: MAX_ESTIMATES // 2]
        )
        for r in sales:
            factor = Decimal(str(round(rng.uniform(1.2, 4.0), 2)))
            rows.append(
                WalletEstimate(
                    organisation=org,
                    customer_id=r["customer_id"],
                    year=year,
                    amount=(r["total"] * factor).quantize(Decimal("0.01")),
                    source=rng.choice([WalletEstimate.Source.REP, WalletEstimate.Source.CUSTOMER]),
                    estimated_on=min(today, dt.date(year, 1, 15)),
                )
            )
    WalletEstimate.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def _promotions_and_tags(org: Organisation, today: dt.date, rng: random.Random) -> tuple[int, int]:
    first_store = Store.objects.filter(organisation=org).order_by("code").first()
    several = Store.objects.filter(organisation=org).count() > 1
    tagged: set[int] = set()
    tags: list[PromotionPurchase] = []
    made = 0
    for name, starts, ends, kinds, one_store in _promotions(today):
        promo = Promotion.objects.create(
            organisation=org, name=name, starts_on=starts, ends_on=ends, purchase_kinds=list(kinds)
        )
        made += 1
        purchases = Purchase.objects.filter(organisation=org, ordered_on__gte=starts, ordered_on__lte=ends)
        if kinds:
            purchases = purchases.filter(kind__in=kinds)
        if one_store and several and first_store is not None:
            promo.stores.set([first_store])
            purchases = purchases.filter(store=first_store)
        by_customer: dict[int, list[int]] = defaultdict(list)
        for pid, cid in purchases.order_by("pk").values_list("pk", "customer_id")[:MAX_TAGS_PER_PROMOTION]:
            by_customer[cid].append(pid)
        for cid, pids in by_customer.items():
            for pid in pids:
                if pid not in tagged and rng.random() < 0.67:
                    tagged.add(pid)
                    tags.append(
                        PromotionPurchase(organisation=org, promotion=promo, purchase_id=pid, customer_id=cid)
                    )
    PromotionPurchase.objects.bulk_create(tags, batch_size=BATCH)
    return made, len(tags)
