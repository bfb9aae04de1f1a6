"""Demo data for the contact plan: the default rules, a gift catalogue, three weeks of planned work
of which most was done (some late, some missed), sent messages, request clocks and an absence, so
every page of the plan has content on a fresh demo. Called by ``huitou.demo.demo_load``."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.db import transaction
from django.db.models import DateField, F
from django.db.models.functions import Coalesce
from django.utils import timezone

from huitou.accounts.models import Organisation, User
from huitou.customers.models import Activity, Customer, Product, Purchase

from .models import Absence, CustomerRequest, Gift, Message, ProductNotice, Task
from .plan import plan_run
from .requests import reply_due_at
from .routing import tasks_escalate, tasks_mark_missed
from .rules import rules_seed

GIFTS = [
    ("车载香薰", "68.00"),
    ("定制钥匙扣", "35.00"),
    ("精洗车券", "88.00"),
    ("保养代金券 ¥200", "200.00"),
    ("车载吸尘器", "199.00"),
    ("茶叶礼盒", "158.00"),
]

REQUESTS = [
    "询问首保预约时间",
    "空调制冷效果不好",
    "要求开具购车发票复印件",
    "咨询续保优惠",
    "车机无法连接手机蓝牙",
    "询问置换旧车评估",
    "预约周末试驾新款",
    "轮胎异响,想来店检查",
]

_OUTCOME_KIND = {"call": Activity.Kind.CALL, "visit": Activity.Kind.VISIT, "wechat": Activity.Kind.WECHAT}


def _at(day: dt.date, hour: int, minute: int, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)


@transaction.atomic
def contact_plan_demo(*, organisation: Organisation, today: dt.date, seed: int = 42, days: int = 21) -> None:
    rng = random.Random(seed)
    tz = timezone.get_current_timezone()
    org = organisation
    rules_seed(organisation=org)
    for name, value in GIFTS:
        Gift.objects.get_or_create(organisation=org, name=name, defaults={"value": Decimal(value)})

    # Recent sales get promised / ship / arrival dates, so those cadences show up.
    recent = Purchase.objects.filter(
        organisation=org,
        ordered_on__gte=today - dt.timedelta(days=days + 10),
        kind__in=["first", "replacement"],
    )
    recent.update(
        # A delivery day already known (the referral demo reads it) stays as it is.
        promised_on=Coalesce(
            F("promised_on"), F("ordered_on") + dt.timedelta(days=14), output_field=DateField()
        ),
        shipped_on=F("ordered_on") + dt.timedelta(days=6),
        arrives_on=F("ordered_on") + dt.timedelta(days=9),
    )
    product = Product.objects.filter(organisation=org, kind=Product.Kind.VEHICLE).order_by("id").first()
    if product is not None:
        ProductNotice.objects.get_or_create(
            organisation=org,
            product=product,
            title=f"{product.name} 保养周期调整为 7,500 公里",
            defaults={
                "kind": ProductNotice.Kind.USAGE,
                "body": f"厂家通知:{product.name} 的常规保养周期由 5,000 公里调整为 7,500 公里或 6 个月。",
                "effective_on": today - dt.timedelta(days=2),
            },
        )
    reps = list(User.objects.filter(organisation=org, role="rep", is_active=True).order_by("id"))
    if len(reps) >= 2:
        Absence.objects.get_or_create(
            organisation=org,
            user=reps[1],
            starts_on=today + dt.timedelta(days=1),
            defaults={"ends_on": today + dt.timedelta(days=3), "delegate": reps[0], "reason": "年假"},
        )

    for back in range(days, -1, -1):
        day = today - dt.timedelta(days=back)
        plan_run(organisation=org, day=day, now=_at(day, 6, 0, tz))  # as if run each morning

    # Work done in the past: most on time, some late, the rest left open (escalated, then missed).
    done_rows, activities = [], []
    past = Task.objects.filter(organisation=org, due_on__lt=today, status=Task.Status.OPEN).order_by("id")
    for task in past.only("id", "customer_id", "kind", "due_on", "assignee_id", "title", "organisation_id"):
        roll = rng.random()
        if roll < 0.72:
            when = _at(task.due_on, rng.randint(9, 17), rng.randint(0, 59), tz)
        elif roll < 0.86:
            when = _at(task.due_on + dt.timedelta(days=rng.randint(1, 4)), rng.randint(9, 17), 0, tz)
            if when.date() >= today:
                continue
        else:
            continue
        outcome = (
            Task.Outcome.VISIT_DONE
            if task.kind == "visit"
            else rng.choice(
                [Task.Outcome.REACHED, Task.Outcome.REACHED, Task.Outcome.REACHED, Task.Outcome.NO_ANSWER]
            )
        )
        task.status, task.outcome, task.completed_at = Task.Status.DONE, outcome, when
        task.completed_by_id = task.assignee_id
        done_rows.append(task)
        activities.append(
            Activity(
                organisation_id=org.pk,
                customer_id=task.customer_id,
                kind=_OUTCOME_KIND.get(task.kind, Activity.Kind.NOTE),
                occurred_at=when,
                user_id=task.assignee_id,
                subject=f"{task.title} · {outcome.label}",
            )
        )
    Task.objects.bulk_update(
        done_rows, ["status", "outcome", "completed_at", "completed_by_id"], batch_size=1000
    )
    Activity.objects.bulk_create(activities, batch_size=1000)
    # Each rep has a few visits planned for today, so the route page has a trip to order.
    for rep in reps:
        visit_ids = list(
            Task.objects.filter(organisation=org, assignee=rep, kind="visit", status=Task.Status.OPEN)
            .order_by("due_on", "id")
            .values_list("id", flat=True)[:5]
        )
        Task.objects.filter(pk__in=visit_ids).update(due_on=today)
    tasks_escalate(organisation=org, today=today)
    tasks_mark_missed(organisation=org, today=today)

    # Messages of past days went out and most were delivered.
    now = timezone.now()
    sent = Message.objects.filter(
        organisation=org, status=Message.Status.QUEUED, scheduled_for__lt=now, channel__in=["sms", "email"]
    )
    sent.update(
        status=Message.Status.DELIVERED,
        sent_at=F("scheduled_for"),
        delivered_at=F("scheduled_for"),
        provider="console",
    )

    # Requests with their same-day clocks: answered in time, answered late, still open.
    customers = list(
        Customer.objects.filter(organisation=org, status="active", owner__isnull=False)
        .order_by("id")
        .values_list("id", "owner_id")[:400]
    )
    staff = {u.pk: u for u in reps}
    for i in range(min(24, len(customers))):
        cid, owner_id = customers[rng.randrange(len(customers))]
        day = today - dt.timedelta(days=rng.randint(0, 12))
        received = _at(day, rng.randint(9, 19), rng.randint(0, 59), tz)
        if received > now:
            received = now - dt.timedelta(hours=1)
        due = reply_due_at(received, org.policy.contact, tz)
        req = CustomerRequest(
            organisation_id=org.pk,
            customer_id=cid,
            channel=rng.choice(["call", "wechat", "sms"]),
            summary=REQUESTS[i % len(REQUESTS)],
            received_at=received,
            reply_due_at=due,
            owner_id=owner_id,
            logged_by_id=owner_id if owner_id in staff else None,
        )
        roll = rng.random()
        if roll < 0.65 and received + dt.timedelta(hours=2) < now:
            req.first_reply_at = received + dt.timedelta(minutes=rng.randint(10, 180))
            req.answered_at = req.first_reply_at
            req.status = CustomerRequest.Status.ANSWERED
            req.reply_note = "已电话答复客户"
        elif roll < 0.8 and due < now:
            req.first_reply_at = due + dt.timedelta(hours=rng.randint(2, 30))
            req.status = CustomerRequest.Status.ACKNOWLEDGED
        req.save()
