"""The daily contact plan: active rules in, tasks and queued messages out (DOMAIN §3).

``plan_run(organisation=, day=)`` looks at every active rule once. For a rule with offset ``o`` the
plan of day ``D`` reacts to events dated ``T = D - o`` (a card five days before a birthday is the
birthday rule with offset -5, found on ``D`` by looking at birthdays on ``D + 5``). Each trigger is
one or two set-based queries on indexed date columns (see ``_GENERATORS``); the candidates come back
as plain tuples with the customer's columns, and everything after that happens in memory: status,
destination, consent, the frequency cap, routing, rendering. Rows go in with
``INSERT ... ON CONFLICT DO NOTHING`` against the ``(customer, rule, occurrence)`` unique constraints,
so the plan is idempotent and counts only the rows it really inserted.

Decisions written down here (the issue left them to us):

Occurrence keys
    ``purchase:<id>`` (order, ship, arrival, workshop visit), ``owned:<id>`` (delivery, first
    service), ``owned:<id>:<due iso>`` (maintenance, insurance, inspection: they recur),
    ``notice:<id>``, ``<year>`` (birthday, festival), ``<year>:pd<id>`` (personal date),
    ``<due iso>`` (revisit) and ``<date iso>`` (seasonal). For a *lunar* birthday or personal date
    the year is the lunar year of the day it is celebrated: a lunar date can fall twice in one solar
    year (e.g. the 12th month in early January and again in late December), never twice in one
    lunar year.

Who is planned for
    Customers with status ``active``, never erased, lost or merged ones. Prospects too for the
    order triggers (order placed, shipped, arrival: they have an order, the status lags behind) and
    for revisits (following up a prospect is the rep's job); not for greetings, seasonal visits or
    after-sales, which are for people who bought. For event triggers (a purchase, a car, a personal
    date, a birthday) a customer who is not eligible is counted as skipped ``inactive``. The
    population triggers (festival, revisit, seasonal) select in SQL only eligible customers and,
    for a marketing rule, only those with a granted consent for the channel: a whole population
    is not re-examined and reported as ``no_consent`` every day.

Filters
    Empty list = everyone. ``tiers``, ``customer_types``, ``customer_kinds``, ``store_ids`` (the
    customer's store) and ``tags`` (tag names; any of them) filter customers. ``product_ids`` and
    ``product_categories`` (either matches) filter the purchase's lines, the owned product, or the
    notice's product; for triggers about the customer (birthday, festival, revisit, ...) they mean
    "owns such a product" (an active owned product).

Car triggers
    First service, maintenance, insurance and inspection look at owned products that are vehicles
    (a vehicle product, or no catalogue product at all). The first service is due at
    ``delivery + min(months, km / km-per-day)``; km per day is the car's own average
    (``mileage_km / (mileage_on - delivered_on)``) when known, else ``default_km_per_day``. It is
    not reminded when the customer had a workshop visit since the delivery. Maintenance is due one
    interval (same formula) after the customer's last workshop visit, or after the first-service
    due date when there was none; one reminder per interval (customers who never come back are
    the win-back's business). Workshop visits are ``Purchase(kind=service)`` of the customer: they
    do not say which car, so a customer with two cars has both reset by a visit. The due-date
    arithmetic runs in numpy over integer day numbers (one query of plain numbers), then the
    customers of the cars that are due are read. Which cars to look at for maintenance comes from
    a fill state kept by the plan itself (``plan_state``: per rule and car, the next due day, caught
    up each run from what changed); the cars it names are computed again from the live data, so
    the reminders are those of the data, not of the state. Inspection:
    at the ages in ``params.ages``, yearly from ``yearly_from``, every six months from
    ``twice_yearly_from`` (anniversaries of the delivery date, 29 February -> 28 February).

Revisit
    Due ``interval_days`` after the latest of: the last activity of ``activity_kinds``, the day the
    customer was created (when the archive has no better "customer since"), and the last touch of
    this rule before today (a missed task or a sent message restarts the interval). The occurrence
    is that due date, so a customer capped today is planned again tomorrow under the same key; a
    customer with an open task of the rule gets no second one.

Seasonal
    On each ``params.dates`` (MM-DD) day: customers with at most ``max_purchases_365`` sales (first,
    replacement, expansion) in the 365 days up to it.

Referral asks (一拓一, DOMAIN §5)
    A sale is a purchase whose kind is not ``service``; its delivery day is
    ``COALESCE(promised_on, arrives_on, ordered_on)``, stored by the database as
    ``Purchase.sale_day``. For each ``d`` of the policy's ``referrals.ask_days`` the customer is
    asked on delivery day + ``d`` (occurrence ``ask:<purchase id>:<d>``), with a script for the
    moment: the referral form at delivery, the delivery photo within the first two weeks, a
    honeymoon check-in after that. Customers who
    already have ``referrals.quota`` counted referrals (verified by the DCRC, not held or refused
    by a review) submitted since that delivery day are skipped as ``quota_met``: one ``EXISTS`` in
    the candidate query (``referrals.plan_hooks``). The quota is the current policy's (the asks
    are about now; ``quota_periods`` describe the past). One ask per customer and day: with two
    sales due the same day, the most recent delivery's (then the lowest purchase id) is asked. The
    sales are read by their delivery day (``purchase_sale_day_idx``), however long after the order.

Pace
    The frequency cap counts MARKETING touches only: tasks by ``due_on``, messages by the local date
    of ``scheduled_for``, cancelled and suppressed ones excepted. A new touch is accepted only if no
    7-day window containing its date would then hold more than ``marketing_cap_week`` touches, and
    no 30-day window more than ``marketing_cap_month`` (this includes the windows ending on the
    day; checking every window also keeps the cap when a task moves past a weekend). Candidates are
    taken in rule order (priority high to low, then code). Existing touches of today's own
    candidates (same customer, rule, occurrence) do not count, so a second run, a concurrent run or
    a run after a crash decides exactly like the first one. A message planned for a day whose send
    time has passed (catching up) goes out at the next moment outside the quiet hours.

Skipped reasons (``PlanResult.skipped``): ``inactive``, ``no_phone`` / ``no_email`` /
``no_address`` (nowhere to send the message), ``no_consent``, ``opted_out``, ``cap_week``,
``cap_month``, ``quota_met`` (referral asks).
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.transaction import TransactionManagementError
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _

from huitou.accounts.models import Organisation, Store, User
from huitou.core.bulk import chunks, insert_ignore
from huitou.core.months import add_months
from huitou.customers.models import (
    Activity,
    Calendar,
    Consent,
    Customer,
    OwnedProduct,
    PersonalDate,
    Product,
    Purchase,
    PurchaseLine,
)

from . import calendar, plan_state
from .models import (
    TASK_CHANNELS,
    Channel,
    ContactRule,
    Message,
    PlanRun,
    ProductNotice,
    Purpose,
    ServiceDue,
    Task,
    Trigger,
)
from .pace import CONSENT_CHANNEL, planned_send_time, quiet_hours_shift, render_template
from .routing import Router

logger = logging.getLogger(__name__)

SKIP_REASONS = {
    "inactive": _("Customer not active"),
    "no_phone": _("No mobile phone"),
    "no_email": _("No e-mail address"),
    "no_address": _("No postal address"),
    "no_consent": _("No consent for the channel"),
    "opted_out": _("Opted out of the channel"),
    "cap_week": _("Weekly marketing limit reached"),
    "cap_month": _("Monthly marketing limit reached"),
    "quota_met": _("Referral quota already met"),
}

SALES_KINDS = [Purchase.Kind.FIRST, Purchase.Kind.REPLACEMENT, Purchase.Kind.EXPANSION]
ACTIVE = Customer.Status.ACTIVE
PROSPECT = Customer.Status.PROSPECT
PROSPECT_TRIGGERS = frozenset({Trigger.ORDER_PLACED, Trigger.SHIPPED, Trigger.ARRIVAL, Trigger.REVISIT})
POPULATION_TRIGGERS = frozenset({Trigger.FESTIVAL, Trigger.REVISIT, Trigger.SEASONAL})
_BIG = 20000  # above this many customers, read org-wide instead of by id lists


@dataclass
class PlanResult:
    tasks_created: int = 0
    messages_queued: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    days_run: list[dt.date] = field(default_factory=list)
    days_skipped: list[dt.date] = field(default_factory=list)  # catch-up: older than catch_up_days

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    def merge(self, other: PlanResult) -> PlanResult:
        self.tasks_created += other.tasks_created
        self.messages_queued += other.messages_queued
        for reason, n in other.skipped.items():
            self.skip(reason, n)
        self.days_run += other.days_run
        self.days_skipped += other.days_skipped
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "tasks_created": self.tasks_created,
            "messages_queued": self.messages_queued,
            "skipped": dict(sorted(self.skipped.items())),
        }


# ---------------------------------------------------------------------------------------------
# Small helpers

# The customer columns every candidate query returns first (the tuple is kept as the customer).
CUST = (
    "id",
    "status",
    "merged_into_id",
    "name",
    "phone",
    "email",
    "province",
    "city",
    "address",
    "owner_id",
    "store_id",
)
C_ID, C_STATUS, C_MERGED, C_NAME, C_PHONE, C_EMAIL, C_PROVINCE, C_CITY, C_ADDRESS, C_OWNER, C_STORE = range(
    len(CUST)
)
_N = len(CUST)
CustRow = tuple[Any, ...]


def _cust_cols(prefix: str = "") -> list[str]:
    return [f"{prefix}{c}" for c in CUST]


@dataclass(frozen=True, slots=True)
class _Extra:
    """What a candidate adds to the template context beyond the customer."""

    date: dt.date | None = None
    product: str = ""
    notice: str = ""
    occasion: str = ""
    festival: str = ""
    store_id: int | None = None
    rep_id: int | None = None
    script: str = ""  # for the moment; goes before the rule's own script (referral asks)


Candidate = tuple[CustRow, str, _Extra]


class MonthDay(Func):
    """Month * 100 + day of a date column (229 for 29 February), in SQL that an expression index
    can serve: ``EXTRACT`` on a date is immutable on PostgreSQL, ``substr`` deterministic on SQLite."""

    output_field = models.IntegerField()
    template = "(EXTRACT(MONTH FROM %(expressions)s) * 100 + EXTRACT(DAY FROM %(expressions)s))"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # SQLite keeps dates as ISO text.
        template = "CAST(replace(substr(%(expressions)s, 6, 5), '-', '') AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra)


_EPOCH = dt.date(1970, 1, 1).toordinal()


class DayNumber(Func):
    """Days since 1970-01-01 of a date column (an integer: cheap to fetch, ready for numpy)."""

    output_field = models.IntegerField()
    template = "(%(expressions)s - DATE '1970-01-01')"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "CAST(julianday(%(expressions)s) - 2440587.5 AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra)


def _day_number(d: dt.date) -> int:
    return d.toordinal() - _EPOCH


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _anniversary_mds(t: dt.date) -> list[int]:
    """Month-days (MMDD) of solar yearly dates celebrated on ``t`` (29 February on 28 February of a
    common year)."""
    mds = [t.month * 100 + t.day]
    if t.month == 2 and t.day == 28 and not _is_leap(t.year):
        mds.append(229)
    return mds


def _days_in_month(year: int, month: int) -> int:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - dt.date(year, month, 1)).days


def _months_back(t: dt.date, n: int) -> list[dt.date]:
    """Every ``d`` with ``add_months(d, n) == t``."""
    y, m = divmod(t.month - 1 - n, 12)
    year, month = t.year + y, m + 1
    size = _days_in_month(year, month)
    if t.day > size:
        return []
    out = [dt.date(year, month, t.day)]
    if t.day == _days_in_month(t.year, t.month):  # t is a month end: later days of the source clamp to it
        out += [dt.date(year, month, day) for day in range(t.day + 1, size + 1)]
    return out


def _anniversary_sources(t: dt.date, years: int) -> list[dt.date]:
    """Every ``d`` whose ``years``-th solar anniversary is ``t``."""
    year = t.year - years
    out = []
    if not (t.month == 2 and t.day == 29) or _is_leap(year):
        out.append(dt.date(year, t.month, t.day))
    if t.month == 2 and t.day == 28 and not _is_leap(t.year) and _is_leap(year):
        out.append(dt.date(year, 2, 29))
    return out


def _in(model: type[models.Model], attname: str, values: Sequence[Any]) -> Q | RawSQL:
    """``attname IN values``; on PostgreSQL one array parameter (cheaper to send and plan)."""
    if connection.vendor != "postgresql":
        return Q(**{f"{attname}__in": list(values)})
    column = str(getattr(model._meta.get_field(attname), "column", attname))
    qn = connection.ops.quote_name
    sql = f"{qn(model._meta.db_table)}.{qn(column)} = ANY(%s)"
    return RawSQL(sql, (list(values),), output_field=BooleanField())  # noqa: S611 - names from the model


def _product_q(rule: ContactRule, path: str) -> Q | None:
    """Rows whose product (at ``path``) is one of the rule's products or categories; None = no filter."""
    if not rule.product_ids and not rule.product_categories:
        return None
    q = Q()
    if rule.product_ids:
        q |= Q(**{f"{path}_id__in": rule.product_ids})
    if rule.product_categories:
        q |= Q(**{f"{path}__category__in": rule.product_categories})
    return q


def _vehicle_q(path: str = "product") -> Q:
    return Q(**{f"{path}__isnull": True}) | Q(**{f"{path}__kind": Product.Kind.VEHICLE})


def _kmpd(delivered: dt.date, mileage_km: int | None, mileage_on: dt.date | None, default: float) -> float:
    if mileage_km and mileage_on and mileage_on > delivered:
        return mileage_km / (mileage_on - delivered).days
    return default


def service_due(start: dt.date, *, km: int, months: int, km_per_day: float) -> dt.date:
    """When a car that starts at ``start`` needs a service: whichever of ``months`` or ``km`` comes first."""
    # Capped past the months bound (which wins anyway): a car that barely moves would overflow dates.
    by_km = start + dt.timedelta(days=min(max(1, math.ceil(km / km_per_day)), 31 * months + 1))
    return min(add_months(start, months), by_km)


# ---------------------------------------------------------------------------------------------
# One run


class _Run:
    """What one plan run knows: the organisation, the day, lookups loaded once."""

    def __init__(self, organisation: Organisation, day: dt.date, now: dt.datetime) -> None:
        self.org = organisation
        self.org_id: int = organisation.pk
        self.day = day
        self.now = now
        self.policy = organisation.policy.contact
        self.tz = timezone.get_default_timezone()
        self.due_on = task_due_on(day, tasks_on_rest_days=self.policy.tasks_on_rest_days)
        self.lang: str = settings.LANGUAGE_CODE
        self.customers: dict[int, CustRow] = {}
        self._consents: dict[str, dict[int, bool | None]] = {}
        self._dates: dict[dt.date, str] = {}
        self._stores: dict[int, str] | None = None
        self._users: dict[int, str] | None = None
        self.skipped: dict[str, int] = {}  # skips a generator decided (e.g. quota_met)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def start_of(self, d: dt.date) -> dt.datetime:
        return dt.datetime.combine(d, dt.time.min, tzinfo=self.tz)

    def local_date(self, when: dt.datetime) -> dt.date:
        return when.astimezone(self.tz).date()

    def base_customers(
        self, rule: ContactRule, prefix: str = "", *, products: bool = True, org: bool = True
    ) -> Q:
        """The rule's audience as a filter on Customer (through ``prefix`` from another model).
        ``org=False`` when the model filtered has its own organisation column (no join needed then
        unless the rule filters customers)."""
        p = prefix
        q = Q(**{f"{p}organisation_id": self.org_id}) if org else Q()
        if rule.tiers:
            q &= Q(**{f"{p}tier__in": rule.tiers})
        if rule.customer_types:
            q &= Q(**{f"{p}customer_type__in": rule.customer_types})
        if rule.customer_kinds:
            q &= Q(**{f"{p}kind__in": rule.customer_kinds})
        if rule.store_ids:
            q &= Q(**{f"{p}store_id__in": rule.store_ids})
        if rule.tags:
            tagged = Customer.tags.through.objects.filter(
                tag__organisation_id=self.org_id, tag__name__in=rule.tags
            ).values("customer_id")
            q &= Q(**{f"{p}id__in": tagged})
        if products:
            pq = _product_q(rule, "product")
            if pq is not None:
                owners = OwnedProduct.objects.filter(organisation_id=self.org_id, active=True).filter(pq)
                q &= Q(**{f"{p}id__in": owners.values("customer_id")})
        return q

    def eligible(self, trigger: str, prefix: str = "") -> Q:
        statuses = [ACTIVE, PROSPECT] if trigger in PROSPECT_TRIGGERS else [ACTIVE]
        return Q(**{f"{prefix}status__in": statuses, f"{prefix}merged_into__isnull": True})

    def reachable(self, rule: ContactRule) -> Q:
        """For the population triggers: only customers the rule may market to (granted consent for
        the channel). Whole populations are not reported as ``no_consent`` every day."""
        channel = CONSENT_CHANNEL.get(rule.channel) if rule.purpose == Purpose.MARKETING else None
        if channel is None:
            return Q()
        return Q(Exists(Consent.objects.filter(customer_id=OuterRef("pk"), channel=channel, granted=True)))

    def fmt_date(self, d: dt.date | None) -> str:
        if d is None:
            return ""
        if d not in self._dates:
            with translation.override(self.lang):
                self._dates[d] = formats.date_format(d, "DATE_FORMAT")
        return self._dates[d]

    def store_name(self, store_id: int | None) -> str:
        if self._stores is None:
            self._stores = dict(Store.objects.filter(organisation_id=self.org_id).values_list("id", "name"))
        return self._stores.get(store_id, "") if store_id is not None else ""

    def user_label(self, user_id: int | None) -> str:
        if self._users is None:
            self._users = {
                uid: display or username
                for uid, display, username in User.objects.filter(organisation_id=self.org_id).values_list(
                    "id", "display_name", "username"
                )
            }
        return self._users.get(user_id, "") if user_id is not None else ""

    def consents(self, channel: str, customer_ids: set[int]) -> dict[int, bool | None]:
        """customer id -> granted (None: no consent row), for the customers asked about (loaded once
        per channel and run)."""
        known = self._consents.setdefault(channel, {})
        missing = [cid for cid in customer_ids if cid not in known]
        if not missing:
            return known
        rows: Iterable[tuple[int, bool]]
        if len(missing) > _BIG:
            rows = Consent.objects.filter(customer__organisation_id=self.org_id, channel=channel).values_list(
                "customer_id", "granted"
            )
        else:
            rows = (
                row
                for chunk in chunks(sorted(missing))
                for row in Consent.objects.filter(
                    _in(Consent, "customer_id", chunk), channel=channel
                ).values_list("customer_id", "granted")
            )
        for cid, granted in rows:
            known[cid] = bool(granted)
        for cid in missing:
            known.setdefault(cid, None)
        return known


# ---------------------------------------------------------------------------------------------
# Candidates per trigger. Each yields (customer row, occurrence, extra) for events dated ``t``.


def _purchase_products(ids: Sequence[int]) -> dict[int, str]:
    """The first line's product (or description) of each purchase."""
    out: dict[int, str] = {}
    for chunk in chunks(sorted(ids)):
        for pid, name, desc in (
            PurchaseLine.objects.filter(_in(PurchaseLine, "purchase_id", chunk))
            .order_by("purchase_id", "id")
            .values_list("purchase_id", "product__name", "description")
        ):
            if pid not in out:
                out[pid] = name or desc or ""
    return out


_PURCHASE_DATE: dict[str, str] = {
    Trigger.ORDER_PLACED: "ordered_on",
    Trigger.SHIPPED: "shipped_on",
    Trigger.ARRIVAL: "arrives_on",
    Trigger.SERVICE_VISIT: "ordered_on",
}


def _gen_purchase(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    trigger = rule.trigger
    kinds = [Purchase.Kind.SERVICE] if trigger == Trigger.SERVICE_VISIT else SALES_KINDS
    qs = Purchase.objects.filter(organisation_id=run.org_id, kind__in=kinds, **{_PURCHASE_DATE[trigger]: t})
    qs = qs.filter(run.base_customers(rule, "customer__", products=False, org=False))
    pq = _product_q(rule, "product")
    if pq is not None:
        qs = qs.filter(Exists(PurchaseLine.objects.filter(pq, purchase_id=OuterRef("pk"))))
    rows = list(
        qs.values_list(*_cust_cols("customer__"), "id", "store_id", "rep_id", "promised_on", "arrives_on")
    )
    products = _purchase_products([r[_N] for r in rows])
    for r in rows:
        pid, store_id, rep_id, promised_on, arrives_on = r[_N:]
        when_by_trigger: dict[str, dt.date | None] = {
            Trigger.ORDER_PLACED: promised_on,
            Trigger.SERVICE_VISIT: t,
        }
        when = when_by_trigger.get(trigger, arrives_on)
        extra = _Extra(date=when, product=products.get(pid, ""), store_id=store_id, rep_id=rep_id)
        yield r[:_N], f"purchase:{pid}", extra


def _owned(run: _Run, rule: ContactRule, *, vehicles: bool) -> Any:
    qs = OwnedProduct.objects.filter(organisation_id=run.org_id, active=True)
    qs = qs.filter(run.base_customers(rule, "customer__", products=False, org=False))
    pq = _product_q(rule, "product")
    if pq is not None:
        qs = qs.filter(pq)
    if vehicles:
        qs = qs.filter(_vehicle_q())
    return qs


def _product_label(name: str | None, description: str | None) -> str:
    return name or description or ""


def _gen_delivered(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    qs = _owned(run, rule, vehicles=False).filter(delivered_on=t)
    for r in qs.values_list(*_cust_cols("customer__"), "id", "product__name", "description"):
        oid, name, desc = r[_N:]
        yield r[:_N], f"owned:{oid}", _Extra(date=t, product=_product_label(name, desc))


def _gen_notice(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    notices = ProductNotice.objects.filter(organisation_id=run.org_id, effective_on=t).select_related(
        "product"
    )
    for notice in notices.order_by("id"):
        product = notice.product
        filtered = bool(rule.product_ids or rule.product_categories)
        if (
            filtered
            and product.pk not in rule.product_ids
            and product.category not in rule.product_categories
        ):
            continue
        extra = _Extra(date=t, product=product.name, notice=notice.body or notice.title)
        qs = OwnedProduct.objects.filter(
            organisation_id=run.org_id, active=True, product_id=notice.product_id
        )
        qs = qs.filter(run.base_customers(rule, "customer__", products=False))
        seen: set[int] = set()
        for r in qs.values_list(*_cust_cols("customer__")):
            if r[C_ID] not in seen:
                seen.add(r[C_ID])
                yield r, f"notice:{notice.pk}", extra


def _lunar_q(keys: list[tuple[int, int, bool]], month: str, day: str, leap: str) -> Q:
    q = Q(pk__in=[])
    for m, d, is_leap in keys:
        q |= Q(**{month: m, day: d, leap: is_leap})
    return q


def _gen_birthday(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    base = Customer.objects.filter(run.base_customers(rule))
    extra = _Extra(date=t)
    solar = (
        base.filter(birthday_calendar=Calendar.SOLAR, birthday__isnull=False)
        .annotate(plan_md=MonthDay("birthday"))
        .filter(plan_md__in=_anniversary_mds(t))
    )
    occurrence = str(t.year)
    for r in solar.values_list(*CUST):
        yield r, occurrence, extra
    keys = calendar.lunar_birthday_keys(t)
    lunar = base.filter(birthday_calendar=Calendar.LUNAR).filter(
        _lunar_q(keys, "birthday_lunar_month", "birthday_lunar_day", "birthday_lunar_leap")
    )
    lunar_year = str(calendar.solar_to_lunar(t)[0])
    for r in lunar.values_list(*CUST):
        yield r, lunar_year, extra


def _gen_personal_date(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    qs = PersonalDate.objects.filter(run.base_customers(rule, "customer__"))
    kinds = (rule.params or {}).get("kinds") or []
    if kinds:
        qs = qs.filter(kind__in=kinds)
    solar = (
        qs.filter(calendar=Calendar.SOLAR, date__isnull=False)
        .annotate(plan_md=MonthDay("date"))
        .filter(plan_md__in=_anniversary_mds(t))
    )
    lunar = qs.filter(calendar=Calendar.LUNAR).filter(
        _lunar_q(calendar.lunar_birthday_keys(t), "lunar_month", "lunar_day", "lunar_leap")
    )
    labels: dict[str, str] = {}
    with translation.override(run.lang):
        for value, label in PersonalDate.Kind.choices:
            labels[value] = str(label)
    for part, year in ((solar, t.year), (lunar, calendar.solar_to_lunar(t)[0])):
        for r in part.values_list(*_cust_cols("customer__"), "id", "kind", "label"):
            pd_id, kind, label = r[_N:]
            yield r[:_N], f"{year}:pd{pd_id}", _Extra(date=t, occasion=label or labels.get(kind, kind))


def _gen_festival(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    code = (rule.params or {}).get("festival", "")
    try:
        if calendar.festival_date(code, t.year) != t:
            return
    except (KeyError, ValueError):
        logger.warning("rule %s names an unknown festival %r", rule.pk, code)
        return
    extra = _Extra(date=t, festival=calendar.festival_name(code, run.lang))
    qs = Customer.objects.filter(run.base_customers(rule), run.eligible(rule.trigger), run.reachable(rule))
    occurrence = str(t.year)
    for r in qs.values_list(*CUST):
        yield r, occurrence, extra


def _gen_seasonal(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    params = rule.params or {}
    if t.strftime("%m-%d") not in (params.get("dates") or []):
        return
    most = int(params.get("max_purchases_365", 1))
    frequent = (
        Purchase.objects.filter(
            organisation_id=run.org_id,
            kind__in=SALES_KINDS,
            ordered_on__gt=t - dt.timedelta(days=365),
            ordered_on__lte=t,
        )
        .values("customer_id")
        .annotate(n=Count("id"))
        .filter(n__gt=most)
        .values("customer_id")
    )
    qs = Customer.objects.filter(run.base_customers(rule), run.eligible(rule.trigger), run.reachable(rule))
    qs = qs.exclude(id__in=frequent)
    extra = _Extra(date=t)
    occurrence = t.isoformat()
    for r in qs.values_list(*CUST):
        yield r, occurrence, extra


def _gen_revisit(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    params = rule.params or {}
    interval = int(params.get("interval_days", 180))
    kinds = list(params.get("activity_kinds") or ["visit"])
    cutoff = t - dt.timedelta(days=interval)  # the base must be on or before this day
    after_cutoff = run.start_of(cutoff + dt.timedelta(days=1))
    today = run.start_of(run.day)
    # Not due: an activity of the kinds since the cutoff; a touch of this rule between the cutoff
    # and today (a missed task or a message restarts the interval; today's are this run's own);
    # an open task of the rule from an earlier day (one open task per rule and customer).
    recent = Activity.objects.filter(
        customer_id=OuterRef("pk"), kind__in=kinds, occurred_at__gte=after_cutoff
    )
    rule_tasks = Task.objects.filter(rule=rule, customer_id=OuterRef("pk"))
    touched = rule_tasks.filter(due_on__gt=cutoff, due_on__lt=run.day)
    still_open = rule_tasks.filter(status=Task.Status.OPEN, due_on__lt=run.due_on)
    sent = Message.objects.filter(
        rule=rule, customer_id=OuterRef("pk"), scheduled_for__gte=after_cutoff, scheduled_for__lt=today
    )
    qs = (
        Customer.objects.filter(
            run.base_customers(rule),
            run.eligible(rule.trigger),
            run.reachable(rule),
            created_at__lt=after_cutoff,
        )
        .exclude(Exists(recent))
        .exclude(Exists(touched))
        .exclude(Exists(still_open))
        .exclude(Exists(sent))
    )
    rows = list(qs.values_list(*CUST, "created_at"))
    if not rows:
        return
    open_tasks: dict[int, set[str]] = defaultdict(set)
    base: dict[int, dt.date] = {r[C_ID]: run.local_date(r[_N]) for r in rows}
    for chunk in chunks(sorted(base)):
        for cid, occ in Task.objects.filter(
            _in(Task, "customer_id", chunk), rule=rule, status=Task.Status.OPEN
        ).values_list("customer_id", "occurrence"):
            open_tasks[cid].add(occ)
        for cid, last in (
            Activity.objects.filter(_in(Activity, "customer_id", chunk), kind__in=kinds)
            .values("customer_id")
            .annotate(last=Max("occurred_at"))
            .values_list("customer_id", "last")
        ):
            base[cid] = max(base[cid], run.local_date(last))
        for cid, last_due in (
            Task.objects.filter(_in(Task, "customer_id", chunk), rule=rule, due_on__lte=cutoff)
            .values("customer_id")
            .annotate(last=Max("due_on"))
            .values_list("customer_id", "last")
        ):
            base[cid] = max(base[cid], last_due)
        for cid, last_sent in (
            Message.objects.filter(
                _in(Message, "customer_id", chunk), rule=rule, scheduled_for__lt=after_cutoff
            )
            .values("customer_id")
            .annotate(last=Max("scheduled_for"))
            .values_list("customer_id", "last")
        ):
            base[cid] = max(base[cid], run.local_date(last_sent))
    extra = _Extra(date=t)
    for r in rows:
        cid = r[C_ID]
        occurrence = (base[cid] + dt.timedelta(days=interval)).isoformat()
        if open_tasks.get(cid, set()) - {occurrence}:
            continue  # one open task per rule and customer
        yield r[:_N], occurrence, extra


def _serviced_since(customer_ids: Iterable[int], since: dt.date, until: dt.date) -> dict[int, list[dt.date]]:
    """Workshop visits (service purchases) of these customers in [since, until], by customer."""
    out: dict[int, list[dt.date]] = defaultdict(list)
    ids = sorted(set(customer_ids))
    for chunk in chunks(ids):
        for cid, day in Purchase.objects.filter(
            _in(Purchase, "customer_id", chunk),
            kind=Purchase.Kind.SERVICE,
            ordered_on__gte=since,
            ordered_on__lte=until,
        ).values_list("customer_id", "ordered_on"):
            out[cid].append(day)
    return out


def add_months_days(days: np.ndarray, n: int) -> np.ndarray:
    """:func:`add_months` over an array of day numbers (days since 1970-01-01)."""
    d = days.astype("int64").astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day0 = (d - month.astype("datetime64[D]")).astype("int64")
    target = month + n
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype("int64")
    return (target.astype("datetime64[D]") + np.minimum(day0, length - 1)).astype("int64")


def service_due_days(
    start: np.ndarray,
    delivered: np.ndarray,
    mileage_km: np.ndarray,
    mileage_on: np.ndarray,
    *,
    km: int,
    months: int,
    default_km_per_day: float,
) -> np.ndarray:
    """:func:`service_due` over arrays of day numbers; unknown mileage is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        span = mileage_on - delivered
        known = np.isfinite(mileage_km) & np.isfinite(span) & (mileage_km > 0) & (span > 0)
        kmpd = np.where(known, mileage_km / np.where(known, span, 1.0), default_km_per_day)
        by_km = start + np.minimum(np.maximum(1, np.ceil(km / kmpd)), 31 * months + 1)
    return np.minimum(add_months_days(start, months), by_km.astype("int64"))


def _car_sql(qs: Any) -> tuple[str, tuple[Any, ...]]:
    """SQL of (id, customer_id, plan_d, mileage_km, plan_m) of the cars: day numbers of the delivery
    and of the mileage reading."""
    query = qs.annotate(plan_d=DayNumber("delivered_on"), plan_m=DayNumber("mileage_on")).values_list(
        "id", "customer_id", "plan_d", "mileage_km", "plan_m"
    )
    sql, params = query.query.sql_with_params()
    return sql, tuple(params)


def _number_rows(sql: str, params: Sequence[Any], width: int) -> np.ndarray:
    """Plain numbers straight from the cursor (Django's per-value converters cost more than the
    query), as floats (NULL = NaN)."""
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    if not rows:
        return np.empty((0, width))
    return np.array(rows, dtype=float)


def _car_arrays(qs: Any) -> np.ndarray:
    """(id, customer id, delivered, mileage km, mileage read on) of the cars, as floats (NaN = unknown)."""
    sql, params = _car_sql(qs)
    return _number_rows(sql, params, 5)


def _car_candidates(ids: Iterable[int], t: dt.date, suffix: str) -> Iterator[Candidate]:
    """The candidates for these cars, with their customers' columns (second, small query)."""
    for chunk in chunks(sorted(set(ids))):
        for r in OwnedProduct.objects.filter(_in(OwnedProduct, "id", chunk)).values_list(
            *_cust_cols("customer__"), "id", "product__name", "description"
        ):
            oid, name, desc = r[_N:]
            yield r[:_N], f"owned:{oid}{suffix}", _Extra(date=t, product=_product_label(name, desc))


def _service_params(rule: ContactRule) -> tuple[int, int]:
    params = rule.params or {}
    return int(params.get("km", 5000)), int(params.get("months", 6))


def _not_serviced_since_delivery(run: _Run, cars: np.ndarray) -> list[int]:
    """Ids of the cars (rows of ``_car_arrays``) whose customer had no workshop visit since delivery."""
    if not len(cars):
        return []
    first = dt.date.fromordinal(int(cars[:, 2].min()) + _EPOCH)
    visits = _serviced_since(cars[:, 1].astype("int64").tolist(), first, run.day)
    keep = []
    for oid, cid, delivered in zip(cars[:, 0], cars[:, 1], cars[:, 2], strict=True):
        since = dt.date.fromordinal(int(delivered) + _EPOCH)
        if not any(v >= since for v in visits.get(int(cid), ())):
            keep.append(int(oid))
    return keep


# Car triggers run in two steps: the day arithmetic over every car that could be due, on integer
# day numbers in numpy (no per-row Python, no customer columns); then one small query for the
# customers of the cars that are due.


def _gen_first_service(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    km, months = _service_params(rule)
    lo = add_months(t, -months) - dt.timedelta(days=1)
    cars = _car_arrays(_owned(run, rule, vehicles=True).filter(delivered_on__gte=lo, delivered_on__lt=t))
    if not len(cars):
        return
    due = service_due_days(
        cars[:, 2],
        cars[:, 2],
        cars[:, 3],
        cars[:, 4],
        km=km,
        months=months,
        default_km_per_day=run.policy.default_km_per_day,
    )
    hits = cars[due == _day_number(t)]
    yield from _car_candidates(_not_serviced_since_delivery(run, hits), t, "")


def maintenance_due_days(
    cars: np.ndarray, last_visit: np.ndarray, *, km: int, months: int, default_km_per_day: float
) -> np.ndarray:
    """Day numbers the maintenance reminder of each car (rows of ``_car_arrays``) is due: one
    interval after the customer's last workshop visit when it is on or after the delivery
    (``last_visit``: day numbers, NaN = none), else one interval after the first-service due date."""
    delivered, mileage_km, mileage_on = cars[:, 2], cars[:, 3], cars[:, 4]
    with np.errstate(invalid="ignore"):
        visited = np.isfinite(last_visit) & (last_visit >= delivered)

    def due(start: np.ndarray) -> np.ndarray:
        return service_due_days(
            start,
            delivered,
            mileage_km,
            mileage_on,
            km=km,
            months=months,
            default_km_per_day=default_km_per_day,
        )

    after_visit = due(np.where(visited, last_visit, delivered))
    second = due(due(delivered).astype(float))
    return np.where(visited, after_visit, second)


def _last_visits(run: _Run, customer_ids: Sequence[int] | None) -> np.ndarray:
    """(customer id, day number of the last workshop visit on or before the run's day), sorted.

    Hand-written SQL: the kind is a literal, so SQLite reads the visits from the partial index
    ``purchase_service_day_idx`` without looking at each row, and ``GROUP BY +customer_id`` keeps
    it from walking the whole purchase table in customer order instead (PostgreSQL hashes either
    way)."""
    qn = connection.ops.quote_name
    table = qn(Purchase._meta.db_table)
    pg = connection.vendor == "postgresql"
    day = "(ordered_on - DATE '1970-01-01')" if pg else "CAST(julianday(ordered_on) - 2440587.5 AS INTEGER)"
    service = Purchase.Kind.SERVICE.value  # a constant of the model, safe to inline
    base = (
        f"SELECT +customer_id, MAX({day}) FROM {table} "  # noqa: S608 - names and a constant from the model
        f"WHERE organisation_id = %s AND kind = '{service}' AND ordered_on <= %s"
    )
    parts = []
    if customer_ids is None:
        parts.append(_number_rows(base + " GROUP BY +customer_id", (run.org_id, run.day), 2))
    else:
        for chunk in chunks(customer_ids):
            if pg:
                where, params = " AND customer_id = ANY(%s)", [list(chunk)]
            else:
                where, params = " AND customer_id IN (" + ", ".join(["%s"] * len(chunk)) + ")", list(chunk)
            sql = base + where + " GROUP BY +customer_id"
            parts.append(_number_rows(sql, (run.org_id, run.day, *params), 2))
    rows = np.concatenate(parts) if parts else np.empty((0, 2))
    return rows[np.argsort(rows[:, 0], kind="stable")]


def _maintenance_due(
    run: _Run, km: int, months: int, car_ids: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(car ids, due day numbers) of the organisation's cars with a delivery date (all of them, or
    those of ``car_ids``), from the live data: the last visits up to the run's day."""
    base = OwnedProduct.objects.filter(organisation_id=run.org_id, delivered_on__isnull=False)
    if car_ids is None:
        cars = _car_arrays(base)
    else:
        parts = [_car_arrays(base.filter(_in(OwnedProduct, "id", chunk))) for chunk in chunks(car_ids)]
        cars = np.concatenate(parts) if parts else np.empty((0, 5))
    if not len(cars):
        return np.empty(0, dtype="int64"), np.empty(0, dtype="int64")
    customers = None if car_ids is None else sorted({int(c) for c in cars[:, 1]})
    last = _last_visits(run, customers)
    visit = np.full(len(cars), np.nan)
    if len(last):
        pos = np.minimum(np.searchsorted(last[:, 0], cars[:, 1]), len(last) - 1)
        found = last[pos, 0] == cars[:, 1]
        visit[found] = last[pos[found], 1]
    due = maintenance_due_days(
        cars, visit, km=km, months=months, default_km_per_day=run.policy.default_km_per_day
    )
    return cars[:, 0].astype("int64"), due


def _gen_maintenance(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    """From the fill state (``plan_state``): the cars it says are due by ``t`` are computed again
    from the live data, and those due exactly on ``t`` are the candidates."""
    km, months = _service_params(rule)
    target = _day_number(t)

    def write(rows: Sequence[tuple[int, int, dt.date]]) -> None:
        insert_ignore(ServiceDue, ("rule", "car_id", "due_on"), rows, order_by=("car_id",))

    def dated(car: np.ndarray, due: np.ndarray, keep: np.ndarray) -> list[tuple[int, dt.date]]:
        return [
            (int(c), dt.date.fromordinal(int(d) + _EPOCH)) for c, d in zip(car[keep], due[keep], strict=True)
        ]

    def compute(car_ids: Sequence[int] | None) -> list[tuple[int, dt.date]]:
        car, due = _maintenance_due(run, km, months, car_ids)
        return dated(car, due, due >= target)

    params = {"km": km, "months": months, "default_km_per_day": run.policy.default_km_per_day}
    plan_state.service_due_refresh(rule=rule, params=params, target=t, compute=compute, write=write)
    looked_at = plan_state.service_due_cars(rule=rule, target=t)
    if not looked_at:
        return
    car, due = _maintenance_due(run, km, months, looked_at)
    # Today's stay in the state (a second run of the day finds them again); earlier ones go.
    plan_state.service_due_settle(rule=rule, target=t, due=dated(car, due, due >= target), write=write)
    hits = sorted(int(c) for c in car[due == target])
    if not hits:
        return
    suffix = f":{t.isoformat()}"
    for chunk in chunks(hits):
        for r in (
            _owned(run, rule, vehicles=True)
            .filter(_in(OwnedProduct, "id", chunk))
            .values_list(*_cust_cols("customer__"), "id", "product__name", "description")
        ):
            oid, name, desc = r[_N:]
            yield r[:_N], f"owned:{oid}{suffix}", _Extra(date=t, product=_product_label(name, desc))


def _gen_insurance(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    qs = _owned(run, rule, vehicles=True).filter(insurance_expires_on=t)
    for r in qs.values_list(*_cust_cols("customer__"), "id", "product__name", "description"):
        oid, name, desc = r[_N:]
        yield r[:_N], f"owned:{oid}:{t.isoformat()}", _Extra(date=t, product=_product_label(name, desc))


INSPECTION_MAX_AGE = 40


def inspection_sources(t: dt.date, params: dict[str, Any]) -> list[dt.date]:
    """Delivery dates of the cars whose inspection falls due on ``t``."""
    ages = {int(a) for a in params.get("ages") or []}
    yearly_from = params.get("yearly_from")
    twice_from = params.get("twice_yearly_from")
    out: set[dt.date] = set()
    for age in range(1, INSPECTION_MAX_AGE + 1):
        if age in ages or (yearly_from is not None and age >= int(yearly_from)):
            out.update(_anniversary_sources(t, age))
        if twice_from is not None and age >= int(twice_from):
            out.update(_anniversary_sources(t, age))
            out.update(_months_back(t, 12 * age + 6))
    return sorted(out)


def _gen_inspection(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    sources = inspection_sources(t, rule.params or {})
    if not sources:
        return
    qs = _owned(run, rule, vehicles=True).filter(delivered_on__in=sources)
    for r in qs.values_list(*_cust_cols("customer__"), "id", "product__name", "description"):
        oid, name, desc = r[_N:]
        yield r[:_N], f"owned:{oid}:{t.isoformat()}", _Extra(date=t, product=_product_label(name, desc))


# Up to this many days after delivery the rep brings the delivery photo; later asks are check-ins.
PHOTO_ASK_DAYS = 14

_ASK_SCRIPTS = {
    "delivery": _(
        "Delivery day, the best moment to ask: fill in the referral form (推荐表) together with the "
        "customer before they drive off."
    ),
    "photo": _(
        "Bring the delivery photo, ask how the car is going, and ask again for a friend or relative "
        "who may need a car."
    ),
    "honeymoon": _(
        "Honeymoon period after delivery: check in on how the car is doing and ask whether a friend, "
        "relative or colleague is thinking about a car."
    ),
}


def _ask_moment(days_after: int) -> str:
    if days_after <= 0:
        return "delivery"
    return "photo" if days_after <= PHOTO_ASK_DAYS else "honeymoon"


def _gen_referral_ask(run: _Run, rule: ContactRule, t: dt.date) -> Iterator[Candidate]:
    from huitou.referrals.plan_hooks import referral_quota_met

    policy = run.org.policy.referrals
    ask_on = {t - dt.timedelta(days=d): d for d in set(policy.ask_days)}
    if not ask_on:
        return
    days = sorted(ask_on)
    # Start of each delivery day, for "referrals submitted since delivery" (a day is local).
    since = Case(
        *[When(plan_delivery=day, then=Value(run.start_of(day))) for day in days],
        output_field=DateTimeField(),
    )
    qs = (
        Purchase.objects.filter(organisation_id=run.org_id, kind__in=SALES_KINDS, sale_day__in=days)
        .exclude(kind=Purchase.Kind.SERVICE)  # the partial index's own condition, word for word
        .annotate(plan_delivery=F("sale_day"))
        .filter(run.base_customers(rule, "customer__", products=False, org=False))
    )
    pq = _product_q(rule, "product")
    if pq is not None:
        qs = qs.filter(Exists(PurchaseLine.objects.filter(pq, purchase_id=OuterRef("pk"))))
    qs = qs.annotate(
        plan_since=since,
        plan_met=referral_quota_met(customer="customer_id", since="plan_since", quota=policy.quota),
    )
    # Per customer, the most recent delivery (smallest ask day), then the lowest purchase id.
    best: dict[int, tuple[CustRow, int, dt.date, bool, int | None, int | None]] = {}
    for r in qs.values_list(
        *_cust_cols("customer__"), "id", "plan_delivery", "plan_met", "store_id", "rep_id"
    ):
        pid, delivered, met, store_id, rep_id = r[_N:]
        cid = r[C_ID]
        held = best.get(cid)
        if held is None or (delivered, -pid) > (held[2], -held[1]):
            best[cid] = (r[:_N], pid, delivered, bool(met), store_id, rep_id)
    if not best:
        return
    products = _purchase_products(sorted(b[1] for b in best.values()))
    with translation.override(run.lang):
        scripts = {key: str(text) for key, text in _ASK_SCRIPTS.items()}
    for cid in sorted(best):
        c, pid, delivered, met, store_id, rep_id = best[cid]
        eligible = c[C_STATUS] == ACTIVE and c[C_MERGED] is None
        if met and eligible:
            run.skip("quota_met")
            continue
        d = ask_on[delivered]
        extra = _Extra(
            date=delivered,
            product=products.get(pid, ""),
            store_id=store_id,
            rep_id=rep_id,
            script=scripts[_ask_moment(d)],
        )
        yield c, f"ask:{pid}:{d}", extra


_GENERATORS: dict[str, Callable[[_Run, ContactRule, dt.date], Iterator[Candidate]]] = {
    Trigger.ORDER_PLACED: _gen_purchase,
    Trigger.SHIPPED: _gen_purchase,
    Trigger.ARRIVAL: _gen_purchase,
    Trigger.SERVICE_VISIT: _gen_purchase,
    Trigger.DELIVERED: _gen_delivered,
    Trigger.PRODUCT_NOTICE: _gen_notice,
    Trigger.BIRTHDAY: _gen_birthday,
    Trigger.PERSONAL_DATE: _gen_personal_date,
    Trigger.FESTIVAL: _gen_festival,
    Trigger.SEASONAL: _gen_seasonal,
    Trigger.REVISIT: _gen_revisit,
    Trigger.FIRST_SERVICE: _gen_first_service,
    Trigger.MAINTENANCE: _gen_maintenance,
    Trigger.INSURANCE: _gen_insurance,
    Trigger.INSPECTION: _gen_inspection,
    Trigger.REFERRAL_ASK: _gen_referral_ask,
}


def plan_candidates(*, organisation: Organisation, rule: ContactRule, day: dt.date) -> list[tuple[int, str]]:
    """(customer id, occurrence) the rule finds for ``day`` before status, consent and the cap
    (for previews and tests)."""
    run = _Run(organisation, day, timezone.now())
    t = day - dt.timedelta(days=rule.offset_days)
    return [(c[C_ID], occ) for c, occ, _extra in _GENERATORS[rule.trigger](run, rule, t)]


# ---------------------------------------------------------------------------------------------
# The cap


def fits_cap(dates: Sequence[dt.date], t: dt.date, width: int, cap: int) -> bool:
    """True if adding a touch on ``t`` leaves every ``width``-day window containing ``t`` at ``cap``
    touches or fewer. ``dates`` is sorted. The fullest such window starts at ``t`` or at one of the
    existing touches in ``[t - width + 1, t]``, so only those starts are checked."""
    if cap <= 0:
        return False
    if len(dates) < cap:
        return True
    first = t - dt.timedelta(days=width - 1)
    starts = {t, first}
    starts.update(dates[bisect.bisect_left(dates, first) : bisect.bisect_right(dates, t)])
    span = dt.timedelta(days=width - 1)
    return all(bisect.bisect_right(dates, a + span) - bisect.bisect_left(dates, a) + 1 <= cap for a in starts)


def _marketing_touches(
    run: _Run, customer_ids: set[int], own: set[tuple[int, int, str]]
) -> dict[int, list[dt.date]]:
    """Dates of the marketing touches of these customers around the day, today's own ones excepted."""
    lo = run.day - dt.timedelta(days=31)
    hi = run.day + dt.timedelta(days=62)
    tasks = Task.objects.filter(
        organisation_id=run.org_id, purpose=Purpose.MARKETING, due_on__gte=lo, due_on__lte=hi
    ).exclude(status=Task.Status.CANCELLED)
    messages = Message.objects.filter(
        organisation_id=run.org_id,
        purpose=Purpose.MARKETING,
        scheduled_for__gte=run.start_of(lo),
        scheduled_for__lt=run.start_of(hi),
    ).exclude(status__in=[Message.Status.CANCELLED, Message.Status.SUPPRESSED])
    out: dict[int, list[dt.date]] = defaultdict(list)

    def read(qs: Any, model: type[models.Model], column: str) -> Iterator[tuple[int, int | None, str, Any]]:
        if len(customer_ids) > _BIG:
            yield from qs.values_list("customer_id", "rule_id", "occurrence", column)
            return
        for chunk in chunks(sorted(customer_ids)):
            yield from qs.filter(_in(model, "customer_id", chunk)).values_list(
                "customer_id", "rule_id", "occurrence", column
            )

    for cid, rule_id, occ, due_on in read(tasks, Task, "due_on"):
        if cid in customer_ids and (cid, rule_id, occ) not in own:
            out[cid].append(due_on)
    for cid, rule_id, occ, when in read(messages, Message, "scheduled_for"):
        if cid in customer_ids and (cid, rule_id, occ) not in own:
            out[cid].append(run.local_date(when))
    for dates in out.values():
        dates.sort()
    return out


# ---------------------------------------------------------------------------------------------
# Writing


# Rows go in ordered by (customer, occurrence), so two runs at once take their row locks in the
# same order.
_LOCK_ORDER = ("customer", "occurrence")

TASK_COLUMNS = (
    "organisation",
    "customer",
    "rule",
    "occurrence",
    "kind",
    "purpose",
    "priority",
    "title",
    "script",
    "due_on",
    "assignee",
    "status",
    "outcome",
    "note",
    "created_at",
    "version",
)
MESSAGE_COLUMNS = (
    "organisation",
    "customer",
    "rule",
    "occurrence",
    "channel",
    "purpose",
    "priority",
    "status",
    "to",
    "subject",
    "body",
    "template_code",
    "params",
    "provider",
    "provider_message_id",
    "idempotency_key",
    "attempts",
    "last_error",
    "scheduled_for",
    "created_at",
)


def _postal(c: CustRow) -> str:
    address = (c[C_ADDRESS] or "").strip()
    if not address:
        return ""
    prefix = ""
    for part in (c[C_PROVINCE], c[C_CITY]):
        if part and part not in address and part not in prefix:
            prefix += part
    return prefix + address


def destination(channel: str, c: CustRow) -> tuple[str, str]:
    """(address, skip reason when empty) of a message on ``channel`` to customer row ``c``."""
    if channel == Channel.SMS:
        return c[C_PHONE] or "", "no_phone"
    if channel == Channel.EMAIL:
        return c[C_EMAIL] or "", "no_email"
    return _postal(c), "no_address"


def _task_script(rule: ContactRule, extra: _Extra) -> str:
    if not extra.script:
        return rule.script
    return f"{extra.script}\n{rule.script}" if rule.script else extra.script


def _after_rule_inserted(rule: ContactRule) -> None:
    """Hook between two rules' inserts (tests inject a crash here)."""


def _context(run: _Run, c: CustRow, extra: _Extra) -> dict[str, str]:
    return {
        "name": c[C_NAME] or "",
        "product": extra.product,
        "date": run.fmt_date(extra.date),
        "store": run.store_name(extra.store_id if extra.store_id is not None else c[C_STORE]),
        "rep": run.user_label(extra.rep_id if extra.rep_id is not None else c[C_OWNER]),
        "festival": extra.festival,
        "occasion": extra.occasion,
        "notice": extra.notice,
    }


# ---------------------------------------------------------------------------------------------
# The services


def task_due_on(day: dt.date, *, tasks_on_rest_days: bool) -> dt.date:
    if tasks_on_rest_days or calendar.is_working_day(day):
        return day
    return calendar.next_working_day(day)


# PostgreSQL settings for the length of a run: the plan's queries are short, so compiling them
# (JIT) costs more than it saves; a few hash aggregates over a quarter of a million rows would
# spill to disk at the default work_mem; and a commit per rule need not wait for the WAL flush:
# a server crash loses at most the last rules' rows together with the run's DONE mark (commits
# stay in order, and any later durable commit, such as the outbox marking a message sent, flushes
# them too), and the day is planned again, idempotently, by the next catch-up.
_PG_SESSION = {"jit": "off", "work_mem": "64MB", "synchronous_commit": "off"}


@contextlib.contextmanager
def _session_settings() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cur:
        names = list(_PG_SESSION)
        cur.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
        saved = dict(zip(names, cur.fetchone() or (), strict=True))
        for name, value in _PG_SESSION.items():
            cur.execute("SELECT set_config(%s, %s, false)", [name, value])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cur:
                for name, value in saved.items():
                    cur.execute("SELECT set_config(%s, %s, false)", [name, value])
        except (DatabaseError, TransactionManagementError):  # the transaction already failed
            logger.debug("plan: session settings not restored", exc_info=True)


def plan_run(*, organisation: Organisation, day: dt.date, now: dt.datetime | None = None) -> PlanResult:
    """Plan one day for one organisation (see the module docstring). Safe to run again, at the
    same time as another run of the same day, or after a crash; each rule's rows are committed
    together."""
    with _session_settings():
        return _plan_run(organisation, day, now or timezone.now())


def _plan_run(organisation: Organisation, day: dt.date, now: dt.datetime) -> PlanResult:
    run = _Run(organisation, day, now)
    policy = run.policy
    result = PlanResult(days_run=[day])
    PlanRun.objects.bulk_create(
        [PlanRun(organisation=organisation, day=day, status=PlanRun.Status.RUNNING, started_at=now)],
        ignore_conflicts=True,
    )
    rules = list(
        ContactRule.objects.filter(organisation=organisation, active=True).order_by("-priority", "code")
    )

    # 1. Candidates, rule by rule, then status.
    per_rule: list[list[tuple[int, str, _Extra]]] = []
    own: set[tuple[int, int, str]] = set()
    for rule in rules:
        generate = _GENERATORS.get(rule.trigger)
        cands: list[tuple[int, str, _Extra]] = []
        per_rule.append(cands)
        if generate is None:
            continue
        t = day - dt.timedelta(days=rule.offset_days)
        statuses = {ACTIVE, PROSPECT} if rule.trigger in PROSPECT_TRIGGERS else {ACTIVE}
        seen: set[tuple[int, str]] = set()
        for c, occurrence, extra in generate(run, rule, t):
            cid = c[C_ID]
            if (cid, occurrence) in seen:
                continue
            seen.add((cid, occurrence))
            own.add((cid, rule.pk, occurrence))
            run.customers[cid] = c
            if c[C_STATUS] not in statuses or c[C_MERGED] is not None:
                result.skip("inactive")
                continue
            cands.append((cid, occurrence, extra))
    for reason, n in run.skipped.items():
        result.skip(reason, n)

    # 2. Destination and consent; service and transactional touches are accepted here.
    send_at = planned_send_time(day, policy, run.tz)
    if send_at < now:
        send_at = quiet_hours_shift(now, policy, run.tz)
    send_day = run.local_date(send_at)
    due_on = task_due_on(day, tasks_on_rest_days=policy.tasks_on_rest_days)
    accepted: list[list[tuple[int, str, _Extra, str]]] = [[] for _ in rules]
    marketing: list[tuple[int, int, str, _Extra, str, dt.date]] = []
    for i, (rule, cands) in enumerate(zip(rules, per_rule, strict=True)):
        is_task = rule.channel in TASK_CHANNELS
        kept: list[tuple[int, str, _Extra, str]] = []
        for cid, occurrence, extra in cands:
            to = ""
            if not is_task:
                to, reason = destination(rule.channel, run.customers[cid])
                if not to:
                    result.skip(reason)
                    continue
            kept.append((cid, occurrence, extra, to))
        if rule.purpose != Purpose.MARKETING:
            accepted[i] = kept
            continue
        consent_channel = CONSENT_CHANNEL.get(rule.channel)
        consents = run.consents(consent_channel, {k[0] for k in kept}) if consent_channel else None
        when = due_on if is_task else send_day
        for cid, occurrence, extra, to in kept:
            if consents is not None:
                granted = consents.get(cid)
                if granted is None:
                    result.skip("no_consent")
                    continue
                if not granted:
                    result.skip("opted_out")
                    continue
            marketing.append((i, cid, occurrence, extra, to, when))

    # 3. The frequency cap, by priority (rules are in priority order already).
    if marketing:
        touches = _marketing_touches(run, {m[1] for m in marketing}, own)
        for i, cid, occurrence, extra, to, when in marketing:
            dates = touches.setdefault(cid, [])
            if not fits_cap(dates, when, 7, policy.marketing_cap_week):
                result.skip("cap_week")
            elif not fits_cap(dates, when, 30, policy.marketing_cap_month):
                result.skip("cap_month")
            else:
                bisect.insort(dates, when)
                accepted[i].append((cid, occurrence, extra, to))

    # 4. Write, one transaction per rule.
    router: Router | None = None
    for rule, rows in zip(rules, accepted, strict=True):
        if not rows:
            continue
        if rule.channel in TASK_CHANNELS:
            router = router or Router(organisation=organisation, start=day, end=due_on)
            task_rows = []
            for cid, occurrence, extra, _to in rows:
                c = run.customers[cid]
                assignee = router.assignee(
                    kind=rule.assignee, owner_id=c[C_OWNER], store_id=c[C_STORE], customer_id=cid, day=due_on
                )
                task_rows.append(
                    (
                        run.org_id,
                        cid,
                        rule.pk,
                        occurrence,
                        rule.channel,
                        rule.purpose,
                        rule.priority,
                        rule.name[:200],
                        _task_script(rule, extra),
                        due_on,
                        assignee,
                        Task.Status.OPEN.value,
                        "",
                        "",
                        now,
                        1,
                    )
                )
            with transaction.atomic():
                result.tasks_created += insert_ignore(Task, TASK_COLUMNS, task_rows, order_by=_LOCK_ORDER)
        else:
            message_rows = []
            for cid, occurrence, extra, to in rows:
                context = _context(run, run.customers[cid], extra)
                message_rows.append(
                    (
                        run.org_id,
                        cid,
                        rule.pk,
                        occurrence,
                        rule.channel,
                        rule.purpose,
                        rule.priority,
                        Message.Status.QUEUED.value,
                        to[:255],
                        rule.name[:200],
                        render_template(rule.template, context),
                        rule.sms_template_code,
                        context,
                        "",
                        "",
                        f"plan:{rule.pk}:{cid}:{occurrence}"[:100],
                        0,
                        "",
                        send_at,
                        now,
                    )
                )
            with transaction.atomic():
                result.messages_queued += insert_ignore(
                    Message, MESSAGE_COLUMNS, message_rows, order_by=_LOCK_ORDER
                )
        _after_rule_inserted(rule)

    PlanRun.objects.filter(organisation=organisation, day=day).update(
        status=PlanRun.Status.DONE,
        finished_at=timezone.now(),
        tasks_created=F("tasks_created") + result.tasks_created,
        messages_queued=F("messages_queued") + result.messages_queued,
        skipped=dict(sorted(result.skipped.items())),
    )
    logger.info(
        "plan %s %s: %d tasks, %d messages, skipped %s",
        organisation.slug,
        day,
        result.tasks_created,
        result.messages_queued,
        result.skipped,
    )
    return result


def plan_days_pending(
    *, organisation: Organisation, through: dt.date, since: dt.date | None = None
) -> tuple[list[dt.date], list[dt.date]]:
    """(days to run, days too old to catch up) for :func:`plan_catch_up`.

    The days after the last one done, up to ``through``; an organisation that never ran starts at
    ``since`` (default: ``through`` alone, so a new organisation is not flooded with last week's
    greetings). ``since`` is also a floor. Days more than ``catch_up_days`` before ``through`` are
    not run: a birthday card a month late does more harm than none.
    """
    last = (
        PlanRun.objects.filter(organisation=organisation, status=PlanRun.Status.DONE, day__lte=through)
        .aggregate(last=Max("day"))
        .get("last")
    )
    first = last + dt.timedelta(days=1) if last else (since or through)
    if since and since > first:
        first = since
    earliest = through - dt.timedelta(days=organisation.policy.contact.catch_up_days)
    stale_end = min(earliest, through + dt.timedelta(days=1))
    stale = [first + dt.timedelta(days=k) for k in range(max(0, (stale_end - first).days))]
    start = max(first, earliest)
    days = [start + dt.timedelta(days=k) for k in range(max(0, (through - start).days + 1))]
    return days, stale


def plan_catch_up(
    *,
    organisation: Organisation,
    through: dt.date,
    since: dt.date | None = None,
    now: dt.datetime | None = None,
    on_day: Callable[[dt.date, PlanResult], None] | None = None,
) -> PlanResult:
    """Run every day not yet planned, up to ``through`` (see :func:`plan_days_pending`)."""
    days, stale = plan_days_pending(organisation=organisation, through=through, since=since)
    result = PlanResult(days_skipped=stale)
    if stale:
        logger.warning(
            "plan %s: %d day(s) from %s to %s are older than catch_up_days and were not planned",
            organisation.slug,
            len(stale),
            stale[0],
            stale[-1],
        )
    for day in days:
        one = plan_run(organisation=organisation, day=day, now=now)
        result.merge(one)
        if on_day is not None:
            on_day(day, one)
    return result
