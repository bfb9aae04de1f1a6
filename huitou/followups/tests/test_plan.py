"""The daily plan: what each trigger produces, exactly, on hand-built data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from huitou.customers.models import Activity, Consent, Customer, PersonalDate, Purchase, PurchaseLine, Tag
from huitou.followups import calendar
from huitou.followups.models import Channel, Message, PlanRun, ProductNotice, Purpose, Task, Trigger
from huitou.followups.plan import (
    add_months,
    fits_cap,
    inspection_sources,
    plan_candidates,
    plan_run,
    service_due,
)
from tests.factories import (
    ContactRuleFactory,
    CustomerFactory,
    OwnedProductFactory,
    ProductFactory,
    PurchaseFactory,
)

TZ = timezone.get_default_timezone()
D = dt.date(2026, 3, 10)  # a Tuesday, a working day


def at(day: dt.date, hour: int = 0, minute: int = 30) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ)


def run(w, day=D, now=None):
    return plan_run(organisation=w.org, day=day, now=now or at(day))


def rule(w, **kw):
    kw.setdefault("organisation", w.org)
    kw.setdefault("offset_days", 0)
    kw.setdefault("channel", Channel.CALL)
    kw.setdefault("purpose", Purpose.SERVICE)
    return ContactRuleFactory(**kw)


def customer(w, owner=None, **kw):
    return CustomerFactory(owner=owner or w.rep1, **kw)


def grant(c, channel, granted=True):
    Consent.objects.create(
        customer=c, channel=channel, granted=granted, source="form", recorded_at=timezone.now()
    )


def touches(model=Task):
    fields = ("customer_id", "rule_id", "occurrence")
    return sorted(model.objects.values_list(*fields))


@pytest.fixture
def w(org_world):
    return org_world


# --- purchases -----------------------------------------------------------------------------------


def test_order_placed_letter_next_day_with_promised_date(w):
    r = rule(
        w,
        trigger=Trigger.ORDER_PLACED,
        offset_days=1,
        channel=Channel.LETTER,
        purpose=Purpose.TRANSACTIONAL,
        template="{name}:您在{store}订购的{product}预计于{date}交付。——{rep}",
        sms_template_code="",
    )
    c = customer(w, name="王先生", province="广东省", city="广州市", address="天河路1号")
    product = ProductFactory(organisation=w.org, name="雅阁")
    p = PurchaseFactory(
        customer=c, ordered_on=D - dt.timedelta(days=1), promised_on=dt.date(2026, 4, 2), store=w.s2
    )
    PurchaseLine.objects.create(purchase=p, product=product, unit_price=Decimal("1"), amount=Decimal("1"))
    PurchaseFactory(customer=c, ordered_on=D - dt.timedelta(days=1), kind=Purchase.Kind.SERVICE)  # not a sale
    PurchaseFactory(customer=c, ordered_on=D)  # ordered today: its letter is tomorrow

    result = run(w)

    assert (result.tasks_created, result.messages_queued, result.skipped) == (0, 1, {})
    m = Message.objects.get()
    assert (m.customer_id, m.rule_id, m.occurrence) == (c.pk, r.pk, f"purchase:{p.pk}")
    assert m.channel == "letter" and m.purpose == "transactional" and m.status == "queued"
    assert m.to == "广东省广州市天河路1号"
    assert m.body == f"王先生:您在番禺店订购的雅阁预计于2026年4月2日交付。——{w.rep1.label}"
    assert m.subject == r.name
    assert m.idempotency_key == f"plan:{r.pk}:{c.pk}:purchase:{p.pk}"
    assert m.scheduled_for == at(D, 9, 30)
    assert m.params["product"] == "雅阁" and m.params["store"] == "番禺店"


def test_shipped_sms_uses_arrival_date_and_purchase_rep(w):
    rule(
        w,
        trigger=Trigger.SHIPPED,
        channel=Channel.SMS,
        purpose=Purpose.TRANSACTIONAL,
        template="{name},已发货,预计{date}到达。{rep}",
        sms_template_code="SMS_SHIPPED",
    )
    c = customer(w, name="李女士", phone="+8613800000001")
    p = PurchaseFactory(customer=c, shipped_on=D, arrives_on=dt.date(2026, 3, 12), rep=w.rep2)
    PurchaseFactory(customer=c, shipped_on=D - dt.timedelta(days=1))

    assert run(w).messages_queued == 1
    m = Message.objects.get()
    assert m.occurrence == f"purchase:{p.pk}"
    assert m.to == "+8613800000001" and m.template_code == "SMS_SHIPPED"
    assert m.body == f"李女士,已发货,预计2026年3月12日到达。{w.rep2.label}"


def test_arrival_call_task_for_owner_with_script(w):
    r = rule(w, trigger=Trigger.ARRIVAL, offset_days=1, name="到货确认", script="确认是否收到")
    c = customer(w)
    p = PurchaseFactory(customer=c, arrives_on=D - dt.timedelta(days=1), kind=Purchase.Kind.EXPANSION)

    result = run(w)

    assert (result.tasks_created, result.messages_queued) == (1, 0)
    t = Task.objects.get()
    assert (t.customer_id, t.rule_id, t.occurrence) == (c.pk, r.pk, f"purchase:{p.pk}")
    assert (t.kind, t.purpose, t.title, t.script, t.due_on) == (
        "call",
        "service",
        "到货确认",
        "确认是否收到",
        D,
    )
    assert t.assignee_id == w.rep1.pk and t.status == "open" and t.priority == r.priority


def test_service_visit_goes_to_aftersales_of_the_store(w):
    rule(w, trigger=Trigger.SERVICE_VISIT, offset_days=2, assignee="aftersales")
    c = customer(w)
    service = PurchaseFactory(customer=c, ordered_on=D - dt.timedelta(days=2), kind=Purchase.Kind.SERVICE)
    PurchaseFactory(customer=c, ordered_on=D - dt.timedelta(days=2))  # a sale: not a workshop visit

    assert run(w).tasks_created == 1
    t = Task.objects.get()
    assert t.occurrence == f"purchase:{service.pk}" and t.assignee_id == w.aftersales.pk


def test_purchase_rule_product_filter_looks_at_lines(w):
    suv = ProductFactory(organisation=w.org, category="SUV")
    sedan = ProductFactory(organisation=w.org, category="sedan")
    rule(w, trigger=Trigger.ORDER_PLACED, product_categories=["SUV"])
    a, b = customer(w), customer(w)
    pa = PurchaseFactory(customer=a, ordered_on=D)
    pb = PurchaseFactory(customer=b, ordered_on=D)
    PurchaseLine.objects.create(purchase=pa, product=suv, unit_price=1, amount=1)
    PurchaseLine.objects.create(purchase=pb, product=sedan, unit_price=1, amount=1)

    run(w)
    assert list(Task.objects.values_list("occurrence", flat=True)) == [f"purchase:{pa.pk}"]


# --- owned products --------------------------------------------------------------------------------


def test_delivered_call_and_inactive_customers_are_counted(w):
    r = rule(w, trigger=Trigger.DELIVERED, offset_days=7)
    c = customer(w)
    lost = customer(w, status=Customer.Status.LOST)
    merged = customer(w, merged_into=c)
    car = OwnedProductFactory(customer=c, delivered_on=D - dt.timedelta(days=7))
    OwnedProductFactory(customer=lost, delivered_on=D - dt.timedelta(days=7))
    OwnedProductFactory(customer=merged, delivered_on=D - dt.timedelta(days=7))
    OwnedProductFactory(customer=c, delivered_on=D - dt.timedelta(days=6))

    result = run(w)

    assert result.tasks_created == 1 and result.skipped == {"inactive": 2}
    assert touches() == [(c.pk, r.pk, f"owned:{car.pk}")]


def test_store_tier_kind_and_tag_filters(w):
    vip = Tag.objects.create(organisation=w.org, name="VIP")
    r = rule(
        w,
        trigger=Trigger.DELIVERED,
        store_ids=[w.s1.pk],
        tiers=["gold"],
        customer_kinds=["company"],
        tags=["VIP"],
    )
    ok = customer(w, tier="gold", kind="company")
    ok.tags.add(vip)
    wrong_store = customer(w, owner=w.rep3, tier="gold", kind="company")
    wrong_store.tags.add(vip)
    untagged = customer(w, tier="gold", kind="company")
    silver = customer(w, tier="silver", kind="company")
    silver.tags.add(vip)
    for c in (ok, wrong_store, untagged, silver):
        OwnedProductFactory(customer=c, delivered_on=D)

    run(w)
    assert [t[0] for t in touches()] == [ok.pk]
    assert Task.objects.get().rule_id == r.pk


def test_product_notice_to_every_active_owner_once(w):
    product = ProductFactory(organisation=w.org, name="CR-V")
    other = ProductFactory(organisation=w.org)
    r = rule(
        w,
        trigger=Trigger.PRODUCT_NOTICE,
        channel=Channel.SMS,
        template="{name}您好,关于您的{product}:{notice}",
    )
    notice = ProductNotice.objects.create(
        organisation=w.org, product=product, kind="price", title="降价", body="官方指导价下调", effective_on=D
    )
    ProductNotice.objects.create(
        organisation=w.org, product=product, kind="news", title="旧闻", effective_on=D - dt.timedelta(1)
    )
    two_cars = customer(w, name="张三")
    OwnedProductFactory(customer=two_cars, product=product)
    OwnedProductFactory(customer=two_cars, product=product)
    sold = customer(w)
    OwnedProductFactory(customer=sold, product=product, active=False)
    OwnedProductFactory(customer=customer(w), product=other)

    assert run(w).messages_queued == 1
    m = Message.objects.get()
    assert (m.customer_id, m.rule_id, m.occurrence) == (two_cars.pk, r.pk, f"notice:{notice.pk}")
    assert m.body == "张三您好,关于您的CR-V:官方指导价下调"


def test_first_service_at_the_earlier_of_km_and_months(w):
    r = rule(
        w,
        trigger=Trigger.FIRST_SERVICE,
        offset_days=-7,
        channel=Channel.SMS,
        params={"km": 5000, "months": 6},
    )
    t = D + dt.timedelta(days=7)  # the due date the reminder is for
    # Drives 100 km/day: 5,000 km after 50 days, before the six months.
    fast = OwnedProductFactory(
        customer=customer(w),
        delivered_on=t - dt.timedelta(days=50),
        mileage_km=3000,
        mileage_on=t - dt.timedelta(days=20),
    )
    # Mileage unknown: default 40 km/day -> 125 days, later than... no: 6 months is later, 125 days wins.
    default = OwnedProductFactory(customer=customer(w), delivered_on=t - dt.timedelta(days=125))
    # Drives little: six months first.
    slow = OwnedProductFactory(
        customer=customer(w),
        delivered_on=add_months(t, -6),
        mileage_km=100,
        mileage_on=add_months(t, -6) + dt.timedelta(10),
    )
    # Already had a workshop visit since delivery.
    serviced = OwnedProductFactory(customer=customer(w), delivered_on=t - dt.timedelta(days=125))
    PurchaseFactory(
        customer=serviced.customer, kind=Purchase.Kind.SERVICE, ordered_on=t - dt.timedelta(days=30)
    )
    # Not a vehicle.
    item = OwnedProductFactory(
        customer=customer(w),
        delivered_on=t - dt.timedelta(days=125),
        product=ProductFactory(organisation=w.org, kind="item"),
    )

    run(w)
    got = {m.occurrence for m in Message.objects.filter(rule=r)}
    assert got == {f"owned:{fast.pk}", f"owned:{default.pk}", f"owned:{slow.pk}"}
    assert f"owned:{item.pk}" not in got


def test_service_due_helper():
    start = dt.date(2026, 1, 31)
    assert service_due(start, km=5000, months=6, km_per_day=10) == dt.date(2026, 7, 31)
    assert service_due(start, km=5000, months=6, km_per_day=100) == start + dt.timedelta(days=50)
    assert add_months(dt.date(2025, 8, 31), 6) == dt.date(2026, 2, 28)


def test_maintenance_after_last_visit_or_after_first_service(w):
    r = rule(w, trigger=Trigger.MAINTENANCE, channel=Channel.SMS, params={"km": 5000, "months": 6})
    t = D
    visited = customer(w)
    car1 = OwnedProductFactory(customer=visited, delivered_on=dt.date(2024, 1, 5))
    PurchaseFactory(customer=visited, kind=Purchase.Kind.SERVICE, ordered_on=t - dt.timedelta(days=125))
    PurchaseFactory(customer=visited, kind=Purchase.Kind.SERVICE, ordered_on=t - dt.timedelta(days=300))
    # Visited later than that: not due yet.
    again = customer(w)
    OwnedProductFactory(customer=again, delivered_on=dt.date(2024, 1, 5))
    PurchaseFactory(customer=again, kind=Purchase.Kind.SERVICE, ordered_on=t - dt.timedelta(days=125))
    PurchaseFactory(customer=again, kind=Purchase.Kind.SERVICE, ordered_on=t - dt.timedelta(days=20))
    # Never came: first service due 125 days after delivery, maintenance 125 days after that.
    never = customer(w)
    car3 = OwnedProductFactory(customer=never, delivered_on=t - dt.timedelta(days=250))

    run(w)
    assert touches(Message) == sorted(
        [
            (visited.pk, r.pk, f"owned:{car1.pk}:{t.isoformat()}"),
            (never.pk, r.pk, f"owned:{car3.pk}:{t.isoformat()}"),
        ]
    )


def test_maintenance_after_a_visit_by_the_car_own_km_or_the_months(w):
    r = rule(w, trigger=Trigger.MAINTENANCE, channel=Channel.SMS, params={"km": 5000, "months": 6})
    t = D
    # 100 km a day since delivery: 5,000 km come 50 days after the last visit.
    fast = customer(w)
    fast_car = OwnedProductFactory(
        customer=fast, delivered_on=dt.date(2025, 3, 10), mileage_km=36500, mileage_on=dt.date(2026, 3, 10)
    )
    PurchaseFactory(customer=fast, kind=Purchase.Kind.SERVICE, ordered_on=t - dt.timedelta(days=50))
    # Same car one day off: not due today.
    off = customer(w)
    OwnedProductFactory(
        customer=off, delivered_on=dt.date(2025, 3, 10), mileage_km=36500, mileage_on=dt.date(2026, 3, 10)
    )
    PurchaseFactory(customer=off, kind=Purchase.Kind.SERVICE, ordered_on=t - dt.timedelta(days=49))
    # 1 km a day: six months after the visit.
    slow = customer(w)
    slow_car = OwnedProductFactory(
        customer=slow, delivered_on=dt.date(2024, 3, 10), mileage_km=730, mileage_on=dt.date(2026, 3, 10)
    )
    PurchaseFactory(customer=slow, kind=Purchase.Kind.SERVICE, ordered_on=add_months(t, -6))
    # Due by that visit, but came back since (before the run day): nothing.
    back = customer(w)
    OwnedProductFactory(
        customer=back, delivered_on=dt.date(2024, 3, 10), mileage_km=730, mileage_on=dt.date(2026, 3, 10)
    )
    PurchaseFactory(customer=back, kind=Purchase.Kind.SERVICE, ordered_on=add_months(t, -6))
    PurchaseFactory(customer=back, kind=Purchase.Kind.SERVICE, ordered_on=t)

    run(w)
    assert touches(Message) == sorted(
        [
            (fast.pk, r.pk, f"owned:{fast_car.pk}:{t.isoformat()}"),
            (slow.pk, r.pk, f"owned:{slow_car.pk}:{t.isoformat()}"),
        ]
    )


def test_insurance_reminder_before_expiry(w):
    r = rule(w, trigger=Trigger.INSURANCE, offset_days=-30)
    car = OwnedProductFactory(customer=customer(w), insurance_expires_on=D + dt.timedelta(days=30))
    OwnedProductFactory(customer=customer(w), insurance_expires_on=D + dt.timedelta(days=31))

    run(w)
    assert touches() == [(car.customer_id, r.pk, f"owned:{car.pk}:{(D + dt.timedelta(days=30)).isoformat()}")]


def test_inspection_ages_yearly_and_twice_yearly(w):
    params = {"ages": [6, 10], "yearly_from": 11, "twice_yearly_from": 16}
    r = rule(w, trigger=Trigger.INSPECTION, params=params)
    six = OwnedProductFactory(customer=customer(w), delivered_on=dt.date(2020, 3, 10))
    eight = OwnedProductFactory(customer=customer(w), delivered_on=dt.date(2018, 3, 10))  # no inspection at 8
    twelve = OwnedProductFactory(customer=customer(w), delivered_on=dt.date(2014, 3, 10))
    half = OwnedProductFactory(customer=customer(w), delivered_on=dt.date(2009, 9, 10))  # 16.5 years
    run(w)
    got = {t.occurrence for t in Task.objects.filter(rule=r)}
    assert got == {f"owned:{c.pk}:2026-03-10" for c in (six, twelve, half)}
    assert f"owned:{eight.pk}:2026-03-10" not in got


def test_inspection_sources_feb_29():
    params = {"ages": [6], "yearly_from": None, "twice_yearly_from": None}
    assert inspection_sources(dt.date(2026, 2, 28), params) == [dt.date(2020, 2, 28), dt.date(2020, 2, 29)]
    assert inspection_sources(dt.date(2026, 3, 1), params) == [dt.date(2020, 3, 1)]


# --- dates of the customer ---------------------------------------------------------------------


def test_birthday_solar_lunar_and_feb_29(w):
    r = rule(
        w,
        trigger=Trigger.BIRTHDAY,
        offset_days=-5,
        channel=Channel.CARD,
        purpose=Purpose.MARKETING,
        template="{name}生日快乐",
    )
    feb28 = dt.date(2026, 2, 28)  # 2026 is a common year: 29 February birthdays are on the 28th
    assert calendar.lunar_to_solar(2026, 1, 12) == feb28
    a = customer(w, birthday=dt.date(1980, 2, 28), address="天河路1号")
    b = customer(w, birthday=dt.date(1984, 2, 29), address="天河路2号")
    customer(w, birthday=dt.date(1984, 3, 1), address="天河路3号")
    c = customer(
        w, birthday_calendar="lunar", birthday_lunar_month=1, birthday_lunar_day=12, address="天河路4号"
    )
    # Lunar calendar: the solar birthday field is not what counts; and no address to post to.
    d = customer(
        w,
        birthday_calendar="lunar",
        birthday_lunar_month=1,
        birthday_lunar_day=12,
        birthday=dt.date(1990, 5, 5),
    )
    for x in (a, b, c, d):
        grant(x, "letter")

    assert run(w, day=feb28 - dt.timedelta(days=6)).messages_queued == 0
    result = run(w, day=feb28 - dt.timedelta(days=5))  # the card goes five days before
    assert result.messages_queued == 3 and result.skipped == {"no_address": 1}
    assert touches(Message) == sorted([(a.pk, r.pk, "2026"), (b.pk, r.pk, "2026"), (c.pk, r.pk, "2026")])
    assert Message.objects.get(customer=c).to == "天河路4号"


def test_lunar_birthday_occurrence_is_the_lunar_year(w):
    # Lunar 12/1 is celebrated twice in solar 2024: 11 January (lunar 2023) and 31 December (lunar 2024).
    r = rule(w, trigger=Trigger.BIRTHDAY, channel=Channel.CALL, purpose=Purpose.MARKETING)
    c = customer(w, birthday_calendar="lunar", birthday_lunar_month=12, birthday_lunar_day=1)
    first, second = calendar.lunar_birthday_dates(12, 1, False, 2024)
    assert plan_candidates(organisation=w.org, rule=r, day=first) == [(c.pk, "2023")]
    assert plan_candidates(organisation=w.org, rule=r, day=second) == [(c.pk, "2024")]


def test_personal_dates_solar_lunar_and_kinds(w):
    r = rule(
        w,
        trigger=Trigger.PERSONAL_DATE,
        channel=Channel.SMS,
        purpose=Purpose.MARKETING,
        params={"kinds": ["wedding", "child_birthday"]},
        template="{name},祝您{occasion}快乐!",
    )
    c = customer(w, name="赵六")
    grant(c, "sms")
    wedding = PersonalDate.objects.create(customer=c, kind="wedding", date=dt.date(2010, 3, 10))
    child = PersonalDate.objects.create(
        customer=c, kind="child_birthday", label="女儿生日", calendar="lunar", lunar_month=1, lunar_day=22
    )
    PersonalDate.objects.create(customer=c, kind="other", date=dt.date(2011, 3, 10))  # kind not in the rule
    assert calendar.lunar_to_solar(2026, 1, 22) == D

    # The weekly cap is 1 by default: lift it so both greetings of the day go out.
    w.org.policy_data = {"contact": {"marketing_cap_week": 5}}
    w.org.save()
    result = run(w)
    assert result.messages_queued == 2
    got = {m.occurrence: m.body for m in Message.objects.filter(rule=r)}
    assert got == {
        f"2026:pd{wedding.pk}": "赵六,祝您结婚纪念日快乐!",
        f"2026:pd{child.pk}": "赵六,祝您女儿生日快乐!",
    }


def test_festival_greets_active_customers_once_a_year(w):
    r = rule(
        w,
        trigger=Trigger.FESTIVAL,
        channel=Channel.SMS,
        purpose=Purpose.MARKETING,
        params={"festival": "mid_autumn"},
        template="{name},{store}祝您{festival}快乐!",
    )
    day = calendar.festival_date("mid_autumn", 2026)
    a = customer(w, name="甲")
    prospect = customer(w, status=Customer.Status.PROSPECT)
    lost = customer(w, status=Customer.Status.LOST)
    for c in (a, prospect, lost):
        grant(c, "sms")
    assert run(w, day=day - dt.timedelta(days=1)).messages_queued == 0
    result = run(w, day=day)
    assert result.messages_queued == 1 and result.skipped == {}
    m = Message.objects.get()
    assert (m.customer_id, m.rule_id, m.occurrence) == (a.pk, r.pk, "2026")
    assert m.body == "甲,天河店祝您中秋节快乐!"


# --- revisits and seasons ----------------------------------------------------------------------------


def _created(c, day):
    Customer.objects.filter(pk=c.pk).update(created_at=at(day, 12))


def test_revisit_interval_since_last_activity_or_creation(w):
    r = rule(
        w,
        trigger=Trigger.REVISIT,
        channel=Channel.VISIT,
        purpose=Purpose.MARKETING,
        params={"interval_days": 180, "activity_kinds": ["visit"]},
    )
    new = customer(w)
    _created(new, D - dt.timedelta(days=100))
    old = customer(w)
    _created(old, D - dt.timedelta(days=400))
    visited = customer(w)
    _created(visited, D - dt.timedelta(days=400))
    Activity.objects.create(
        organisation=w.org,
        customer=visited,
        kind="visit",
        occurred_at=at(D - dt.timedelta(days=10)),
        subject="x",
    )
    long_ago = customer(w)
    _created(long_ago, D - dt.timedelta(days=400))
    Activity.objects.create(
        organisation=w.org,
        customer=long_ago,
        kind="visit",
        occurred_at=at(D - dt.timedelta(days=200), 15),
        subject="x",
    )
    Activity.objects.create(
        organisation=w.org,
        customer=long_ago,
        kind="call",
        occurred_at=at(D - dt.timedelta(days=5), 15),
        subject="x",
    )
    prospect = customer(w, status=Customer.Status.PROSPECT)
    _created(prospect, D - dt.timedelta(days=180))

    run(w)
    assert touches() == sorted(
        [
            (old.pk, r.pk, (D - dt.timedelta(days=220)).isoformat()),
            (long_ago.pk, r.pk, (D - dt.timedelta(days=20)).isoformat()),
            (prospect.pk, r.pk, D.isoformat()),
        ]
    )
    # The next day nothing new: the open tasks stand.
    assert run(w, day=D + dt.timedelta(days=1)).tasks_created == 0


def test_revisit_restarts_after_a_missed_task(w):
    r = rule(w, trigger=Trigger.REVISIT, params={"interval_days": 30, "activity_kinds": ["call"]})
    c = customer(w)
    _created(c, D - dt.timedelta(days=100))
    run(w, day=D)
    t = Task.objects.get()
    assert t.occurrence == (D - dt.timedelta(days=70)).isoformat()
    Task.objects.filter(pk=t.pk).update(status=Task.Status.MISSED)
    assert run(w, day=D + dt.timedelta(days=29)).tasks_created == 0
    assert run(w, day=D + dt.timedelta(days=30)).tasks_created == 1
    assert (
        Task.objects.filter(rule=r, status="open").get().occurrence == (D + dt.timedelta(days=30)).isoformat()
    )


def test_seasonal_visit_to_customers_who_buy_rarely(w):
    r = rule(
        w,
        trigger=Trigger.SEASONAL,
        params={"dates": ["03-10"], "max_purchases_365": 1},
        customer_kinds=["company"],
    )
    rare = customer(w, kind="company")
    PurchaseFactory(customer=rare, ordered_on=D - dt.timedelta(days=30))
    PurchaseFactory(customer=rare, ordered_on=D - dt.timedelta(days=30), kind=Purchase.Kind.SERVICE)
    often = customer(w, kind="company")
    PurchaseFactory(customer=often, ordered_on=D - dt.timedelta(days=30))
    PurchaseFactory(customer=often, ordered_on=D - dt.timedelta(days=300))
    customer(w, kind="person")
    run(w)
    assert touches() == [(rare.pk, r.pk, "2026-03-10")]
    assert run(w, day=D + dt.timedelta(days=1)).tasks_created == 0


# --- pace ---------------------------------------------------------------------------------------------


def test_marketing_needs_consent_service_does_not(w):
    mk = rule(w, trigger=Trigger.DELIVERED, channel=Channel.SMS, purpose=Purpose.MARKETING, code="mk")
    sv = rule(w, trigger=Trigger.DELIVERED, channel=Channel.SMS, purpose=Purpose.SERVICE, code="sv")
    yes, no, none_, nophone = customer(w), customer(w), customer(w), customer(w, phone="")
    grant(yes, "sms")
    grant(no, "sms", granted=False)
    grant(none_, "email")
    grant(nophone, "sms")
    for c in (yes, no, none_, nophone):
        OwnedProductFactory(customer=c, delivered_on=D)

    result = run(w)
    assert result.skipped == {"no_consent": 1, "opted_out": 1, "no_phone": 2}
    assert {(m.customer_id, m.rule_id) for m in Message.objects.all()} == {
        (yes.pk, mk.pk),
        (yes.pk, sv.pk),
        (no.pk, sv.pk),
        (none_.pk, sv.pk),
    }


def test_visit_needs_no_consent_and_call_needs_phone_consent(w):
    visit = rule(w, trigger=Trigger.DELIVERED, channel=Channel.VISIT, purpose=Purpose.MARKETING, code="v")
    call = rule(w, trigger=Trigger.DELIVERED, channel=Channel.CALL, purpose=Purpose.MARKETING, code="c")
    c = customer(w)
    OwnedProductFactory(customer=c, delivered_on=D)
    w.org.policy_data = {"contact": {"marketing_cap_week": 3}}
    w.org.save()
    result = run(w)
    assert result.skipped == {"no_consent": 1}
    assert touches() == [(c.pk, visit.pk, f"owned:{c.owned_products.get().pk}")]
    assert call.pk not in {t[1] for t in touches()}


def test_weekly_cap_keeps_the_higher_priority(w):
    low = rule(
        w,
        trigger=Trigger.DELIVERED,
        channel=Channel.VISIT,
        purpose=Purpose.MARKETING,
        priority=40,
        code="a-low",
    )
    high = rule(
        w,
        trigger=Trigger.DELIVERED,
        channel=Channel.VISIT,
        purpose=Purpose.MARKETING,
        priority=60,
        code="z-high",
    )
    same = rule(
        w,
        trigger=Trigger.DELIVERED,
        channel=Channel.VISIT,
        purpose=Purpose.MARKETING,
        priority=60,
        code="b-same",
    )
    c = customer(w)
    OwnedProductFactory(customer=c, delivered_on=D)
    result = run(w)
    assert result.skipped == {"cap_week": 2}
    assert [t[1] for t in touches()] == [same.pk]  # same priority: by code, "b-same" before "z-high"
    assert high.pk and low.pk


def test_cap_counts_existing_touches_but_not_cancelled_or_service(w):
    r = rule(w, trigger=Trigger.DELIVERED, channel=Channel.SMS, purpose=Purpose.MARKETING)
    blocked, free = customer(w), customer(w)
    for c in (blocked, free):
        grant(c, "sms")
        OwnedProductFactory(customer=c, delivered_on=D)
    from tests.factories import MessageFactory, TaskFactory

    TaskFactory(customer=blocked, purpose=Purpose.MARKETING, due_on=D - dt.timedelta(days=6))
    TaskFactory(customer=free, purpose=Purpose.MARKETING, due_on=D - dt.timedelta(days=7))
    TaskFactory(
        customer=free,
        purpose=Purpose.MARKETING,
        due_on=D - dt.timedelta(days=1),
        status=Task.Status.CANCELLED,
    )
    TaskFactory(customer=free, purpose=Purpose.SERVICE, due_on=D)
    MessageFactory(
        customer=free, purpose=Purpose.MARKETING, scheduled_for=at(D, 10), status=Message.Status.SUPPRESSED
    )

    result = run(w)
    assert result.skipped == {"cap_week": 1}
    assert [m.customer_id for m in Message.objects.filter(rule=r)] == [free.pk]


def test_monthly_cap(w):
    rule(w, trigger=Trigger.DELIVERED, channel=Channel.VISIT, purpose=Purpose.MARKETING)
    c = customer(w)
    OwnedProductFactory(customer=c, delivered_on=D)
    from tests.factories import MessageFactory

    for days in (8, 15, 22, 29):
        MessageFactory(
            customer=c, purpose=Purpose.MARKETING, scheduled_for=at(D - dt.timedelta(days=days), 10)
        )
    assert run(w).skipped == {"cap_month": 1}


def test_cap_looks_at_touches_after_the_day_too(w):
    # A marketing visit already booked for Thursday: no SMS on Tuesday with a weekly cap of 1.
    rule(w, trigger=Trigger.DELIVERED, channel=Channel.VISIT, purpose=Purpose.MARKETING)
    c = customer(w)
    OwnedProductFactory(customer=c, delivered_on=D)
    from tests.factories import TaskFactory

    TaskFactory(customer=c, purpose=Purpose.MARKETING, due_on=D + dt.timedelta(days=2))
    assert run(w).skipped == {"cap_week": 1}


def test_fits_cap_windows():
    d = dt.date(2026, 3, 10)
    dates = [d - dt.timedelta(days=6), d + dt.timedelta(days=6)]
    assert fits_cap(dates, d, 7, 2) is True  # each 7-day window holds one of them
    assert fits_cap(dates, d, 7, 1) is False
    assert fits_cap([d - dt.timedelta(days=7)], d, 7, 1) is True
    assert fits_cap([], d, 7, 0) is False


# --- days, times, idempotency ------------------------------------------------------------------------


def test_rest_day_task_moves_to_next_working_day_unless_policy(w):
    rule(w, trigger=Trigger.DELIVERED, offset_days=0)
    saturday = dt.date(2026, 3, 14)
    OwnedProductFactory(customer=customer(w), delivered_on=saturday)
    run(w, day=saturday)
    assert Task.objects.get().due_on == dt.date(2026, 3, 16)

    Task.objects.all().delete()
    w.org.policy_data = {"contact": {"tasks_on_rest_days": True}}
    w.org.save()
    PlanRun.objects.all().delete()
    run(w, day=saturday)
    assert Task.objects.get().due_on == saturday


def test_send_time_moves_out_of_quiet_hours_and_late_runs_send_now(w):
    rule(w, trigger=Trigger.DELIVERED, channel=Channel.SMS)
    OwnedProductFactory(customer=customer(w), delivered_on=D)
    w.org.policy_data = {"contact": {"send_at": "22:00", "quiet_start": "21:00", "quiet_end": "08:30"}}
    w.org.save()
    run(w)
    assert Message.objects.get().scheduled_for == at(D + dt.timedelta(days=1), 8, 30)

    Message.objects.all().delete()
    w.org.policy_data = {}
    w.org.save()
    OwnedProductFactory(customer=customer(w), delivered_on=D - dt.timedelta(days=2))
    # Catching up two days late at 14:00: out now rather than at a send time long past.
    run(w, day=D - dt.timedelta(days=2), now=at(D, 14, 0))
    assert Message.objects.get().scheduled_for == at(D, 14, 0)


def test_message_text_and_params_keep_tabs_newlines_and_backslashes(w):
    r = rule(w, trigger=Trigger.BIRTHDAY, channel=Channel.SMS, template="{name}\t生日快乐\n\\N {name}\\")
    c = customer(w, name="李\\四\t", birthday=dt.date(1990, D.month, D.day), phone="+8613800000001")

    run(w)
    m = Message.objects.get(rule=r)
    assert m.body == "李\\四\t\t生日快乐\n\\N 李\\四\t\\"
    assert m.params["name"] == "李\\四\t"
    assert m.to == "+8613800000001" and m.customer_id == c.pk


def test_running_twice_creates_nothing_more_and_plan_run_records_the_day(w):
    rule(w, trigger=Trigger.DELIVERED)
    rule(w, trigger=Trigger.DELIVERED, channel=Channel.SMS)
    for _ in range(3):
        OwnedProductFactory(customer=customer(w), delivered_on=D)
    first = run(w)
    assert (first.tasks_created, first.messages_queued) == (3, 3)
    before = (touches(Task), touches(Message))
    second = run(w)
    assert (second.tasks_created, second.messages_queued, second.skipped) == (0, 0, {})
    assert (touches(Task), touches(Message)) == before
    pr = PlanRun.objects.get()
    assert (pr.day, pr.status, pr.tasks_created, pr.messages_queued) == (D, "done", 3, 3)


def test_other_organisations_are_untouched(w):
    rule(w, trigger=Trigger.DELIVERED)
    OwnedProductFactory(customer=CustomerFactory(owner=w.other_owner), delivered_on=D)
    assert run(w).tasks_created == 0


def test_manual_touches_and_prospects_for_order_triggers(w):
    rule(w, trigger=Trigger.ORDER_PLACED)
    rule(w, trigger=Trigger.DELIVERED)
    p = customer(w, status=Customer.Status.PROSPECT)
    PurchaseFactory(customer=p, ordered_on=D)
    OwnedProductFactory(customer=p, delivered_on=D)
    result = run(w)
    assert result.tasks_created == 1 and result.skipped == {"inactive": 1}


# --- helpers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{name}您好,{product}将于{date}到期。",
        "{name!r} {store:>6} {unknown}",
        "{name.upper}",
        "stray { brace",
        "{0} positional",
        "{name[0]}",
        "plain",
    ],
)
def test_fast_render_is_render_template(template):
    from huitou.followups.pace import _render_formatter, render_template

    context = {"name": "王先生", "product": "雅阁", "date": "2026年3月10日", "store": "天河店"}
    assert render_template(template, context) == _render_formatter(template, context)


@settings(max_examples=30, deadline=None)
@given(
    start=st.dates(dt.date(2015, 1, 1), dt.date(2030, 12, 31)),
    delivered_back=st.integers(0, 2000),
    mileage=st.none() | st.integers(0, 300000),
    read_after=st.integers(-10, 3000),
    km=st.sampled_from([3000, 5000, 7500, 10000]),
    months=st.integers(1, 24),
)
def test_service_due_days_matches_the_scalar_rule(start, delivered_back, mileage, read_after, km, months):
    import numpy as np

    from huitou.followups.plan import _kmpd, service_due_days

    delivered = start - dt.timedelta(days=delivered_back)
    read_on = delivered + dt.timedelta(days=read_after) if mileage is not None else None
    expected = service_due(start, km=km, months=months, km_per_day=_kmpd(delivered, mileage, read_on, 40.0))

    def num(d):
        return np.array([np.nan if d is None else float(d.toordinal() - dt.date(1970, 1, 1).toordinal())])

    got = service_due_days(
        num(start),
        num(delivered),
        np.array([np.nan if mileage is None else float(mileage)]),
        num(read_on),
        km=km,
        months=months,
        default_km_per_day=40.0,
    )
    assert dt.date(1970, 1, 1) + dt.timedelta(days=int(got[0])) == expected
