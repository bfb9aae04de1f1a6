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
  tagged, as a rep would at the sale;
- a year of monthly display and stock checks for the accounts the policy checks (company accounts
  by default, at most ``MAX_STOCK_ACCOUNTS``): one visit a month, the display and stock drifting
  from month to month as on a real shelf (a good display mostly stays good; stock runs low, now
  and then out, and is refilled), inserted in bulk. Done once: skipped when the organisation
  already has checks.
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
from huitou.core.months import add_months, month_last
from huitou.customers.models import Customer, Purchase

from .models import Promotion, PromotionPurchase, StockCheck, WalletEstimate
from .policy import report_policy

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation

MAX_ESTIMATES = 2000
MAX_TAGS_PER_PROMOTION = 3000
BATCH = 1000
MAX_STOCK_ACCOUNTS = 2000


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
    counts = {"estimates": 0, "promotions": 0, "tagged": 0, "stock_checks": 0}
    rng = random.Random(seed)
    with transaction.atomic():
        if not Promotion.objects.filter(organisation=org).exists():
            counts["estimates"] = _estimates(org, today, rng)
            counts["promotions"], counts["tagged"] = _promotions_and_tags(org, today, rng)
        if not StockCheck.objects.filter(organisation=org).exists():
            counts["stock_checks"] = _stock_checks(org, today, random.Random(seed + 1))
    return counts


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


# Month-to-month drift of a shelf: the next state's weights given this one.
# (values of StockCheck.Display and StockCheck.Stock)
_DISPLAY_NEXT: dict[str, tuple[tuple[str, float], ...]] = {
    "good": (("good", 0.75), ("partial", 0.2), ("poor", 0.05)),
    "partial": (("good", 0.35), ("partial", 0.45), ("poor", 0.15), ("none", 0.05)),
    "poor": (("partial", 0.4), ("poor", 0.4), ("none", 0.2)),
    "none": (("partial", 0.3), ("poor", 0.2), ("none", 0.5)),
}
_STOCK_NEXT: dict[str, tuple[tuple[str, float], ...]] = {
    "enough": (("enough", 0.7), ("low", 0.25), ("out", 0.05)),
    "low": (("enough", 0.5), ("low", 0.3), ("out", 0.2)),
    "out": (("enough", 0.7), ("low", 0.2), ("out", 0.1)),
}
_FACINGS: dict[str, tuple[int, int]] = {"good": (6, 12), "partial": (3, 6), "poor": (1, 3)}
_PRODUCTS = ("机油 5W-30", "机油 0W-20", "防冻液", "刹车油", "空气滤芯", "雨刮片", "玻璃水")


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o[0] for o in options], weights=[o[1] for o in options])[0]


def _stock_checks(org: Organisation, today: dt.date, rng: random.Random) -> int:
    """Twelve monthly checks per checked account, the last in this month (or on ``today``)."""
    policy = report_policy(org)
    if policy.stock_checks_for == "none":
        return 0
    accounts = Customer.objects.filter(organisation=org, merged_into__isnull=True).exclude(
        status__in=[Customer.Status.PROSPECT, Customer.Status.ERASED]
    )
    if policy.stock_checks_for == "companies":
        accounts = accounts.filter(kind=Customer.Kind.COMPANY)
    rows: list[StockCheck] = []
    this_month = today.replace(day=1)
    for cid, owner_id in accounts.order_by("pk").values_list("pk", "owner_id")[:MAX_STOCK_ACCOUNTS]:
        display: str = rng.choice(
            [StockCheck.Display.GOOD, StockCheck.Display.PARTIAL, StockCheck.Display.POOR]
        )
        stock: str = rng.choice([StockCheck.Stock.ENOUGH, StockCheck.Stock.ENOUGH, StockCheck.Stock.LOW])
        visit_day = rng.randint(3, 25)  # each rep visits the shop about the same day each month
        for back in range(11, -1, -1):
            month = add_months(this_month, -back)
            day = min(month.replace(day=min(visit_day, month_last(month).day)), today)
            display = _pick(rng, _DISPLAY_NEXT[display])
            stock = _pick(rng, _STOCK_NEXT[stock])
            low, high = _FACINGS.get(display, (0, 0))
            out = ""
            if stock == StockCheck.Stock.OUT:
                out = "、".join(rng.sample(_PRODUCTS, rng.randint(1, 2)))
            rows.append(
                StockCheck(
                    organisation=org,
                    customer_id=cid,
                    checked_on=day,
                    checked_by_id=owner_id,
                    display=display,
                    facings=rng.randint(low, high) if high else None,
                    stock=stock,
                    out_of_stock=out,
                    is_latest=back == 0,
                )
            )
    StockCheck.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)
