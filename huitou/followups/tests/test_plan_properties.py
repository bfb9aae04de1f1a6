"""Properties of the daily plan over random customers, consents, rules, existing touches and days:
never over the cap, never marketing without consent, and the same rows whether it runs once,
twice, after a crash midway, or twice at the same time (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huitou.customers.models import Consent, Customer, OwnedProduct
from huitou.followups import plan as plan_module
from huitou.followups.models import Channel, ContactRule, Message, PlanRun, Purpose, Task, Trigger
from huitou.followups.pace import CONSENT_CHANNEL
from huitou.followups.plan import plan_run

TZ = timezone.get_default_timezone()
D = dt.date(2026, 3, 10)  # Tuesday; D + 4 is a Saturday
CONSENT_CHANNELS = ("sms", "letter", "phone")

customer_st = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["active", "active", "active", "active", "prospect", "lost"]),
        "phone": st.sampled_from([True, True, True, False]),
        "address": st.sampled_from([True, True, True, False]),
        "consents": st.fixed_dictionaries(
            {ch: st.sampled_from([True, True, True, False, None]) for ch in CONSENT_CHANNELS}
        ),
        "birthday": st.integers(-3, 7) | st.none(),
        "deliveries": st.lists(st.integers(-3, 7), min_size=1, max_size=3),
        "touches": st.lists(
            st.tuples(
                st.sampled_from(["task", "message"]),
                st.integers(-35, 12),
                st.sampled_from(["open", "done", "cancelled", "queued", "suppressed", "sent"]),
            ),
            max_size=3,
        ),
    }
)
rule_st = st.fixed_dictionaries(
    {
        "trigger": st.sampled_from([Trigger.DELIVERED, Trigger.BIRTHDAY]),
        "channel": st.sampled_from([Channel.SMS, Channel.CARD, Channel.CALL, Channel.VISIT]),
        "purpose": st.sampled_from([Purpose.MARKETING, Purpose.MARKETING, Purpose.SERVICE]),
        "priority": st.sampled_from([10, 50, 50, 90]),
        "offset": st.integers(-3, 3),
    }
)
world_st = st.fixed_dictionaries(
    {
        "customers": st.lists(customer_st, min_size=3, max_size=8),
        "rules": st.lists(rule_st, min_size=3, max_size=6),
        "cap_week": st.sampled_from([0, 1, 1, 2, 2, 3]),
        "cap_month": st.sampled_from([0, 1, 2, 3, 3, 4, 5]),
        "rest_days": st.booleans(),
        "days": st.integers(2, 5),
    }
)
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def at(day: dt.date, hour: int = 0, minute: int = 30) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ)


def build(w, world) -> list[dt.date]:
    org = w.org
    org.policy_data = {
        "contact": {
            "marketing_cap_week": world["cap_week"],
            "marketing_cap_month": world["cap_month"],
            "tasks_on_rest_days": world["rest_days"],
        }
    }
    org.save()
    for n, spec in enumerate(world["customers"], start=1):
        c = Customer.objects.create(
            organisation=org,
            owner=w.rep1 if n % 2 else w.rep3,
            store=w.s1 if n % 2 else w.s2,
            name=f"客户{n}",
            status=spec["status"],
            phone=f"+86138000{n:05d}" if spec["phone"] else "",
            address=f"路{n}号" if spec["address"] else "",
            birthday=(D + dt.timedelta(days=spec["birthday"])).replace(year=1980)
            if spec["birthday"] is not None
            else None,
        )
        for channel, granted in spec["consents"].items():
            if granted is not None:
                Consent.objects.create(
                    customer=c, channel=channel, granted=granted, source="form", recorded_at=timezone.now()
                )
        for k, offset in enumerate(spec["deliveries"]):
            OwnedProduct.objects.create(
                organisation=org,
                customer=c,
                vin=f"V{c.pk:08d}{k}",
                delivered_on=D + dt.timedelta(days=offset),
            )
        for k, (kind, offset, status) in enumerate(spec["touches"]):
            day = D + dt.timedelta(days=offset)
            if kind == "task":
                status = status if status in {"open", "done", "cancelled"} else "done"
                Task.objects.create(
                    organisation=org,
                    customer=c,
                    kind="call",
                    purpose="marketing",
                    title="x",
                    due_on=day,
                    status=status,
                )
            else:
                status = status if status in {"queued", "suppressed", "sent"} else "cancelled"
                Message.objects.create(
                    organisation=org,
                    customer=c,
                    channel="sms",
                    purpose="marketing",
                    status=status,
                    idempotency_key=f"manual-{c.pk}-{k}",
                    scheduled_for=at(day, 10),
                )
    for i, spec in enumerate(world["rules"]):
        ContactRule.objects.create(
            organisation=org,
            code=f"r{i}",
            name=f"规则{i}",
            trigger=spec["trigger"],
            channel=spec["channel"],
            purpose=spec["purpose"],
            priority=spec["priority"],
            offset_days=spec["offset"],
            template="{name} {date}",
        )
    return [D + dt.timedelta(days=k) for k in range(world["days"])]


def run_days(w, days, *, twice=False):
    """Plan the days in order; with ``twice`` each day runs again at once and must decide alike."""
    total = [0, 0]
    for day in days:
        r = plan_run(organisation=w.org, day=day, now=at(day))
        total[0] += r.tasks_created
        total[1] += r.messages_queued
        if twice:
            again = plan_run(organisation=w.org, day=day, now=at(day))
            assert (again.tasks_created, again.messages_queued) == (0, 0)
            assert again.skipped == r.skipped
    return tuple(total)


def snapshot():
    tasks = set(
        Task.objects.filter(rule__isnull=False).values_list(
            "customer_id",
            "rule_id",
            "occurrence",
            "kind",
            "purpose",
            "due_on",
            "assignee_id",
            "title",
            "status",
        )
    )
    messages = set(
        Message.objects.filter(rule__isnull=False).values_list(
            "customer_id",
            "rule_id",
            "occurrence",
            "channel",
            "to",
            "body",
            "scheduled_for",
            "idempotency_key",
            "status",
        )
    )
    return tasks, messages


def forget_plan():
    Task.objects.filter(rule__isnull=False).delete()
    Message.objects.filter(rule__isnull=False).delete()
    PlanRun.objects.all().delete()


def marketing_dates() -> dict[int, list[dt.date]]:
    out: dict[int, list[dt.date]] = {}
    for cid, due in (
        Task.objects.filter(purpose="marketing")
        .exclude(status="cancelled")
        .values_list("customer_id", "due_on")
    ):
        out.setdefault(cid, []).append(due)
    for cid, when in (
        Message.objects.filter(purpose="marketing")
        .exclude(status__in=["cancelled", "suppressed"])
        .values_list("customer_id", "scheduled_for")
    ):
        out.setdefault(cid, []).append(when.astimezone(TZ).date())
    return out


def check_invariants(w, world):
    dates = marketing_dates()
    policy = w.org.policy.contact
    planned = [
        (cid, due, "task", ch)
        for cid, due, ch in Task.objects.filter(rule__isnull=False, purpose="marketing").values_list(
            "customer_id", "due_on", "kind"
        )
    ] + [
        (cid, when.astimezone(TZ).date(), "message", ch)
        for cid, when, ch in Message.objects.filter(rule__isnull=False, purpose="marketing").values_list(
            "customer_id", "scheduled_for", "channel"
        )
    ]
    consents = {(c, ch): g for c, ch, g in Consent.objects.values_list("customer_id", "channel", "granted")}
    for cid, t, _kind, channel in planned:
        # Never over the cap: every window holding a planned touch stays within it.
        for width, cap in ((7, policy.marketing_cap_week), (30, policy.marketing_cap_month)):
            for k in range(width):
                start = t - dt.timedelta(days=k)
                end = start + dt.timedelta(days=width - 1)
                inside = sum(1 for d in dates[cid] if start <= d <= end)
                assert inside <= cap, (cid, t, width, cap, sorted(dates[cid]))
        # Never marketing without a granted consent for the channel.
        needed = CONSENT_CHANNEL[channel]
        if needed is not None:
            assert consents.get((cid, needed)) is True, (cid, channel)
    statuses = dict(Customer.objects.values_list("id", "status"))
    for cid in Task.objects.filter(rule__isnull=False).values_list("customer_id", flat=True):
        assert statuses[cid] == "active"
    for cid in Message.objects.filter(rule__isnull=False).values_list("customer_id", flat=True):
        assert statuses[cid] == "active"


class Crash(Exception):
    pass


@pytest.mark.django_db
@SETTINGS
@given(world=world_st)
def test_cap_consent_once_twice_and_after_a_crash(org_world, world):
    w = org_world
    with transaction.atomic():
        days = build(w, world)
        counts = run_days(w, days, twice=True)
        clean = snapshot()
        assert counts == (len(clean[0]), len(clean[1]))  # counted = really inserted
        check_invariants(w, world)

        # Twice: nothing new, the same rows.
        assert run_days(w, days) == (0, 0)
        assert snapshot() == clean

        # After a crash midway (right after the first rule's rows are in), then a rerun.
        forget_plan()
        calls = {"n": 0}

        def crash_once(rule):
            calls["n"] += 1
            if calls["n"] == 1:
                raise Crash

        with mock.patch.object(plan_module, "_after_rule_inserted", crash_once):
            for day in days:
                try:
                    plan_run(organisation=w.org, day=day, now=at(day))
                except Crash:
                    assert PlanRun.objects.get(day=day).status == "running"
                    plan_run(organisation=w.org, day=day, now=at(day))
        assert snapshot() == clean
        transaction.set_rollback(True)


def _cleanup(w):
    Task.objects.all().delete()
    Message.objects.all().delete()
    PlanRun.objects.all().delete()
    ContactRule.objects.filter(organisation=w.org).delete()
    OwnedProduct.objects.all().delete()
    Consent.objects.all().delete()
    Customer.objects.all().delete()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serialises writers: concurrency needs PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=world_st)
def test_two_concurrent_runs_give_the_rows_of_one(org_world, world):
    w = org_world
    try:
        days = build(w, world)
        day = days[-1]
        barrier = threading.Barrier(2)
        results: list[tuple[int, int]] = []
        errors: list[BaseException] = []

        def worker():
            from django.db import connection as conn

            try:
                barrier.wait(timeout=10)
                r = plan_run(organisation=w.org, day=day, now=at(day))
                results.append((r.tasks_created, r.messages_queued))
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                conn.close()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        together = snapshot()
        # Between them the two runs counted each row once.
        assert tuple(map(sum, zip(*results, strict=True))) == (len(together[0]), len(together[1]))
        forget_plan()
        plan_run(organisation=w.org, day=day, now=at(day))
        assert snapshot() == together
        check_invariants(w, world)
    finally:
        _cleanup(w)
