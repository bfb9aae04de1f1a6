"""The measures with exact figures: CVP per rep and store, the CVP 100% award, quadrant placement,
perceived ÷ expected by month, and the gaming flag."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from huitou.core.errors import PermissionDenied
from huitou.customers.models import Customer
from huitou.feedback import measures, services
from huitou.feedback.models import SurveyKind

from .helpers import answers, at, customer_of, invitation_for, sale, template

pytestmark = pytest.mark.django_db
MARCH = dt.date(2026, 3, 1)
APRIL = dt.date(2026, 4, 1)


def respond(world, rep, *, overall=5, day=dt.date(2026, 3, 10), customer=None, kind=SurveyKind.SALES, **by):
    customer = customer or customer_of(rep)
    purchase = sale(customer, rep=rep, day=day, kind="service" if kind == SurveyKind.SERVICE else "first")
    inv = invitation_for(purchase, kind=kind)
    why = {"overall": "不满意"} if overall <= 2 else {}
    return services.response_submit(
        token=services.survey_token(inv.pk),
        answers=answers(template(world.org, kind), overall=overall, why=why, **by),
        now=at(2026, 4, 20),
    )


def audit(world, response, overall):
    return services.response_record_phone(
        actor=world.dcrc,
        invitation_id=response.invitation_id,
        answers=answers(template(world.org), overall=overall),
        now=at(2026, 4, 21),
    )


@pytest.fixture
def march(world):
    for score in (5, 5, 5, 4):
        respond(world, world.rep1, overall=score)
    for _ in range(2):
        respond(world, world.rep2)
    respond(world, world.rep3, overall=3)
    respond(world, world.rep1, overall=5, day=dt.date(2026, 4, 2))  # April
    return world


# --- CVP -------------------------------------------------------------------------------------------


def test_cvp_per_rep_and_month(march):
    rows = measures.cvp_by_rep(march.owner, start=MARCH, end=APRIL)
    got = [(r.name, r.period, r.answers, r.top, r.cvp) for r in rows]
    assert got == [
        ("rep1", MARCH, 4, 3, 0.75),
        ("rep1", APRIL, 1, 1, 1.0),
        ("rep2", MARCH, 2, 2, 1.0),
        ("rep3", MARCH, 1, 0, 0.0),
    ]


def test_cvp_per_rep_follows_the_people_a_viewer_reviews(march):
    def names(viewer):
        return sorted({r.name for r in measures.cvp_by_rep(viewer, start=MARCH, end=MARCH)})

    assert names(march.rep1) == ["rep1"]
    assert names(march.manager1) == ["rep1", "rep2"]
    assert names(march.manager2) == ["rep3"]
    assert names(march.owner) == ["rep1", "rep2", "rep3"]


def test_cvp_per_store(march):
    rows = measures.cvp_by_store(march.owner, start=MARCH, end=MARCH)
    assert [(r.name, r.answers, r.top) for r in rows] == [("天河店", 6, 5), ("番禺店", 1, 0)]
    assert round(rows[0].cvp, 4) == 0.8333
    # A rep sees their own store only.
    assert [r.name for r in measures.cvp_by_store(march.rep3, start=MARCH, end=MARCH)] == ["番禺店"]


def test_audit_calls_do_not_count_toward_cvp(march):
    response = respond(march, march.rep2, day=dt.date(2026, 3, 12))
    audit(march, response, 3)
    rows = {r.name: r for r in measures.cvp_by_rep(march.owner, start=MARCH, end=MARCH)}
    assert (rows["rep2"].answers, rows["rep2"].top) == (3, 3)


# --- the award ------------------------------------------------------------------------------------------


def test_cvp_award_pays_per_car_when_all_answers_are_top_box_and_wholesale_per_buyer(march):
    fleet = customer_of(march.rep2, kind=Customer.Kind.COMPANY, name="顺丰车队")
    for _ in range(3):
        sale(fleet, day=dt.date(2026, 3, 5))
    small_company = customer_of(march.rep2, kind=Customer.Kind.COMPANY, name="小公司")
    sale(small_company, day=dt.date(2026, 3, 6))
    sale(
        customer_of(march.rep2), day=dt.date(2026, 2, 20), promised_on=dt.date(2026, 3, 3)
    )  # delivered in March
    sale(
        customer_of(march.rep2), day=dt.date(2026, 3, 20), promised_on=dt.date(2026, 4, 3)
    )  # delivered in April
    sale(customer_of(march.rep2), day=dt.date(2026, 3, 21), kind="service")  # a workshop visit is no car

    rows = {r.name: r for r in measures.cvp_award(march.owner, month=MARCH)}
    rep2 = rows["rep2"]
    # Cars: 2 surveyed + 1 small company + 1 delivered on 3 March = 4 retail; the fleet is 1 buyer.
    assert (rep2.answers, rep2.top, rep2.retail_cars, rep2.wholesale_buyers, rep2.units) == (2, 2, 4, 1, 5)
    assert (rep2.eligible, rep2.amount, rep2.payroll_month) == (True, Decimal("150"), APRIL)
    rep1 = rows["rep1"]
    assert (rep1.answers, rep1.top, rep1.retail_cars, rep1.eligible, rep1.amount) == (
        4,
        3,
        4,
        False,
        Decimal("0"),
    )
    rep3 = rows["rep3"]
    assert (rep3.eligible, rep3.amount) == (False, Decimal("0"))


def test_a_car_ordered_long_before_its_delivery_counts_in_the_delivery_month(march):
    """Cars are counted by the delivery day the database keeps (``Purchase.sale_day``), however
    long before it the car was ordered (the count used to read only the half-year before)."""
    sale(customer_of(march.rep2), day=dt.date(2025, 6, 1), promised_on=dt.date(2026, 3, 12))
    sale(customer_of(march.rep2), day=dt.date(2026, 3, 2), promised_on=dt.date(2026, 5, 2))  # May
    rep2 = {r.name: r for r in measures.cvp_award(march.owner, month=MARCH)}["rep2"]
    assert (rep2.retail_cars, rep2.wholesale_buyers, rep2.units) == (3, 0, 3)


def test_award_follows_the_policy(march):
    org = march.org
    org.policy_data = {
        "feedback": {"cvp_award_per_car": "50", "payroll_lag_months": 0, "wholesale_min_cars": 2}
    }
    org.save()
    march.owner.refresh_from_db()
    fleet = customer_of(march.rep2, kind=Customer.Kind.COMPANY)
    sale(fleet, day=dt.date(2026, 3, 5))
    sale(fleet, day=dt.date(2026, 3, 6))
    rep2 = {r.name: r for r in measures.cvp_award(march.owner, month=MARCH)}["rep2"]
    assert (rep2.units, rep2.amount, rep2.payroll_month) == (3, Decimal("150"), MARCH)


def test_a_rep_sees_only_their_own_award(march):
    assert [r.name for r in measures.cvp_award(march.rep1, month=MARCH)] == ["rep1"]


# --- importance–satisfaction ---------------------------------------------------------------------------


def test_factors_fall_in_their_quadrants_at_the_means(world):
    scores = {
        "delivery_process": 5,
        "salesperson": 3,
        "deal_terms": 4,
        "delivery_time": 3,
        "vehicle_condition": 5,
        "features_explained": 3,
    }
    for _ in range(2):
        respond(world, world.rep1, **scores)
    result = measures.quadrant_analysis(world.manager1, start=MARCH, end=MARCH)
    placed = {
        p.factor: (p.importance, p.satisfaction, p.quadrant, p.importance_source) for p in result.points
    }
    assert placed == {
        "deal_terms": (4.0, 4.0, "keep", "weight"),
        "delivery_process": (4.0, 5.0, "keep", "weight"),
        "delivery_time": (4.0, 3.0, "urgent", "weight"),
        "features_explained": (2.0, 3.0, "low_priority", "weight"),
        "salesperson": (5.0, 3.0, "urgent", "weight"),
        "vehicle_condition": (3.0, 5.0, "over_served", "weight"),
    }
    assert (result.importance_cut, result.satisfaction_cut, result.split) == (3.6667, 3.8333, "mean")
    assert {p.factor: p.answers for p in result.points}["salesperson"] == 2


def test_fixed_cut_offs_and_an_asked_importance(world):
    org = world.org
    org.policy_data = {
        "feedback": {"quadrant_split": "fixed", "importance_cut": 3.5, "satisfaction_cut": 4.0}
    }
    org.save()
    world.manager1.refresh_from_db()
    respond(world, world.rep1, kind=SurveyKind.SERVICE, time=3, time_importance=5, facility=5)
    respond(world, world.rep1, kind=SurveyKind.SERVICE, time=4, time_importance=3, facility=5)
    result = measures.quadrant_analysis(world.manager1, start=MARCH, end=MARCH, kind=SurveyKind.SERVICE)
    placed = {p.factor: p for p in result.points}
    assert (placed["time"].importance, placed["time"].importance_source, placed["time"].satisfaction) == (
        4.0,
        "question",
        3.5,
    )
    assert placed["time"].quadrant == "urgent"
    assert (placed["facility"].importance, placed["facility"].quadrant) == (2.0, "over_served")
    assert (result.importance_cut, result.satisfaction_cut) == (3.5, 4.0)


def test_quadrants_per_store(march):
    s2 = measures.quadrant_analysis(march.owner, start=MARCH, end=MARCH, store_id=march.s2.pk)
    assert {p.answers for p in s2.points} == {1}


def test_reps_do_not_read_the_analysis(world):
    with pytest.raises(PermissionDenied):
        measures.quadrant_analysis(world.rep1, start=MARCH, end=MARCH)
    with pytest.raises(PermissionDenied):
        measures.gaming_check(world.dcrc, start=MARCH, end=MARCH)


# --- perceived ÷ expected ---------------------------------------------------------------------------------


def test_satisfaction_is_perceived_over_expected_by_month(world):
    respond(world, world.rep1, overall=5, expected=4)
    respond(world, world.rep2, overall=4, expected=4)
    respond(world, world.rep1, overall=3, expected=5, day=dt.date(2026, 4, 8))
    trend = measures.satisfaction_trend(world.owner, start=dt.date(2026, 2, 1), end=APRIL)
    got = [(t.period, t.responses, t.cvp, t.mean_overall, t.perceived, t.expected, t.ratio) for t in trend]
    assert got == [
        (dt.date(2026, 2, 1), 0, None, None, None, None, None),
        (MARCH, 2, 0.5, 4.5, 4.5, 4.0, 1.125),
        (APRIL, 1, 0.0, 3.0, 3.0, 5.0, 0.6),
    ]


# --- gaming -------------------------------------------------------------------------------------------------


def test_all_top_box_with_disagreeing_audits_is_flagged(world):
    gamed = [respond(world, world.rep1) for _ in range(5)]
    audit(world, gamed[0], 3)
    audit(world, gamed[1], 4)
    honest = [respond(world, world.rep2) for _ in range(5)]
    audit(world, honest[0], 5)
    audit(world, honest[1], 5)
    rows = measures.gaming_check(world.manager1, start=MARCH, end=MARCH)
    got = [(r.name, r.answers, r.top, r.audits, r.audit_top, r.flagged) for r in rows]
    assert got == [("rep1", 5, 5, 2, 0, True), ("rep2", 5, 5, 2, 2, False)]


def test_the_cvp_page_reads_one_grouping_and_matches_the_three_reports(march):
    """``cvp_page`` (one GROUP BY rep, store and month) gives exactly what the three reports give
    on their own, for every viewer, with a store filter, and for an award month inside or outside
    the period."""
    # A sale of rep3 (store 2) answered in store 1's name, and an answer without a rep.
    other = respond(march, march.rep3, overall=5)
    type(other).objects.filter(pk=other.pk).update(store=march.s1)
    norep = respond(march, march.rep2, overall=4)
    type(norep).objects.filter(pk=norep.pk).update(rep=None)
    for viewer in (march.owner, march.manager1, march.manager2, march.dcrc, march.rep1):
        for store_id in (None, march.s1.pk):
            for month in (MARCH, APRIL, dt.date(2026, 1, 1)):
                by_rep, by_store, award = measures.cvp_page(
                    viewer, start=MARCH, end=APRIL, month=month, store_id=store_id
                )
                assert by_rep == measures.cvp_by_rep(viewer, start=MARCH, end=APRIL, store_id=store_id)
                assert by_store == measures.cvp_by_store(viewer, start=MARCH, end=APRIL)
                assert award == measures.cvp_award(viewer, month=month, store_id=store_id)
    by_rep, by_store, award = measures.cvp_page(march.owner, start=MARCH, end=MARCH, month=MARCH)
    stores = {(r.name, r.answers, r.top) for r in by_store}
    assert (march.s1.name, 8, 6) in stores  # rep1 4/3, rep2 2/2 + the rep-less 1/0, rep3's 1/1
    assert [(a.name, a.answers, a.top) for a in award if a.name == "rep3"] == [("rep3", 2, 1)]


def test_the_cvp_page_builds_its_cells_as_the_template_did(client, march):
    from django.urls import reverse

    client.force_login(march.owner)
    html = client.get(reverse("feedback:cvp") + "?start=2026-03&end=2026-04&month=2026-03").content.decode()
    # rep1: March 3 of 4 very satisfied (75%), April 1 of 1; rep3 none in April.
    small = '<span class="small text-body-secondary">'
    assert f'<td><span title="3 / 4">75%</span> {small}(4)</span></td>' in html
    assert f'<td><span title="1 / 1">100%</span> {small}(1)</span></td>' in html
    assert '<td><span class="text-body-secondary">—</span></td>' in html


# --- indexes ------------------------------------------------------------------------------------------------


def test_the_answer_reports_read_only_their_covering_index(world):
    """The quadrants and the trend read every answer of the period: each of their answer statements
    must be answerable from ``answer_report_idx`` alone (no table read), or at 8.5M answers they
    scan the whole table. Every column they name is a key of the index; on SQLite the plan says so
    (PostgreSQL's choice on a handful of rows depends on costs, so there the columns are checked)."""
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    respond(world, world.rep1, overall=4, expected=4, salesperson=3)
    with CaptureQueriesContext(connection) as captured:
        measures.quadrant_analysis(world.owner, start=MARCH, end=APRIL)
        measures.satisfaction_trend(world.owner, start=MARCH, end=APRIL)
    statements = [q["sql"] for q in captured.captured_queries if 'FROM "feedback_answer"' in q["sql"]]
    assert len(statements) == 2
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "feedback_answer")
        indexed = set(constraints["answer_report_idx"]["columns"])
        for sql in statements:
            named = set(re.findall(r'"feedback_answer"\."(\w+)"', sql))
            assert {"score", "period", "factor"} <= named
            assert named <= indexed, named - indexed
            if connection.vendor == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + sql)
                plan = " ".join(str(cell) for row in cursor.fetchall() for cell in row)
                assert "COVERING INDEX answer_report_idx" in plan, plan
