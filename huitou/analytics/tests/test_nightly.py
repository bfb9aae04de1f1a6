"""The nightly analytics run (segments → value → risk): resuming after a crash, the Huey wiring, and
the equivalence of the vectorised readers and writers with the straightforward code they replaced."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest
from django.db.models import Count, F, Max, Min, Q, Sum

from huitou.analytics import nightly, risk, tasks
from huitou.analytics.models import CustomerRisk, CustomerSegment, RiskFill, SegmentFill
from huitou.analytics.risk_services import _opt, decimal_texts, reason_masks, reasons_json
from huitou.analytics.services import SALES_KINDS, purchase_arrays, shared_purchases
from huitou.customers.models import Customer, Purchase
from tests.factories import CustomerFactory

AS_OF = dt.date(2026, 6, 30)
KINDS = [k for k, _label in Purchase.Kind.choices]


class Boom(RuntimeError):
    pass


@pytest.fixture
def big_world(org_world):
    """80 customers of the organisation with pseudo-random purchase histories over three years
    (some after the as-of day, some unpaid and overdue), plus 5 of the other organisation: enough
    buyers and repeat buyers for the BG/NBD fit of the risk and value phases."""
    w = org_world
    rng = np.random.default_rng(7)
    reps = [w.rep1, w.rep2, w.rep3]
    made = [CustomerFactory(owner=reps[i % 3], name=f"客户{i}") for i in range(80)]
    made += [CustomerFactory(owner=w.other_owner, name=f"别家{i}") for i in range(5)]
    rows = []
    for i, c in enumerate(made):
        if i % 10 == 9:
            continue  # a few customers never bought
        # BG/NBD-like histories (Poisson buying, a chance to leave after each purchase), so the
        # models fitted by the value and risk phases are sensible ones.
        day = AS_OF - dt.timedelta(days=int(rng.integers(0, 1100)))
        rate = rng.gamma(2.0, 1 / 200)
        while day <= AS_OF + dt.timedelta(days=20):
            amount = Decimal(int(rng.integers(100, 5_000_000))) / 100
            unpaid = rng.random() < 0.1
            rows.append(
                Purchase(
                    organisation_id=c.organisation_id,
                    customer=c,
                    ordered_on=day,
                    kind=KINDS[int(rng.integers(0, len(KINDS)))],
                    amount=amount,
                    margin=(amount * Decimal("0.13")).quantize(Decimal("0.01")) - Decimal("5.00"),
                    paid_amount=Decimal("0") if unpaid else amount,
                    payment_due_on=day + dt.timedelta(days=30) if unpaid else None,
                )
            )
            if rng.random() < 0.25:
                break
            day += dt.timedelta(days=1 + int(rng.exponential(1 / rate)))
    Purchase.objects.bulk_create(rows)
    return SimpleNamespace(w=w, customers=made)


def _segments(org):
    return sorted(
        CustomerSegment.objects.filter(organisation=org, as_of=AS_OF).values_list(
            "customer_id",
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
    )


def _risks(org):
    return sorted(
        CustomerRisk.objects.filter(organisation=org, as_of=AS_OF).values_list(
            "customer_id",
            "owner_id",
            "store_id",
            "score",
            "p_alive",
            "days_since_last",
            "gap_ratio",
            "spend_trend",
            "open_complaints",
            "low_satisfaction",
            "late_payment_days",
            "competitor_contact",
            "reasons",
        )
    )


# ---------------------------------------------------------------------------------------------
# The run and its resumption


def test_run_fills_every_phase(big_world):
    org = big_world.w.org
    result = nightly.nightly_run(organisation=org, as_of=AS_OF)
    names = [p.name for p in nightly.phases()]
    expected = (
        ["segments", "value", "risk", "costs"] if nightly.value_installed() else ["segments", "risk", "costs"]
    )
    assert names == expected
    assert list(result["phases"]) == names
    assert all(p["status"] == "done" for p in result["phases"].values())
    buyers = (
        Purchase.objects.filter(organisation=org, ordered_on__lte=AS_OF).values("customer").distinct().count()
    )
    assert result["phases"]["segments"]["customers"] == buyers
    assert set(result["phases"]["risk"]["parts"]) == {"read", "fit", "compute", "write", "other"}
    assert nightly.nightly_status(organisation=org, as_of=AS_OF) == dict.fromkeys(names, "done")
    counts = nightly.snapshot_counts(organisation_id=org.pk, as_of=AS_OF)
    assert (counts["segments"], counts["risk"]) == (buyers, buyers)
    assert counts["costs"] == 1  # the organisation's kept cost-to-serve table
    assert RiskFill.objects.get(organisation=org, as_of=AS_OF).summary["model"]  # the fit ran


def test_second_run_skips_what_is_done(big_world):
    org = big_world.w.org
    nightly.nightly_run(organisation=org, as_of=AS_OF)
    finished = SegmentFill.objects.get(organisation=org, as_of=AS_OF).finished_at
    again = nightly.nightly_run(organisation=org, as_of=AS_OF)
    assert {p["status"] for p in again["phases"].values()} == {"skipped"}
    assert SegmentFill.objects.get(organisation=org, as_of=AS_OF).finished_at == finished


def test_crash_in_the_last_phase_then_resume_gives_the_same_snapshot(big_world):
    org = big_world.w.org
    nightly.nightly_run(organisation=org, as_of=AS_OF)
    clean_segments, clean_risks = _segments(org), _risks(org)
    nightly.snapshots_clear(organisation=org, as_of=AS_OF)

    with nightly.crash_after_write("risk", Boom), pytest.raises(nightly.NightlyIncomplete) as info:
        nightly.nightly_run(organisation=org, as_of=AS_OF)
    assert info.value.report["phases"]["risk"]["status"] == "failed"
    assert "simulated crash" in info.value.report["phases"]["risk"]["error"]
    status = nightly.nightly_status(organisation=org, as_of=AS_OF)
    assert status["segments"] == "done" and status["risk"] == "failed"
    # The crash came after the risk rows were written: the phase's transaction took them back.
    assert not CustomerRisk.objects.filter(organisation=org, as_of=AS_OF).exists()
    segments_finished = SegmentFill.objects.get(organisation=org, as_of=AS_OF).finished_at

    resumed = nightly.nightly_run(organisation=org, as_of=AS_OF)
    assert resumed["phases"]["segments"] == {"status": "skipped"}
    assert resumed["phases"]["risk"]["status"] == "done"
    assert SegmentFill.objects.get(organisation=org, as_of=AS_OF).finished_at == segments_finished
    assert (_segments(org), _risks(org)) == (clean_segments, clean_risks)


def test_crash_in_the_first_phase_blocks_only_what_reads_it(big_world):
    org = big_world.w.org
    with nightly.crash_after_write("segments", Boom), pytest.raises(nightly.NightlyIncomplete) as info:
        nightly.nightly_run(organisation=org, as_of=AS_OF)
    phases = info.value.report["phases"]
    assert SegmentFill.objects.get(organisation=org, as_of=AS_OF).status == "failed"
    assert not CustomerSegment.objects.filter(organisation=org).exists()
    if nightly.value_installed():  # the value snapshot copies the day's tiers: not run
        assert phases["value"] == {"status": "blocked"}
        assert nightly.nightly_status(organisation=org, as_of=AS_OF)["value"] == "missing"
    assert phases["risk"]["status"] == "done"  # reads no other snapshot: done all the same
    resumed = nightly.nightly_run(organisation=org, as_of=AS_OF)
    assert resumed["phases"]["segments"]["status"] == "done"
    assert resumed["phases"]["risk"] == {"status": "skipped"}


def test_a_recomputed_phase_recomputes_the_later_ones(big_world):
    org = big_world.w.org
    nightly.nightly_run(organisation=org, as_of=AS_OF)
    SegmentFill.objects.filter(organisation=org, as_of=AS_OF).update(status="running")  # killed worker
    again = nightly.nightly_run(organisation=org, as_of=AS_OF)
    assert again["phases"]["segments"]["status"] == "done"
    if nightly.value_installed():
        assert again["phases"]["value"]["status"] == "done"  # it reads the recomputed tiers
    assert again["phases"]["risk"] == {"status": "skipped"}
    forced = nightly.nightly_run(organisation=org, as_of=AS_OF, force=True)
    assert {p["status"] for p in forced["phases"].values()} == {"done"}
    assert (
        CustomerSegment.objects.filter(organisation=org, as_of=AS_OF).count()
        == again["phases"]["segments"]["customers"]
    )


def test_purchases_are_read_once_per_run(big_world, monkeypatch):
    from huitou.analytics import services

    reads = []
    original = services._read_sqlite if services.connection.vendor == "sqlite" else services._read_pg
    name = "_read_sqlite" if services.connection.vendor == "sqlite" else "_read_pg"

    def counting(*args):
        reads.append(args[:2])
        return original(*args)

    monkeypatch.setattr(services, name, counting)
    report = nightly.nightly_run(organisation=big_world.w.org, as_of=AS_OF)
    ran = [name for name, p in report["phases"].items() if p["status"] == "done"]
    assert ran == [p.name for p in nightly.phases()]
    assert reads == [(big_world.w.org.pk, AS_OF)]  # segments, value and risk share one read
    purchase_arrays(big_world.w.org.pk, AS_OF)  # outside a run nothing is kept
    assert len(reads) == 2


def test_value_phase_in_the_run_equals_value_refresh_on_its_own(big_world):
    """The value snapshot written from the run's shared arrays is the one value_refresh writes when
    it reads the purchases itself, and the run reports its parts."""
    value_services = pytest.importorskip("huitou.analytics.value_services")
    from huitou.analytics.models_value import CustomerValue, ValueFill

    org = big_world.w.org

    def snapshot():
        rows = CustomerValue.objects.filter(organisation=org, as_of=AS_OF).order_by("customer_id")
        fields = [f.attname for f in CustomerValue._meta.concrete_fields if f.attname != "id"]
        fill = ValueFill.objects.get(organisation=org, as_of=AS_OF)
        return list(rows.values_list(*fields)), (fill.customers, fill.params, fill.summary)

    report = nightly.nightly_run(organisation=org, as_of=AS_OF)
    assert set(report["phases"]["value"]["parts"]) == {"read", "fit", "compute", "write", "other"}
    in_run = snapshot()
    assert in_run[0] and in_run[1][2]["fitted"]
    value_services.value_refresh(organisation=org, as_of=AS_OF)
    assert snapshot() == in_run


# ---------------------------------------------------------------------------------------------
# Huey wiring


def test_nightly_task_is_a_periodic_huey_task():
    from huey.api import PeriodicTask

    task = tasks.analytics_nightly_task.task_class()
    assert isinstance(task, PeriodicTask)
    # 02:15 in Asia/Shanghai is 18:15 UTC, the clock Huey's schedule runs on.
    assert task.validate_datetime(dt.datetime(2026, 3, 10, 18, 15)) is True
    assert task.validate_datetime(dt.datetime(2026, 3, 10, 2, 15)) is False
    per_org = tasks.nightly_organisation_task.task_class()
    assert (per_org.retries, per_org.retry_delay) == (tasks.NIGHTLY_RETRIES, tasks.NIGHTLY_RETRY_DELAY_S)


def test_nightly_job_runs_every_organisation(big_world, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: AS_OF)
    assert tasks.analytics_nightly() == {"organisations": 2}  # Huey runs tasks at once in tests
    for org in (big_world.w.org, big_world.w.other_org):
        assert set(nightly.nightly_status(organisation=org, as_of=AS_OF).values()) == {"done"}
    other = big_world.customers[-1]
    assert CustomerSegment.objects.filter(customer__organisation=big_world.w.other_org, as_of=AS_OF).exists()
    assert not CustomerSegment.objects.filter(organisation=big_world.w.org, customer=other).exists()


def test_task_resumes_a_crashed_run(big_world):
    org = big_world.w.org
    with nightly.crash_after_write("risk", Boom), pytest.raises(nightly.NightlyIncomplete):
        tasks.nightly_organisation(org.pk, AS_OF)
    result = tasks.nightly_organisation(org.pk, AS_OF)
    assert result["phases"]["segments"] == {"status": "skipped"}
    assert result["phases"]["risk"]["status"] == "done"


# ---------------------------------------------------------------------------------------------
# Equivalence of the vectorised code with the plain code it replaced


def test_purchase_arrays_match_grouped_queries(big_world):
    """The numpy figures against the ORM's GROUP BY (what the services ran before)."""
    from huitou.analytics.risk_services import _purchase_figures
    from huitou.analytics.services import _segment_figures

    org = big_world.w.org
    start = AS_OF - dt.timedelta(days=729)
    with shared_purchases():
        arrays = purchase_arrays(org.pk, AS_OF)
        seg = _segment_figures(arrays, start)
        fig = _purchase_figures(arrays)
    window = Q(ordered_on__gte=start)
    sales = window & Q(kind__in=SALES_KINDS)
    year_ago, two_years_ago = AS_OF - dt.timedelta(days=365), AS_OF - dt.timedelta(days=730)
    rows = list(
        Purchase.objects.filter(organisation=org, ordered_on__lte=AS_OF)
        .values("customer_id")
        .annotate(
            first=Min("ordered_on"),
            last=Max("ordered_on"),
            all_days=Count("ordered_on", distinct=True),
            days=Count("ordered_on", filter=window, distinct=True),
            revenue=Sum("amount", filter=sales),
            margin_sum=Sum("margin", filter=sales),
            last12=Sum("amount", filter=Q(ordered_on__gt=year_ago)),
            prev12=Sum("amount", filter=Q(ordered_on__gt=two_years_ago, ordered_on__lte=year_ago)),
            due=Min("payment_due_on", filter=Q(payment_due_on__lt=AS_OF, paid_amount__lt=F("amount"))),
        )
        .order_by("customer_id")
    )
    assert len(rows) > 60

    def cents(v):
        return int((v or Decimal(0)) * 100)

    assert seg[0].tolist() == [r["customer_id"] for r in rows]
    assert seg[1].tolist() == [r["last"].toordinal() for r in rows]
    assert seg[2].tolist() == [r["days"] for r in rows]
    assert seg[3].tolist() == [cents(r["revenue"]) for r in rows]
    assert seg[4].tolist() == [cents(r["margin_sum"]) for r in rows]
    assert fig["first"].tolist() == [r["first"].toordinal() for r in rows]
    assert fig["days"].tolist() == [r["all_days"] for r in rows]
    assert fig["last12"].tolist() == [cents(r["last12"]) for r in rows]
    assert fig["prev12"].tolist() == [cents(r["prev12"]) for r in rows]
    assert fig["due"].tolist() == [r["due"].toordinal() if r["due"] else 0 for r in rows]
    assert any(r["due"] for r in rows)  # the fixture has overdue unpaid purchases


def test_reasons_json_matches_customer_reasons():
    rng = np.random.default_rng(3)
    n = 4000
    p_alive = np.where(rng.random(n) < 0.1, np.nan, rng.random(n))
    since = rng.integers(0, 900, n)
    gap = np.where(rng.random(n) < 0.05, np.nan, rng.random(n) * 4)
    own = rng.random(n) < 0.5
    trend = np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n))
    n_tickets = np.where(rng.random(n) < 0.1, rng.integers(1, 5, n), 0)
    tickets = np.zeros((n, 3), dtype=np.int64)
    lists = []
    for i in range(n):
        ids = [1000 + 10 * i + j for j in range(int(n_tickets[i]))]
        lists.append(ids)
        tickets[i, : min(3, len(ids))] = ids[:3]
    low = np.where(rng.random(n) < 0.05, rng.integers(1, 3, n), 0)
    late = np.where(rng.random(n) < 0.05, rng.integers(1, 200, n), 0)
    competitor = rng.random(n) < 0.05
    # Equal weights make ties between signals, which keep their order of addition.
    masks = reason_masks(
        p_alive=p_alive,
        gap_ratio=gap,
        spend_trend=trend,
        tickets=tickets,
        low_satisfaction=low,
        late_days=late,
        competitor=competitor,
    )
    for weights in (risk.DEFAULT_WEIGHTS, dict.fromkeys(risk.SIGNALS, 10.0)):
        got = reasons_json(
            masks=masks,
            weights=weights,
            p_alive=p_alive,
            days_since_last=since,
            gap_ratio=gap,
            own_gap=own,
            spend_trend=trend,
            tickets=tickets,
            low_satisfaction=low,
            late_days=late,
            competitor=competitor,
        )
        want = [
            json.dumps(
                risk.customer_reasons(
                    p_alive=float(p_alive[i]),
                    days_since_last=int(since[i]),
                    gap_ratio=float(gap[i]),
                    own_gap=bool(own[i]),
                    spend_trend=float(trend[i]),
                    complaint_tickets=lists[i],
                    low_satisfaction=int(low[i]),
                    late_days=int(late[i]),
                    competitor=bool(competitor[i]),
                    weights=weights,
                )
            )
            for i in range(n)
        ]
        assert got == want


def test_decimal_texts_match_decimal_rounding():
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            rng.random(3000),
            rng.normal(scale=50, size=3000),
            np.array([0.12345, 0.00005, -0.00005, 2.675, 1.005, 0.0, -0.0, 1e-9, np.nan, 123456.78915, 3e10]),
        ]
    )
    for digits in (2, 4):
        want = [None if math.isnan(v) else str(_opt(v, digits)) for v in values.tolist()]
        assert decimal_texts(values, digits) == want


def test_cents_texts_are_exact():
    from huitou.analytics.services import cents_texts

    cents = np.array([0, 5, -5, 100, -105, 123456789012, -99], dtype=np.int64)
    assert cents_texts(cents) == ["0.00", "0.05", "-0.05", "1.00", "-1.05", "1234567890.12", "-0.99"]
    assert [Decimal(t) * 100 for t in cents_texts(cents)] == [Decimal(int(c)) for c in cents]


def test_customers_without_purchases_are_not_in_the_snapshots(big_world):
    org = big_world.w.org
    nightly.nightly_run(organisation=org, as_of=AS_OF)
    lonely = Customer.objects.filter(organisation=org).exclude(purchases__ordered_on__lte=AS_OF)
    assert lonely.exists()
    assert not CustomerSegment.objects.filter(customer__in=lonely, as_of=AS_OF).exists()
    assert not CustomerRisk.objects.filter(customer__in=lonely, as_of=AS_OF).exists()


@pytest.mark.parametrize("include_service", [True, False])
def test_value_purchase_columns_match_the_value_query(big_world, include_service):
    """The lifetime-value phase's per-customer purchase figures from the shared arrays equal its own
    grouped query (value_services._purchase_rows), so it can read the purchases once with the rest."""
    value_services = pytest.importorskip("huitou.analytics.value_services")
    if not hasattr(value_services, "_purchase_rows"):
        pytest.skip("the value phase reads the shared arrays already")
    from huitou.analytics.services import value_purchase_columns

    org = big_world.w.org
    rows = value_services._purchase_rows(org, AS_OF, include_service)
    got = value_purchase_columns(purchase_arrays(org.pk, AS_OF), include_service=include_service)

    def day(v):
        return (v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))).toordinal()

    def cents(v):
        return round(Decimal(str(v)) * 100)

    assert got["ids"].tolist() == [r[0] for r in rows]
    assert got["first"].tolist() == [day(r[1]) for r in rows]
    assert got["last"].tolist() == [day(r[2]) for r in rows]
    assert got["days"].tolist() == [r[3] for r in rows]
    for k, name in enumerate(("revenue", "margin", "unmargined", "first_day"), start=4):
        assert got[name].tolist() == [cents(r[k]) for r in rows], name


def test_snapshot_rows_go_with_their_customer_though_the_database_keeps_no_key_constraint(big_world):
    """The snapshot tables have no foreign-key constraints (the nightly write would check 4M keys),
    so deleting a customer relies on Django's collector to remove their rows from every snapshot."""
    from django.db import connection

    from huitou.analytics.models_value import CustomerValue

    w = big_world.w
    nightly.nightly_run(organisation=w.org, as_of=AS_OF)
    snapshots = (CustomerSegment, CustomerValue, CustomerRisk)
    with connection.cursor() as cur:
        for model in snapshots:
            constraints = connection.introspection.get_constraints(cur, model._meta.db_table)
            assert not [name for name, c in constraints.items() if c["foreign_key"]], model
    gone = big_world.customers[0]
    kept = big_world.customers[1]
    for model in snapshots:
        assert model.objects.filter(customer_id=gone.pk).exists(), model
    Purchase.objects.filter(customer=gone).delete()  # sales protect their customer
    gone.delete()
    for model in snapshots:
        assert not model.objects.filter(customer_id=gone.pk).exists(), model
        assert model.objects.filter(customer_id=kept.pk).exists(), model


def test_lanes_keep_a_phase_with_the_phases_it_reads(monkeypatch):
    by_name = {p.name: p for p in nightly.phases()}
    lanes = [[p.name for p in lane] for lane in nightly._lanes(list(by_name.values()))]
    if nightly.value_installed():
        assert lanes == [["segments", "value"], ["risk"], ["costs"]]
    else:
        assert lanes == [["segments"], ["risk"], ["costs"]]
    # A phase that reads two lanes joins them into one, in the order of PHASES.
    monkeypatch.setattr(nightly, "PHASES", (*nightly.PHASES, "joined"))
    monkeypatch.setattr(nightly, "DEPENDS", {**nightly.DEPENDS, "joined": ("risk", "segments")})
    joined = nightly._Phase("joined", SegmentFill, lambda **kw: {}, CustomerSegment)
    lanes = [[p.name for p in lane] for lane in nightly._lanes([*by_name.values(), joined])]
    assert lanes == [[*(n for n in by_name if n != "costs"), "joined"], ["costs"]]


@pytest.mark.django_db(transaction=True)
def test_phases_that_do_not_read_each_other_run_at_once_with_the_same_snapshots(big_world, monkeypatch):
    """On PostgreSQL outside a transaction the risk lane runs in a thread with its own connection
    while segments and value run in this one; the snapshots equal those of a run one phase after
    the other. SQLite (one writer) always runs them in order."""
    from django.db import connection

    from huitou.analytics.models_value import CustomerValue

    org = big_world.w.org
    result = nightly.nightly_run(organisation=org, as_of=AS_OF)
    assert result["parallel"] is (connection.vendor == "postgresql")
    assert all(p["status"] == "done" for p in result["phases"].values())
    at_once = (_segments(org), _risks(org), sorted(CustomerValue.objects.filter(as_of=AS_OF).values_list()))
    monkeypatch.setattr(nightly, "_parallel_allowed", lambda: False)
    again = nightly.nightly_run(organisation=org, as_of=AS_OF, force=True)
    assert again["parallel"] is False
    in_order = (_segments(org), _risks(org), sorted(CustomerValue.objects.filter(as_of=AS_OF).values_list()))
    assert in_order[0] == at_once[0]
    assert in_order[1] == at_once[1]
    strip = [tuple(v for i, v in enumerate(row) if i != 0) for row in at_once[2]]  # ids differ
    assert [tuple(v for i, v in enumerate(row) if i != 0) for row in in_order[2]] == strip
    assert len(at_once[0]) > 50 and len(at_once[1]) > 50


@pytest.mark.django_db(transaction=True)
def test_a_crash_in_the_risk_lane_leaves_the_other_lane_done(big_world):
    from django.db import connection

    org = big_world.w.org
    with nightly.crash_after_write("risk", Boom), pytest.raises(nightly.NightlyIncomplete) as info:
        nightly.nightly_run(organisation=org, as_of=AS_OF)
    report = info.value.report
    assert report["parallel"] is (connection.vendor == "postgresql")
    assert report["phases"]["risk"]["status"] == "failed"
    assert report["phases"]["segments"]["status"] == "done"
    assert not CustomerRisk.objects.filter(organisation=org, as_of=AS_OF).exists()
    resumed = nightly.nightly_run(organisation=org, as_of=AS_OF)
    assert resumed["phases"]["risk"]["status"] == "done"
    assert resumed["phases"]["segments"]["status"] == "skipped"
