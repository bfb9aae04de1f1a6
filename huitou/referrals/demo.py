"""Referral history of the demo organisation (issue 4), so every referral page and chart has content.

Called by ``huitou.demo.demo_load`` after the segmentation run and before the contact-plan demo (the
plan's referral asks then see which quotas are met). Deterministic for a seed; rows are written in
bulk (COPY on PostgreSQL, executemany on SQLite, like the archive itself) with their ids
chosen here, so events, rewards and vouchers can point at them without a read back.

What it builds, consistent with the rules of the referral system:

- Policy: an 一拓五 period (quota 5) from 18 months ago, then 一拓一 (quota 1) from 9 months ago, a
  higher reward from a referrer's third won referral on, and a two-week refund window.
- The sales' promised delivery day is filled in from the archive's delivery (payment due) day where
  it is missing, so "delivery day" (``COALESCE(promised_on, arrives_on, ordered_on)``) is the day the
  car was handed over, as the archive's cars say.
- Won referrals are the archive's referred customers (``source = referral``) whose first sale falls
  in the period: each gets the referral that brought them, and their ``referred_by`` is re-drawn
  among the customers of the same rep (the lead's rep is the referrer's rep and becomes the new
  customer's owner) whose delivery fits the honeymoon curve; some referrers are themselves referred
  customers, so chains run over several generations. Referred prospects are converted leads still
  open or lost. No customer row is created: the archive's size stays what was asked for.
- Other referrals: per sale, more under 一拓五 (a delivery form with five names) and of lower quality
  (more fakes, "not interested" and lost), timed by the honeymoon curve (most in months 0–3 after
  delivery). Each is played step by step (submit, phone audit with retries, contact, quote, lose)
  and cut at the present, so the recent ones are open in every stage; the DCRC audit queue and the
  managers' review queue (all four fraud flags) have work today, and ``rep_th1`` a lead in each stage.
- Rewards and vouchers for won referrals per policy (honour-seekers decline), issued after the hold,
  then redeemed at a desk, expired, voided or still outstanding, each state change in the ledger.
- Referrer types for a few dozen referrers and a few self-service links.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from huitou.accounts.models import Organisation, User
from huitou.core.months import add_months
from huitou.customers.models import Customer, Product, Purchase

from . import stats
from .models import (
    COUNTED_STAGES,
    AuditOutcome,
    Channel,
    Flag,
    Referral,
    ReferralEvent,
    ReferralLink,
    ReferrerProfile,
    ReferrerType,
    Relation,
    Review,
    Reward,
    Stage,
    Voucher,
    VoucherEntry,
)

SALES_KINDS = (Purchase.Kind.FIRST, Purchase.Kind.REPLACEMENT, Purchase.Kind.EXPANSION)
PERIOD_5_MONTHS = 18  # 一拓五 started this many months before today
PERIOD_1_MONTHS = 9  # then 一拓一

EVENTS = ("车主自驾游", "新车品鉴会", "车主俱乐部周年庆", "亲子嘉年华", "中秋车主联谊会", "夏季免费检测日")
CLUBS = ("车主俱乐部·自驾游分会", "车主俱乐部·钓鱼群", "车主俱乐部·亲子群", "车主俱乐部·越野群")
INTEREST_TAILS = (
    "，计划三个月内购车",
    "，想周末来店试驾",
    "，家里想换一台大一点的车",
    "，关注油耗和空间",
    "，预算二十万左右",
    "，想了解置换政策",
    "",
)
CONFIRM_NOTES = (
    "本人确认认识推荐人，同意销售顾问联系",
    "确认有购车意向，近三个月内",
    "确认，想先了解SUV车型",
    "确认，希望周末到店",
)
NO_ANSWER_NOTES = ("无人接听", "关机", "占线，稍后再拨")
NOT_INTERESTED_NOTES = (
    "电话稽核：本人表示暂无购车需求",
    "电话稽核：刚买车不久",
    "电话稽核：只是帮忙留个电话，没有意向",
)
FAKE_NOTES = (
    "空号",
    "本人表示不认识推荐人",
    "号码与姓名不符",
    "推荐人亲属凑数填写，无购车意向",
)
LOST_REASONS = (
    "已在别家4S店购车",
    "预算不够，暂缓购车",
    "家人不同意，暂不考虑",
    "近期无购车计划",
    "看中竞品车型",
    "多次联系不上",
    "价格谈不拢",
)
CONTACT_NOTES = ("电话邀约到店看车", "上门拜访，介绍车型", "微信发送车型资料，约好周末试驾")
QUOTE_NOTES = ("试驾后报价", "已做置换评估并报价", "报价并介绍金融方案")
HELP = (
    "希望帮忙优先安排钣喷维修",
    "孩子买车想要团购价",
    "公司几台车的年检想请我们代办",
    "希望保养时提供代步车",
)
PROFILE_NOTES = {
    ReferrerType.HONOUR: "不要奖励，最看重面子：车主活动上请他分享用车心得，年底评“金牌车主”。",
    ReferrerType.REWARD: "讲清楚推荐奖励和保养券，兑现要及时。",
    ReferrerType.FAVOUR: "帮他解决了事情后，他会再介绍朋友。",
    ReferrerType.FRIEND: "像朋友一样相处，节日问候，不谈奖励。",
}
# Share of each kind of voucher redeemed before it expires.
REDEEMED_SHARE: dict[str, float] = {
    Voucher.Kind.MAINTENANCE: 0.6,
    Voucher.Kind.GIFT: 0.8,
    Voucher.Kind.OFFER: 0.5,
}
VOID_REASONS = ("客户退车，奖励作废", "信息录入有误，已重新发放")
REVIEW_NOTES: dict[str, tuple[str, ...]] = {
    Flag.DUPLICATE: ("首个有效推荐优先，本条驳回", "同一人已被其他车主推荐"),
    Flag.EXISTING_CUSTOMER: ("已是本店客户，不计入",),
    Flag.MONTHLY_CAP: ("车主俱乐部活动集中推荐，经核实属实",),
    Flag.SELF_REFERRAL: ("推荐本人号码，驳回",),
}
RELATIONS = (Relation.FRIEND, Relation.FAMILY, Relation.COLLEAGUE, Relation.BUSINESS, Relation.OTHER)
RELATION_WEIGHTS = {5: (40, 22, 22, 6, 10), 1: (48, 27, 17, 7, 1)}
# Referrals per sale: (count, weight). Under 一拓五 the delivery form has five lines.
PER_SALE = {5: ((0, 22), (1, 13), (2, 14), (3, 12), (5, 39)), 1: ((0, 42), (1, 41), (2, 13), (3, 4))}
# Share named on the delivery form itself; share found fake and not interested at the phone audit
# (the rest are worked and, unless the archive says they bought, lost).
AT_DELIVERY = {5: 0.62, 1: 0.38}
FATES = {5: (0.24, 0.30), 1: (0.06, 0.16)}
# The honeymoon curve: days after delivery, by bucket (most in the first three months).
HONEYMOON = ((1, 30, 38), (30, 60, 24), (60, 91, 16), (91, 182, 14), (182, 365, 8))


# --- people and time ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Staff:
    reps: dict[int, int | None]  # rep id -> store id
    managers: dict[int | None, int]  # store id -> manager id
    dcrc: list[int]
    desks: dict[int | None, int]  # store id -> after-sales user id
    owner: User
    by_username: dict[str, int]


def _staff(org: Organisation) -> _Staff:
    users = list(
        User.objects.filter(organisation=org, is_active=True)
        .order_by("id")
        .values_list("id", "role", "store_id", "username")
    )
    reps: dict[int, int | None] = {uid: store for uid, role, store, _u in users if role == User.Role.REP}
    managers: dict[int | None, int] = {}
    desks: dict[int | None, int] = {}
    dcrc = []
    for uid, role, store, _u in users:
        if role == User.Role.MANAGER:
            managers.setdefault(store, uid)
        elif role == User.Role.AFTERSALES:
            desks.setdefault(store, uid)
        elif role == User.Role.DCRC:
            dcrc.append(uid)
    owner = User.objects.get(pk=next(uid for uid, role, _s, _u in users if role == User.Role.OWNER))
    any_desk = next(iter(desks.values()), owner.pk)
    for rep_store in set(reps.values()):
        desks.setdefault(rep_store, any_desk)
        managers.setdefault(rep_store, owner.pk)
    return _Staff(
        reps=reps,
        managers=managers,
        dcrc=dcrc or [owner.pk],
        desks=desks,
        owner=owner,
        by_username={u: uid for uid, _r, _s, u in users},
    )


class _Clock:
    """Local times of the demo's days, and the present the histories are cut at."""

    def __init__(self, today: dt.date) -> None:
        self.tz = timezone.get_default_timezone()
        self.today = today
        end = self.at(today, 20 * 60)
        real = timezone.now()
        self.now = min(real, end) if timezone.localdate(real, self.tz) == today else end

    def at(self, day: dt.date, minutes: int) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=self.tz)

    def working(self, day: dt.date, rng: random.Random) -> dt.datetime:
        """A moment of the working day (09:00–18:59)."""
        return self.at(day, 9 * 60 + int(rng.random() * 600))


def _gap(rng: random.Random) -> int:
    """Days after delivery of a referral not made on the delivery form."""
    roll = rng.random() * 100
    for low, high, weight in HONEYMOON:
        if roll < weight:
            return low + int(rng.random() * (high - low))
        roll -= weight
    return 300


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, int]]) -> Any:
    total = sum(w for _v, w in pairs)
    roll = rng.random() * total
    for value, weight in pairs:
        if roll < weight:
            return value
        roll -= weight
    return pairs[-1][0]


def _pick(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


# --- one referral, played step by step ----------------------------------------------------------


@dataclass
class _Lead:
    id: int
    referrer: int
    name: str
    phone: str
    relation: str
    interest: str
    product_id: int | None
    channel: str
    event_name: str
    city: str
    wechat: str
    store_id: int | None
    rep_id: int | None
    submitted_at: dt.datetime
    submitted_by: int | None
    customer_id: int | None = None
    flags: list[str] = field(default_factory=list)
    duplicate_of: int | None = None
    review: str = ""
    # Planned steps: (at, action, actor, value, note); those after the present never happen.
    plan: list[tuple[dt.datetime, str, int | None, Any, str]] = field(default_factory=list)
    # Played:
    stage: str = Stage.SUBMITTED
    audit_outcome: str = ""
    audit_note: str = ""
    audit_attempts: int = 0
    audited_at: dt.datetime | None = None
    audited_by: int | None = None
    verified_at: dt.datetime | None = None
    contacted_at: dt.datetime | None = None
    quoted_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    won_purchase: int | None = None
    lost_reason: str = ""
    reviewed_at: dt.datetime | None = None
    reviewed_by: int | None = None
    review_note: str = ""
    faked: bool = False
    linked: bool = False  # the customer record is known (converted, or found at submission)
    events: list[tuple[dt.datetime, int | None, str, str, str, str]] = field(default_factory=list)

    @property
    def counts(self) -> bool:
        return self.stage in COUNTED_STAGES and self.review in (Review.NONE, Review.APPROVED)

    @property
    def planned_fake(self) -> bool:
        return any(a == "audit" and v == AuditOutcome.FAKE for _at, a, _b, v, _n in self.plan)

    def step(
        self, at: dt.datetime, action: str, actor: int | None, value: Any = None, note: str = ""
    ) -> None:
        self.plan.append((at, action, actor, value, note))

    def play(self, now: dt.datetime) -> None:
        self.events.append((self.submitted_at, self.submitted_by, "submit", "", Stage.SUBMITTED, ""))
        self.linked = Flag.EXISTING_CUSTOMER in self.flags
        last = self.submitted_at
        for at, action, actor, value, note in self.plan:
            at = max(at, last + dt.timedelta(minutes=1))  # steps of one day keep their order
            if at > now:
                break
            last = at
            before = self.stage
            if action == "audit":
                self.audit_outcome, self.audit_note = value, note
                self.audit_attempts += 1
                self.audited_at, self.audited_by = at, actor
                if value == AuditOutcome.CONFIRMED:
                    self.stage, self.verified_at = Stage.VERIFIED, at
                elif value == AuditOutcome.NOT_INTERESTED:
                    self.stage, self.closed_at, self.lost_reason = Stage.LOST, at, note
                elif value == AuditOutcome.FAKE:
                    self.stage, self.closed_at, self.faked = Stage.REJECTED, at, True
            elif action == "convert":
                self.linked = True
            elif action == "contact":
                self.stage, self.contacted_at = Stage.CONTACTED, at
            elif action == "quote":
                self.stage, self.quoted_at = Stage.QUOTED, at
            elif action == "win":
                self.stage, self.closed_at, self.won_purchase = Stage.WON, at, value
            elif action == "lose":
                self.stage, self.closed_at, self.lost_reason = Stage.LOST, at, note
            elif action in ("approve", "reject"):
                self.reviewed_at, self.reviewed_by, self.review_note = at, actor, note
                if action == "approve":
                    self.review = Review.APPROVED
                else:
                    self.review = Review.REJECTED
                    self.faked = self.faked or Flag.SELF_REFERRAL in self.flags
                    if self.stage != Stage.REJECTED:
                        self.stage, self.closed_at = Stage.REJECTED, self.closed_at or at
            self.events.append((at, actor, action, before, self.stage, note))


# --- the builder ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sale:
    id: int
    customer: int
    ordered: dt.date
    day: dt.date  # delivery day


@dataclass(frozen=True)
class _Cust:
    id: int
    name: str
    phone: str
    owner: int | None
    store: int | None
    status: str
    source: str
    referred_by: int | None
    met: dt.date
    city: str
    kind: str


class _Builder:
    """The demo organisation's archive as plain rows, and the referrals drawn from it."""

    def __init__(self, org: Organisation, today: dt.date, seed: int, staff: _Staff) -> None:
        from huitou.demo import mobile, person_name

        self.org = org
        self.rng = random.Random(seed * 7_919 + 4)
        self.clock = _Clock(today)
        self.today = today
        self.start5 = add_months(today, -PERIOD_5_MONTHS)
        self.start1 = add_months(today, -PERIOD_1_MONTHS)
        self.staff = staff
        self.policy = org.policy.referrals
        self._mobile, self._person = mobile, person_name
        self.leads: list[_Lead] = []
        self.next_id = _next_id(Referral)
        self.new_referrer: dict[int, int] = {}  # customer -> referrer, where it changes
        self.converted: set[int] = set()  # referred customers who bought (chains start here)
        self.claimed: set[str] = set()  # phones with a live claim
        tz = self.clock.tz
        self.customers: dict[int, _Cust] = {}
        for cid, name, phone, owner, store, status, source, ref, created, city, kind in (
            Customer.objects.filter(organisation=org)
            .order_by("id")
            .values_list(
                "id",
                "name",
                "phone",
                "owner_id",
                "store_id",
                "status",
                "source",
                "referred_by_id",
                "created_at",
                "city",
                "kind",
            )
        ):
            met = timezone.localtime(created, tz).date()
            self.customers[cid] = _Cust(
                cid, name, phone or "", owner, store, status, source, ref, met, city or "", kind
            )
        self.used_phones = {c.phone for c in self.customers.values() if c.phone}
        self.sales: list[_Sale] = [
            _Sale(pid, cid, ordered, promised or arrives or ordered)
            for pid, cid, ordered, promised, arrives in Purchase.objects.filter(
                organisation=org, kind__in=SALES_KINDS
            )
            .order_by("id")
            .values_list("id", "customer_id", "ordered_on", "promised_on", "arrives_on")
        ]
        self.sales_by_customer: dict[int, list[_Sale]] = defaultdict(list)
        for s in self.sales:
            self.sales_by_customer[s.customer].append(s)
        self.delivery_days = {
            cid: sorted(s.day for s in rows) for cid, rows in self.sales_by_customer.items()
        }
        # Active customers who bought, by store and by rep (referrers are drawn from them).
        self.buyers_by: dict[tuple[str, int | None], list[_Cust]] = defaultdict(list)
        for c in self.customers.values():
            if (
                c.status == Customer.Status.ACTIVE
                and c.owner is not None
                and c.phone
                and c.id in self.delivery_days
            ):
                self.buyers_by["store", c.store].append(c)
                self.buyers_by["owner", c.owner].append(c)
        self.products = list(
            Product.objects.filter(organisation=org, kind=Product.Kind.VEHICLE)
            .order_by("id")
            .values_list("id", "name")
        )
        # Each rep's customers by delivery day: where the referrer of the rep's new customer is found.
        by_rep: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for s in self.sales:
            buyer = self.customers.get(s.customer)
            if buyer is not None and buyer.owner is not None:
                by_rep[buyer.owner].append((s.day.toordinal(), s.customer))
        self.rep_sales = {rep: sorted(rows) for rep, rows in by_rep.items()}

    # --- people

    def fresh_phone(self) -> str:
        while True:
            phone = self._mobile(self.rng)
            if phone not in self.used_phones:
                self.used_phones.add(phone)
                return phone

    def first_sale(self, customer_id: int) -> _Sale | None:
        sales = self.sales_by_customer.get(customer_id)
        return min(sales, key=lambda s: (s.ordered, s.id)) if sales else None

    def delivered_before(self, customer_id: int, day: dt.date) -> dt.date | None:
        days = self.delivery_days.get(customer_id, [])
        i = bisect.bisect_right(days, day)
        return days[i - 1] if i else None

    def buyers(self, *, store: int | None = None, owner: int | None = None, before: dt.date) -> list[_Cust]:
        """Active customers of a store or a rep with a sale delivered on or before ``before``."""
        pool = self.buyers_by["owner", owner] if owner is not None else self.buyers_by["store", store]
        return [c for c in pool if self.delivery_days[c.id][0] <= before]

    def interest(self) -> tuple[int | None, str]:
        if not self.products:
            return None, ""
        pid, name = _pick(self.rng, self.products)
        return pid, f"{name}{_pick(self.rng, INTEREST_TAILS)}"

    def dcrc(self) -> int:
        return int(_pick(self.rng, self.staff.dcrc))

    def manager(self, store: int | None) -> int:
        return self.staff.managers.get(store, self.staff.owner.pk)

    # --- leads

    def lead(self, referrer: _Cust, *, at: dt.datetime, channel: str, period: int, **kw: Any) -> _Lead:
        rng = self.rng
        name = kw.pop("name", None) or self._person(rng)[0]
        phone = kw.pop("phone", None) or self.fresh_phone()
        relation = kw.pop("relation", None) or rng.choices(RELATIONS, weights=RELATION_WEIGHTS[period])[0]
        product_id, interest = self.interest()
        event_name = ""
        if channel == Channel.EVENT:
            event_name = _pick(rng, EVENTS)
        elif channel == Channel.CLUB:
            event_name = _pick(rng, CLUBS)
        by: int | None = referrer.owner
        if channel == Channel.SELF_SERVICE:
            by = None
        elif channel in (Channel.EVENT, Channel.CLUB) and rng.random() < 0.4:
            by = self.manager(referrer.store)
        lead = _Lead(
            id=self.next_id,
            referrer=referrer.id,
            name=name,
            phone=phone,
            relation=relation,
            interest=interest,
            product_id=product_id,
            channel=channel,
            event_name=event_name,
            city=referrer.city,
            wechat=f"wxid_{rng.getrandbits(36):09x}" if rng.random() < 0.3 else "",
            store_id=referrer.store,
            rep_id=referrer.owner,
            submitted_at=at,
            submitted_by=by,
            **kw,
        )
        self.next_id += 1
        self.leads.append(lead)
        if lead.duplicate_of is None:
            self.claimed.add(phone)
        return lead

    def audit_steps(
        self, lead: _Lead, outcome: str, *, retries: int | None = None, delay: int | None = None
    ) -> dt.datetime:
        """No-answer attempts, then the outcome; returns when the outcome was recorded."""
        rng = self.rng
        day = timezone.localtime(lead.submitted_at, self.clock.tz).date()
        if delay is None:
            delay = _weighted(rng, ((0, 40), (1, 35), (2, 15), (3, 10)))
        day += dt.timedelta(days=delay)
        if retries is None:
            retries = _weighted(rng, ((0, 80), (1, 15), (2, 5)))
        for _ in range(retries):
            note = _pick(rng, NO_ANSWER_NOTES)
            lead.step(self.clock.working(day, rng), "audit", self.dcrc(), AuditOutcome.NO_ANSWER, note)
            day += dt.timedelta(days=1)
        notes: dict[str, tuple[str, ...]] = {
            AuditOutcome.CONFIRMED: CONFIRM_NOTES,
            AuditOutcome.NOT_INTERESTED: NOT_INTERESTED_NOTES,
            AuditOutcome.FAKE: FAKE_NOTES,
        }
        at = self.clock.working(day, rng)
        lead.step(at, "audit", self.dcrc(), outcome, _pick(rng, notes[outcome]))
        return at

    def work_and_lose(self, lead: _Lead, verified: dt.datetime) -> None:
        """A verified lead that is worked and, in the end, lost."""
        rng = self.rng
        day = timezone.localtime(verified, self.clock.tz).date()
        if rng.random() < 0.8:
            day += dt.timedelta(days=1 + int(rng.random() * 7))
            lead.step(self.clock.working(day, rng), "contact", lead.rep_id, None, _pick(rng, CONTACT_NOTES))
            if rng.random() < 0.4:
                day += dt.timedelta(days=2 + int(rng.random() * 18))
                lead.step(self.clock.working(day, rng), "quote", lead.rep_id, None, _pick(rng, QUOTE_NOTES))
        day += dt.timedelta(days=7 + int(rng.random() * 38))
        lead.step(self.clock.working(day, rng), "lose", lead.rep_id, None, _pick(rng, LOST_REASONS))

    def fate(self, lead: _Lead, period: int) -> None:
        fake, not_interested = FATES[period]
        roll = self.rng.random()
        if roll < fake:
            self.audit_steps(lead, AuditOutcome.FAKE)
        elif roll < fake + not_interested:
            self.audit_steps(lead, AuditOutcome.NOT_INTERESTED)
        else:
            self.work_and_lose(lead, self.audit_steps(lead, AuditOutcome.CONFIRMED))

    def referrer_for(self, x: _Cust, submitted: dt.date) -> _Cust | None:
        """An active customer of x's rep, earlier than x, delivered on or before ``submitted``: by
        the honeymoon curve, or (a chain) a referred customer who bought in the last months."""
        rows = self.rep_sales.get(x.owner or 0, [])
        days = [d for d, _c in rows]
        hi = bisect.bisect_right(days, submitted.toordinal())
        if hi == 0:
            return None
        rng = self.rng

        def usable(cid: int) -> bool:
            return cid < x.id and self.customers[cid].status == Customer.Status.ACTIVE

        if rng.random() < 0.45:
            lo = bisect.bisect_left(days, submitted.toordinal() - 150)
            chain = sorted({c for _d, c in rows[lo:hi] if c in self.converted and usable(c)})
            if chain:
                return self.customers[_pick(rng, chain)]
        target = submitted.toordinal() - (0 if rng.random() < 0.3 else _gap(rng))
        start = min(bisect.bisect_left(days, target), hi - 1)
        for k in range(hi):
            for i in (start - k, start + k):
                if 0 <= i < hi and usable(rows[i][1]):
                    return self.customers[rows[i][1]]
        return None


def _write(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows as they are: COPY on PostgreSQL, executemany on SQLite (values formatted here, once, the
    way Django stores them). JSON columns take ``json.dumps`` text."""
    if not rows:
        return
    meta = model._meta
    fields = [meta.get_field(c) for c in columns]
    qn = connection.ops.quote_name
    cols = ", ".join(qn(str(getattr(f, "column", f.name))) for f in fields)
    table = qn(meta.db_table)
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        raw = connection.connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(fields))
    stamps = [i for i, f in enumerate(fields) if isinstance(f, models.DateTimeField)]
    texts = [
        i for i, f in enumerate(fields) if isinstance(f, models.DecimalField) or type(f) is models.DateField
    ]

    def sqlite_row(row: Sequence[Any]) -> list[Any]:
        out = list(row)
        for i in stamps:
            if out[i] is not None:
                out[i] = out[i].astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
        for i in texts:
            if out[i] is not None:
                out[i] = str(out[i])
        return out

    with connection.cursor() as cur:
        sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"  # noqa: S608 - names from the model
        cur.executemany(sql, [sqlite_row(row) for row in rows])


def _next_id(model: type[models.Model]) -> int:
    top = model._default_manager.aggregate(m=models.Max("pk"))["m"]
    return int(top or 0) + 1


def _reset_sequences(model_list: Iterable[type[models.Model]]) -> None:
    statements = connection.ops.sequence_reset_sql(no_style(), list(model_list))
    if statements:
        with connection.cursor() as cur:
            for sql in statements:
                cur.execute(sql)


def _wipe(org: Organisation) -> None:
    """The referral rows of an earlier run (the demo loader wipes them with the archive anyway)."""
    VoucherEntry.objects.filter(voucher__organisation=org).delete()
    Reward.objects.filter(organisation=org).delete()
    Voucher.objects.filter(organisation=org).delete()
    ReferralEvent.objects.filter(referral__organisation=org).delete()
    # One statement: the ORM would first un-point the duplicates (SET_NULL), turning them into
    # second live claims on their person, which the unique constraint refuses.
    with connection.cursor() as cur:
        table = connection.ops.quote_name(Referral._meta.db_table)
        cur.execute(f"DELETE FROM {table} WHERE organisation_id = %s", [org.pk])  # noqa: S608
    ReferrerProfile.objects.filter(organisation=org).delete()
    ReferralLink.objects.filter(organisation=org).delete()


def _set_policy(org: Organisation, owner: User, start5: dt.date, start1: dt.date) -> None:
    from huitou.accounts.services import policy_update

    org.refresh_from_db(fields=["policy_data", "policy_version"])
    data = org.policy.model_dump(mode="json")
    data["referrals"]["quota_periods"] = [
        {"starts_on": start5.isoformat(), "quota": 5, "label": "一拓五"},
        {"starts_on": start1.isoformat(), "quota": 1, "label": "一拓一"},
    ]
    data["referrals"]["reward_tiers"] = [{"min_won": 3, "value": "500"}]
    data["referrals"]["reward_hold_days"] = 14  # a refund window of two weeks: some rewards still held
    policy_update(actor=owner, data=data, version=org.policy_version)
    org.refresh_from_db(fields=["policy_data", "policy_version"])


@transaction.atomic
def referral_demo(*, organisation: Organisation, today: dt.date, seed: int = 42) -> str:
    """Build the referral history (see the module docstring). Returns the code of an outstanding
    maintenance voucher held by a customer of the first store ("" when there is none)."""
    org = organisation
    _wipe(org)
    # The promised delivery is the archive's delivery (payment due) day where it was left empty.
    Purchase.objects.filter(
        organisation=org, kind__in=SALES_KINDS, promised_on__isnull=True, payment_due_on__isnull=False
    ).update(promised_on=F("payment_due_on"))
    staff = _staff(org)
    _set_policy(org, staff.owner, add_months(today, -PERIOD_5_MONTHS), add_months(today, -PERIOD_1_MONTHS))
    b = _Builder(org, today, seed, staff)
    _converted_leads(b)
    _sale_leads(b)
    _flagged_leads(b)
    _showcase(b)
    for lead in b.leads:
        lead.play(b.clock.now)
    refuses = _profiles(b)
    _write_leads(b)
    code = _rewards(b, refuses)
    _links(b)
    _reset_sequences([Referral, ReferralEvent, ReferrerProfile, Reward, Voucher, VoucherEntry, ReferralLink])
    # What the services keep as they go, for rows written in bulk: each referral's sale and the
    # per-referrer summary.
    stats.referral_sale_days_refresh(organisation_id=org.pk)
    stats.referrer_stats_rebuild(organisation_id=org.pk)
    return code


def demo_voucher_code(organisation: Organisation) -> str:
    """An outstanding maintenance voucher held by a customer of the first store, for the demo logins
    (the after-sales desk of that store can redeem it). One query."""
    first = organisation.stores.order_by("id").values_list("id", flat=True).first()
    if first is None:
        return ""
    return (
        Voucher.objects.filter(
            organisation=organisation,
            status=Voucher.Status.ISSUED,
            kind=Voucher.Kind.MAINTENANCE,
            expires_on__gte=timezone.localdate(),
            customer__store_id=first,
        )
        .order_by("issued_at", "id")
        .values_list("code", flat=True)
        .first()
        or ""
    )


# --- the leads ------------------------------------------------------------------------------------


def _channel_after(rng: random.Random, gap: int) -> str:
    if gap == 0:
        return Channel.DELIVERY
    if gap <= 10:  # the visit with the delivery photo
        return _weighted(rng, ((Channel.CALL, 60), (Channel.SELF_SERVICE, 40)))
    return _weighted(
        rng, ((Channel.CALL, 40), (Channel.SELF_SERVICE, 25), (Channel.EVENT, 20), (Channel.CLUB, 15))
    )


def _converted_leads(b: _Builder) -> None:
    """The archive's referred customers of the period: the referrals that brought them."""
    rng, clock = b.rng, b.clock
    floor = b.start5 + dt.timedelta(days=20)
    for x in b.customers.values():
        if x.source != Customer.Source.REFERRAL or x.referred_by is None or not x.phone or x.owner is None:
            continue
        if x.phone in b.claimed:
            continue
        sale = b.first_sale(x.id)
        if sale is not None:
            if not floor <= sale.ordered <= b.today:
                continue
            contact_day = min(x.met, sale.ordered)
        elif x.status == Customer.Status.PROSPECT and floor <= x.met <= b.today:
            contact_day = x.met
        else:
            continue
        submitted = contact_day - dt.timedelta(days=2 + int(rng.random() * 11))
        referrer = b.referrer_for(x, submitted)
        if referrer is None:
            continue
        if referrer.id != x.referred_by:
            b.new_referrer[x.id] = referrer.id
        delivered = b.delivered_before(referrer.id, submitted) or submitted
        period = 5 if delivered < b.start1 else 1
        lead = b.lead(
            referrer,
            at=clock.working(submitted, rng),
            channel=_channel_after(rng, (submitted - delivered).days),
            period=period,
            name=x.name,
            phone=x.phone,
            relation=Relation.BUSINESS if x.kind == Customer.Kind.COMPANY else None,
        )
        lead.customer_id = x.id
        b.audit_steps(lead, AuditOutcome.CONFIRMED, retries=0, delay=int(rng.random() * 2))
        contacted = clock.at(contact_day, 10 * 60 + int(rng.random() * 120))
        lead.step(contacted, "contact", lead.rep_id, None, "客户到店看车")
        lead.step(
            contacted + dt.timedelta(minutes=5), "convert", lead.rep_id, None, "customer record created"
        )
        if sale is not None:
            span = (sale.ordered - contact_day).days
            quote_day = contact_day + dt.timedelta(days=int(rng.random() * (span + 1)))
            lead.step(clock.at(quote_day, 14 * 60), "quote", lead.rep_id, None, _pick(rng, QUOTE_NOTES))
            lead.step(clock.at(sale.ordered, 16 * 60), "win", lead.rep_id, sale.id, f"purchase #{sale.id}")
            b.converted.add(x.id)
        else:
            if rng.random() < 0.6:
                day = contact_day + dt.timedelta(days=3 + int(rng.random() * 15))
                lead.step(clock.working(day, rng), "quote", lead.rep_id, None, _pick(rng, QUOTE_NOTES))
            day = contact_day + dt.timedelta(days=40 + int(rng.random() * 50))
            lead.step(clock.working(day, rng), "lose", lead.rep_id, None, _pick(rng, LOST_REASONS))


def _sale_leads(b: _Builder) -> None:
    """Referrals named by the customers who bought in the period, by the period's quota."""
    rng, clock = b.rng, b.clock
    for s in sorted(b.sales, key=lambda s: (s.day, s.id)):
        if not b.start5 <= s.day <= b.today:
            continue
        c = b.customers.get(s.customer)
        if c is None or c.status != Customer.Status.ACTIVE or c.owner is None:
            continue
        period = 5 if s.day < b.start1 else 1
        for _ in range(_weighted(rng, PER_SALE[period])):
            gap = 0 if rng.random() < AT_DELIVERY[period] else _gap(rng)
            at = clock.working(s.day + dt.timedelta(days=gap), rng)
            if at > clock.now:
                continue
            lead = b.lead(c, at=at, channel=_channel_after(rng, gap), period=period)
            b.fate(lead, period)


def _flagged_leads(b: _Builder) -> None:
    """Referrals the fraud rules flagged: reviewed in the past, and some waiting for review today."""
    rng, clock = b.rng, b.clock
    stores = sorted({c.store for c in b.customers.values() if c.store is not None})
    plain = [
        lead
        for lead in b.leads
        if lead.customer_id is None and lead.submitted_at < clock.now - dt.timedelta(days=45)
    ]
    used: set[int] = set()

    def referrer(store: int | None, before: dt.date, *, not_claimed: bool = False) -> _Cust | None:
        pool = [
            c
            for c in b.buyers(store=store, before=before)
            if c.id not in used and not (not_claimed and c.phone in b.claimed)
        ]
        if not pool:
            return None
        c = _pick(rng, pool)
        used.add(c.id)
        return c

    def archive_person(store: int | None) -> _Cust | None:
        pool = [
            c
            for c in b.customers.values()
            if c.store == store and c.phone and c.phone not in b.claimed and c.id not in used
        ]
        if not pool:
            return None
        c = _pick(rng, pool)
        used.add(c.id)
        return c

    def flagged(store: int | None, flag: str, at: dt.datetime, decide: str | None) -> None:
        day = timezone.localtime(at, clock.tz).date()
        if at > clock.now:
            return
        if flag == Flag.DUPLICATE:
            first = [
                lead
                for lead in (plain if decide else b.leads)
                if lead.store_id == store
                and lead.submitted_at < at
                and lead.duplicate_of is None
                and not lead.planned_fake
            ]
            r = referrer(store, day)
            if not first or r is None:
                return
            original = _pick(rng, first[-200:])
            if original.referrer == r.id:
                return
            lead = b.lead(
                r,
                at=at,
                channel=Channel.CALL,
                period=1,
                name=original.name,
                phone=original.phone,
                duplicate_of=original.id,
                flags=[Flag.DUPLICATE],
                review=Review.PENDING,
            )
        elif flag == Flag.EXISTING_CUSTOMER:
            r, person = referrer(store, day), archive_person(store)
            if r is None or person is None:
                return
            lead = b.lead(
                r,
                at=at,
                channel=Channel.CALL,
                period=1,
                name=person.name,
                phone=person.phone,
                customer_id=person.id,
                flags=[Flag.EXISTING_CUSTOMER],
                review=Review.PENDING,
            )
        elif flag == Flag.SELF_REFERRAL:
            r = referrer(store, day, not_claimed=True)
            if r is None:
                return
            lead = b.lead(
                r,
                at=at,
                channel=Channel.SELF_SERVICE,
                period=1,
                name=r.name,
                phone=r.phone,
                flags=[Flag.SELF_REFERRAL],
                review=Review.PENDING,
            )
        else:  # the monthly cap: a club outing where one owner named six people in a day
            r = referrer(store, day)
            if r is None:
                return
            cap = max(1, b.policy.monthly_cap)
            club = _pick(rng, CLUBS)
            start = at - dt.timedelta(minutes=10 * cap)
            for k in range(cap):
                ok = b.lead(r, at=start + dt.timedelta(minutes=10 * k), channel=Channel.CLUB, period=1)
                ok.event_name = club
                b.fate(ok, 1)
            lead = b.lead(
                r, at=at, channel=Channel.CLUB, period=1, flags=[Flag.MONTHLY_CAP], review=Review.PENDING
            )
            lead.event_name = club
        if decide is None:
            return
        decided = clock.working(day + dt.timedelta(days=1 + int(rng.random() * 3)), rng)
        lead.step(decided, decide, b.manager(store), None, _pick(rng, REVIEW_NOTES[flag]))
        if decide == "approve":
            b.fate(lead, 1)

    # In the past: duplicates, existing customers and self-referrals refused; caps approved.
    history = (
        (Flag.DUPLICATE, "reject", 14),
        (Flag.EXISTING_CUSTOMER, "reject", 8),
        (Flag.SELF_REFERRAL, "reject", 5),
        (Flag.MONTHLY_CAP, "approve", 6),
    )
    span = max(1, (b.today - b.start5).days - 60)
    for flag, decide, n in history:
        for _ in range(n):
            day = b.start5 + dt.timedelta(days=30 + int(rng.random() * span))
            flagged(_pick(rng, stores) if stores else None, flag, clock.working(day, rng), decide)
    # Waiting today: every flag in the first store, two more in each of the others.
    for i, store in enumerate(stores):
        flags = [Flag.DUPLICATE, Flag.EXISTING_CUSTOMER, Flag.MONTHLY_CAP, Flag.SELF_REFERRAL]
        for flag in flags if i == 0 else flags[:2]:
            back = 1 + int(rng.random() * min(9, max(1, b.today.day - 1)))
            flagged(store, flag, clock.working(b.today - dt.timedelta(days=back), rng), None)


def _showcase(b: _Builder) -> None:
    """A lead in every open stage (and a lost and a fake one) for the first rep's login."""
    rep = b.staff.by_username.get("rep_th1") or next(iter(b.staff.reps), None)
    if rep is None:
        return
    rng, clock = b.rng, b.clock
    taken: set[int] = set()
    # (days back, audit: (delay, no-answer attempts, outcome) or None, then contact / quote / lose days back)
    cases: list[tuple[int, tuple[int, int, str] | None, int | None, int | None, int | None]] = [
        (0, None, None, None, None),
        (1, None, None, None, None),
        (3, (1, 1, ""), None, None, None),  # one unanswered call, still in the queue
        (6, (1, 0, AuditOutcome.CONFIRMED), None, None, None),
        (15, (1, 0, AuditOutcome.CONFIRMED), 10, None, None),
        (28, (1, 1, AuditOutcome.CONFIRMED), 24, 15, None),
        (50, (1, 0, AuditOutcome.CONFIRMED), 46, None, 20),
        (40, (1, 0, AuditOutcome.FAKE), None, None, None),
    ]
    for back, audit, contact, quote, lose in cases:
        day = b.today - dt.timedelta(days=back)
        at = clock.at(day, 9 * 60 + 30)
        if at > clock.now:
            at = clock.at(day - dt.timedelta(days=1), 17 * 60)
            day -= dt.timedelta(days=1)
        pool = [c for c in b.buyers(owner=rep, before=day) if c.id not in taken]
        if not pool:
            return
        pool.sort(key=lambda c: (b.delivered_before(c.id, day) or day, c.id), reverse=True)
        r = pool[min(len(pool) - 1, int(rng.random() * 5))]
        taken.add(r.id)
        lead = b.lead(r, at=at, channel=Channel.DELIVERY if back < 3 else Channel.CALL, period=1)
        if audit is None:
            continue
        delay, retries, outcome = audit
        if outcome:
            b.audit_steps(lead, outcome, retries=retries, delay=delay)
        else:
            for k in range(retries):
                when = clock.working(day + dt.timedelta(days=delay + k), rng)
                lead.step(when, "audit", b.dcrc(), AuditOutcome.NO_ANSWER, _pick(rng, NO_ANSWER_NOTES))
        for action, back_day, notes in (
            ("contact", contact, CONTACT_NOTES),
            ("quote", quote, QUOTE_NOTES),
            ("lose", lose, LOST_REASONS),
        ):
            if back_day is not None:
                when = clock.working(b.today - dt.timedelta(days=back_day), rng)
                lead.step(when, action, lead.rep_id, None, _pick(rng, notes))


def _profiles(b: _Builder) -> set[int]:
    """Referrer types for a few dozen referrers; returns those who refuse rewards."""
    rng, clock = b.rng, b.clock
    made: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # referrer -> made, counted, won
    for lead in b.leads:
        row = made[lead.referrer]
        row[0] += 1
        row[1] += lead.counts
        row[2] += lead.stage == Stage.WON and lead.counts
    ranked = sorted(made, key=lambda cid: (-made[cid][2], -made[cid][1], cid))
    chosen: dict[int, str] = {}
    for cid in [c for c in ranked if made[c][2] >= 1][:6]:
        chosen[cid] = ReferrerType.HONOUR
    for cid in [c for c in ranked if c not in chosen and made[c][1] >= 2][:14]:
        chosen[cid] = ReferrerType.REWARD
    rest = [c for c in ranked if c not in chosen]
    for cid in sorted(c for c in rest if made[c][0] >= 2)[: 8 * 3 : 3]:
        chosen[cid] = ReferrerType.FAVOUR
    for cid in sorted(c for c in rest if made[c][0] <= 2 and c not in chosen)[:40:4]:
        chosen[cid] = ReferrerType.FRIEND
    rows = []
    next_id = _next_id(ReferrerProfile)
    for cid, kind in sorted(chosen.items()):
        c = b.customers[cid]
        at = clock.working(b.today - dt.timedelta(days=5 + int(rng.random() * 200)), rng)
        rows.append(
            (
                next_id,
                at,
                at,
                b.org.pk,
                cid,
                kind,
                kind == ReferrerType.HONOUR,
                _pick(rng, HELP) if kind == ReferrerType.FAVOUR else "",
                PROFILE_NOTES[ReferrerType(kind)],
                c.owner,
                1,
            )
        )
        next_id += 1
    _write(
        ReferrerProfile,
        (
            "id",
            "created_at",
            "updated_at",
            "organisation_id",
            "customer_id",
            "referrer_type",
            "refuses_rewards",
            "asked_for_help",
            "note",
            "set_by_id",
            "version",
        ),
        rows,
    )
    return {cid for cid, kind in chosen.items() if kind == ReferrerType.HONOUR}


REFERRAL_COLUMNS = (
    "id",
    "organisation_id",
    "referrer_id",
    "name",
    "phone",
    "wechat",
    "city",
    "relation",
    "interest",
    "product_id",
    "note",
    "channel",
    "event_name",
    "customer_id",
    "stage",
    "store_id",
    "rep_id",
    "submitted_at",
    "submitted_by_id",
    "audit_outcome",
    "audit_note",
    "audit_attempts",
    "audited_at",
    "audited_by_id",
    "verified_at",
    "contacted_at",
    "quoted_at",
    "closed_at",
    "won_purchase_id",
    "lost_reason",
    "flags",
    "duplicate_of_id",
    "review",
    "reviewed_at",
    "reviewed_by_id",
    "review_note",
    "faked",
    "version",
)
EVENT_COLUMNS = ("id", "referral_id", "at", "actor_id", "action", "from_stage", "to_stage", "note")


def _write_leads(b: _Builder) -> None:
    org_id = b.org.pk
    rows = []
    events = []
    event_id = _next_id(ReferralEvent)
    # Originals first: a duplicate points at a row written before it.
    for lead in sorted(b.leads, key=lambda lead: (lead.duplicate_of is not None, lead.id)):
        rows.append(
            (
                lead.id,
                org_id,
                lead.referrer,
                lead.name,
                lead.phone,
                lead.wechat,
                lead.city,
                lead.relation,
                lead.interest,
                lead.product_id,
                "",
                lead.channel,
                lead.event_name,
                lead.customer_id if lead.linked else None,
                lead.stage,
                lead.store_id,
                lead.rep_id,
                lead.submitted_at,
                lead.submitted_by,
                lead.audit_outcome,
                lead.audit_note,
                lead.audit_attempts,
                lead.audited_at,
                lead.audited_by,
                lead.verified_at,
                lead.contacted_at,
                lead.quoted_at,
                lead.closed_at,
                lead.won_purchase,
                lead.lost_reason[:255],
                json.dumps(lead.flags) if lead.flags else "[]",
                lead.duplicate_of,
                lead.review,
                lead.reviewed_at,
                lead.reviewed_by,
                lead.review_note,
                lead.faked,
                len(lead.events),  # one version per change
            )
        )
        for at, actor, action, before, after, note in lead.events:
            events.append((event_id, lead.id, at, actor, action, before, after, note))
            event_id += 1
    _write(Referral, REFERRAL_COLUMNS, rows)
    _write(ReferralEvent, EVENT_COLUMNS, events)
    if b.new_referrer:
        qn = connection.ops.quote_name
        sql = f"UPDATE {qn(Customer._meta.db_table)} SET {qn('referred_by_id')} = %s WHERE {qn('id')} = %s"  # noqa: S608
        with connection.cursor() as cur:
            cur.executemany(sql, [(ref, cid) for cid, ref in sorted(b.new_referrer.items())])


def _code(rng: random.Random, used: set[str]) -> str:
    """A voucher code in the vouchers module's format (its check character), drawn from the seed."""
    from .vouchers import ALPHABET, CODE_LENGTH, code_is_wellformed

    while True:
        body = "".join(_pick(rng, ALPHABET) for _ in range(CODE_LENGTH - 1))
        # The check character as the vouchers module computes it (a weighted sum modulo 31); the
        # module's own check confirms it, and a search over the alphabet covers a change of scheme.
        guess = body + ALPHABET[sum((i + 1) * ALPHABET.index(c) for i, c in enumerate(body)) % len(ALPHABET)]
        code = (
            guess
            if code_is_wellformed(guess)
            else next(body + c for c in ALPHABET if code_is_wellformed(body + c))
        )
        if code not in used:
            used.add(code)
            return code


def _rewards(b: _Builder, refuses: set[int]) -> str:
    """Rewards of the won referrals and their vouchers' lives; returns a code for the desk demo."""
    rng, clock, policy = b.rng, b.clock, b.policy
    org_id = b.org.pk
    rewards: list[tuple[Any, ...]] = []
    vouchers: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    reward_id, voucher_id, entry_id = _next_id(Reward), _next_id(Voucher), _next_id(VoucherEntry)
    used: set[str] = set()
    won_by: dict[int, int] = defaultdict(int)
    first_store = min((s for s in b.staff.reps.values() if s is not None), default=None)
    showcase = ""

    def voucher(lead: _Lead, holder: int, kind: str, value: Decimal, release: dt.date) -> tuple[int, str]:
        nonlocal voucher_id, entry_id, showcase
        vid, code = voucher_id, _code(rng, used)
        voucher_id += 1
        issued = clock.at(release, 7 * 60 + 30 + int(rng.random() * 30))  # the morning release
        expires = release + dt.timedelta(days=policy.voucher_valid_days)
        status, redeemed_at, redeemed_by, redeemed_store, closed, reason = (
            Voucher.Status.ISSUED,
            None,
            None,
            None,
            None,
            "",
        )
        ledger: list[tuple[dt.datetime, str, int | None, int | None, str]] = [
            (issued, VoucherEntry.Action.ISSUE, None, lead.store_id, "")
        ]
        store = b.customers[holder].store
        share = REDEEMED_SHARE[kind]
        roll = rng.random()
        if roll < 0.02 or len(vouchers) % 97 == 7:  # a few voided, even in a small demo
            closed = clock.working(release + dt.timedelta(days=3 + int(rng.random() * 60)), rng)
            if closed <= clock.now:
                status, reason = Voucher.Status.VOID, _pick(rng, VOID_REASONS)
                ledger.append((closed, VoucherEntry.Action.VOID, b.manager(store), store, reason))
            else:
                closed = None
        elif roll < 0.02 + share:
            day = release + dt.timedelta(days=5 + int(rng.random() * min(300, policy.voucher_valid_days - 6)))
            when = clock.working(day, rng)
            if when <= clock.now and day <= expires:
                status, redeemed_at, redeemed_store = Voucher.Status.REDEEMED, when, store
                redeemed_by = b.staff.desks.get(store) if rng.random() < 0.7 else b.dcrc()
                ledger.append((when, VoucherEntry.Action.REDEEM, redeemed_by, redeemed_store, ""))
        if status == Voucher.Status.ISSUED and expires < b.today:
            status = Voucher.Status.EXPIRED
            closed = clock.at(expires + dt.timedelta(days=1), 2 * 60)
            ledger.append((closed, VoucherEntry.Action.EXPIRE, None, None, ""))
            if rng.random() < 0.2:
                late = clock.working(expires + dt.timedelta(days=3 + int(rng.random() * 20)), rng)
                if late <= clock.now:
                    ledger.append(
                        (late, VoucherEntry.Action.REFUSED, b.staff.desks.get(store), store, "expired")
                    )
        vouchers.append(
            (
                vid,
                org_id,
                code,
                kind,
                value,
                holder,
                lead.id,
                lead.store_id,
                lead.rep_id,
                status,
                issued,
                None,
                expires,
                redeemed_at,
                redeemed_by,
                redeemed_store,
                closed,
                reason,
            )
        )
        for at, action, actor, at_store, note in ledger:
            entries.append((entry_id, vid, action, at, actor, at_store, note))
            entry_id += 1
        if (
            not showcase
            and status == Voucher.Status.ISSUED
            and kind == Voucher.Kind.MAINTENANCE
            and store == first_store
        ):
            showcase = code
        return vid, status

    won = sorted(
        (lead for lead in b.leads if lead.stage == Stage.WON and lead.counts),
        key=lambda lead: (lead.closed_at or clock.now, lead.id),
    )
    for lead in won:
        won_by[lead.referrer] += 1
        assert lead.closed_at is not None and lead.customer_id is not None
        bought = timezone.localtime(lead.closed_at, clock.tz).date()
        release = bought + dt.timedelta(days=policy.reward_hold_days)
        due = release <= b.today
        value = Decimal(policy.reward_value)
        for tier in sorted(policy.reward_tiers, key=lambda t: t.min_won):
            if won_by[lead.referrer] >= tier.min_won:
                value = Decimal(tier.value)
        kind = policy.reward_kind if rng.random() < 0.8 else Voucher.Kind.GIFT
        specs = [
            (Reward.Beneficiary.REFERRER, lead.referrer, kind, value, lead.referrer in refuses),
            (
                Reward.Beneficiary.REFERRED,
                lead.customer_id,
                Voucher.Kind.OFFER,
                Decimal(policy.referred_offer_value),
                False,
            ),
        ]
        for beneficiary, holder, reward_kind, reward_value, declined in specs:
            vid: int | None = None
            if declined:
                status = Reward.Status.DECLINED
            elif due:
                vid, _vstatus = voucher(lead, holder, reward_kind, reward_value, release)
                status = Reward.Status.ISSUED
            else:
                status = Reward.Status.HELD
            rewards.append(
                (
                    reward_id,
                    org_id,
                    lead.id,
                    beneficiary,
                    holder,
                    reward_kind,
                    reward_value,
                    status,
                    release,
                    lead.closed_at,
                    vid,
                )
            )
            reward_id += 1
    _write(
        Voucher,
        (
            "id",
            "organisation_id",
            "code",
            "kind",
            "value",
            "customer_id",
            "referral_id",
            "store_id",
            "rep_id",
            "status",
            "issued_at",
            "issued_by_id",
            "expires_on",
            "redeemed_at",
            "redeemed_by_id",
            "redeemed_store_id",
            "closed_at",
            "void_reason",
        ),
        vouchers,
    )
    _write(VoucherEntry, ("id", "voucher_id", "action", "at", "actor_id", "store_id", "note"), entries)
    _write(
        Reward,
        (
            "id",
            "organisation_id",
            "referral_id",
            "beneficiary",
            "customer_id",
            "kind",
            "value",
            "status",
            "release_on",
            "created_at",
            "voucher_id",
        ),
        rewards,
    )
    return showcase


def _links(b: _Builder) -> None:
    """Self-service links behind the self-service referrals, and a few handed out this month."""
    rng, clock = b.rng, b.clock
    days = b.policy.link_valid_days
    by_referrer: dict[int, list[dt.datetime]] = defaultdict(list)
    for lead in b.leads:
        if lead.channel == Channel.SELF_SERVICE and not lead.flags:
            by_referrer[lead.referrer].append(lead.submitted_at)
    rows: list[tuple[Any, ...]] = []
    link_id = _next_id(ReferralLink)
    for cid in sorted(by_referrer)[::7][:12]:
        first = min(by_referrer[cid])
        created = first - dt.timedelta(days=1 + int(rng.random() * 3))
        expires = created + dt.timedelta(days=days)
        n = sum(1 for at in by_referrer[cid] if created <= at < expires)
        rows.append((link_id, b.org.pk, cid, b.customers[cid].owner, created, expires, None, n))
        link_id += 1
    rep = b.staff.by_username.get("rep_th1")
    recent = b.buyers(owner=rep, before=b.today) if rep else []
    recent.sort(key=lambda c: (b.delivered_before(c.id, b.today) or b.today, c.id), reverse=True)
    for k, c in enumerate(recent[:3]):
        created = clock.working(b.today - dt.timedelta(days=2 + 5 * k), rng)
        if created > clock.now:
            continue
        revoked = created + dt.timedelta(days=1) if k == 2 else None
        rows.append((link_id, b.org.pk, c.id, rep, created, created + dt.timedelta(days=days), revoked, 0))
        link_id += 1
    _write(
        ReferralLink,
        (
            "id",
            "organisation_id",
            "referrer_id",
            "created_by_id",
            "created_at",
            "expires_at",
            "revoked_at",
            "submissions",
        ),
        rows,
    )
