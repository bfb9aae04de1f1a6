"""The analytics figures scope on the snapshot rows' own owner and store (``scope.snapshot_scope``),
mirroring ``customer_scope`` role by role, and never join the customers table; the lists AND the
customer's current scope. Exact figures on a small hand-built world, the statements they take and
what happens to a customer reassigned after the nightly run."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from huitou.accounts import permissions
from huitou.accounts.models import User
from huitou.analytics import risk_selectors as rsel
from huitou.analytics import selectors as sel
from huitou.analytics import value_selectors as vsel
from huitou.analytics.models import CustomerRisk, CustomerSegment, RiskScoreCount
from huitou.analytics.models_value import CustomerValue
from huitou.analytics.risk_services import risk_refresh
from huitou.analytics.scope import snapshot_scope
from huitou.analytics.services import segments_refresh
from huitou.analytics.value_services import value_refresh
from huitou.customers.models import Customer
from tests.factories import CustomerFactory

from .conftest import AS_OF, buy

SNAPSHOTS = (CustomerSegment, CustomerRisk, CustomerValue)


def _refresh(org) -> None:
    segments_refresh(organisation=org, as_of=AS_OF)
    value_refresh(organisation=org, as_of=AS_OF)
    risk_refresh(organisation=org, as_of=AS_OF)


@pytest.fixture
def snap(org_world):
    """Store 1 (team 1: rep1, rep2; manager1), store 2 (team 2: rep3; manager2).
    a1, a2, lost (lost, not active): rep1, store 1; b1: rep2, store 1; c1, c2, c3: rep3, store 2;
    d1: rep3 but store 1 (set volume by hand); e1: no owner, store 2; x: another organisation.
    Every one bought once, so each has a row in the three snapshots."""
    w = org_world
    c = {
        "a1": CustomerFactory(owner=w.rep1, name="a1"),
        "a2": CustomerFactory(owner=w.rep1, name="a2"),
        "lost": CustomerFactory(owner=w.rep1, name="lost", status=Customer.Status.LOST),
        "b1": CustomerFactory(owner=w.rep2, name="b1"),
        "c1": CustomerFactory(owner=w.rep3, name="c1"),
        "c2": CustomerFactory(owner=w.rep3, name="c2"),
        "c3": CustomerFactory(owner=w.rep3, name="c3"),
        "d1": CustomerFactory(owner=w.rep3, store=w.s1, name="d1", customer_type=Customer.Type.VOLUME),
        "e1": CustomerFactory(organisation=w.org, owner=None, store=w.s2, name="e1"),
        "x": CustomerFactory(owner=w.other_owner, name="x"),
    }
    for k, (name, customer) in enumerate(c.items()):
        buy(
            customer, dt.date(2026, 6, 1) - dt.timedelta(days=20 * k), f"{1000 * (k + 1)}", f"{100 * (k + 1)}"
        )
    _refresh(w.org)
    return SimpleNamespace(w=w, c=c)


def names(qs, field: str = "customer__name") -> list[str]:
    return sorted(qs.values_list(field, flat=True))


def set_people_policy(org, **people: bool) -> None:
    org.policy_data = {**(org.policy_data or {}), "people": people}
    org.save(update_fields=["policy_data"])


def fresh(user: User) -> User:
    """The user as a request loads it (no team ids cached yet)."""
    return User.objects.select_related("organisation").get(pk=user.pk)


# ---------------------------------------------------------------------------------------------
# The fill


def test_segment_rows_copy_the_customers_owner_store_and_type(snap):
    rows = {
        r.customer_id: (r.owner_id, r.store_id, r.customer_type)
        for r in CustomerSegment.objects.filter(organisation=snap.w.org, as_of=AS_OF)
    }
    expected = {c.pk: (c.owner_id, c.store_id, c.customer_type) for k, c in snap.c.items() if k != "x"}
    assert rows == expected
    assert rows[snap.c["d1"].pk] == (snap.w.rep3.pk, snap.w.s1.pk, "volume")
    assert rows[snap.c["e1"].pk] == (None, snap.w.s2.pk, "")


def test_migration_copies_the_current_owner_store_and_type_onto_older_rows(snap):
    """The migration's data step fills the new columns of the snapshots written before it."""
    import importlib

    migration = importlib.import_module("huitou.analytics.migrations.0006_segment_owner_store_copies")
    CustomerSegment.objects.update(owner=None, store=None, customer_type="")

    def execute(sql: str) -> None:
        with connection.cursor() as cur:
            cur.execute(sql)

    # Only ``execute`` is used; the schema editor itself cannot open inside a test's transaction
    # on SQLite.
    migration.copy_from_customers(None, SimpleNamespace(execute=execute))
    d1 = CustomerSegment.objects.get(customer=snap.c["d1"], as_of=AS_OF)
    assert (d1.owner_id, d1.store_id, d1.customer_type) == (snap.w.rep3.pk, snap.w.s1.pk, "volume")
    assert CustomerSegment.objects.filter(owner=None).count() == 1  # e1, who has no owner


# ---------------------------------------------------------------------------------------------
# Scope, role by role


@pytest.mark.parametrize(
    ("who", "people", "seen"),
    [
        ("owner", {}, {"a1", "a2", "lost", "b1", "c1", "c2", "c3", "d1", "e1"}),
        ("manager1", {}, {"a1", "a2", "lost", "b1", "d1"}),
        ("manager1", {"manager_sees_whole_store": False}, {"a1", "a2", "lost", "b1"}),
        ("manager2", {}, {"c1", "c2", "c3", "d1", "e1"}),
        ("manager2", {"manager_sees_whole_store": False}, {"c1", "c2", "c3", "d1"}),
        ("rep1", {}, {"a1", "a2", "lost"}),
        ("rep3", {}, {"c1", "c2", "c3", "d1"}),
        ("dcrc", {}, {"a1", "a2", "lost", "b1", "c1", "c2", "c3", "d1", "e1"}),
        ("dcrc", {"dcrc_sees_whole_organisation": False}, {"a1", "a2", "lost", "b1", "d1"}),
        ("aftersales", {}, {"a1", "a2", "lost", "b1", "d1"}),
        ("other_owner", {}, set()),
    ],
)
def test_snapshot_scope_mirrors_customer_scope(snap, who, people, seen):
    if people:
        set_people_policy(snap.w.org, **people)
    user = fresh(getattr(snap.w, who))
    mine = {c.pk for c in snap.c.values()} - {snap.c["x"].pk}
    by_customer = set(
        Customer.objects.filter(permissions.customer_scope(user), pk__in=mine).values_list("name", flat=True)
    )
    assert by_customer == seen
    for model in SNAPSHOTS:
        rows = model.objects.filter(snapshot_scope(user), as_of=AS_OF)
        assert set(rows.values_list("customer__name", flat=True)) == seen, model.__name__


def test_a_user_who_left_sees_no_rows(snap):
    rep1 = snap.w.rep1
    rep1.left_at = timezone.now()
    rep1.save(update_fields=["left_at"])
    for model in SNAPSHOTS:
        assert model.objects.filter(snapshot_scope(rep1), as_of=AS_OF).count() == 0
    assert rsel.risk_chart(rep1, rsel.RiskFilters(min_score=0), as_of=AS_OF).scored == 0
    assert vsel.value_segments(rep1, vsel.ValueFilters(), as_of=AS_OF).customers == 0


# ---------------------------------------------------------------------------------------------
# The figures of each role


@pytest.mark.parametrize(
    ("who", "people", "segments", "risk", "value"),
    [
        # The lost customer has a row in every snapshot; the risk chart counts active ones only.
        ("owner", {}, 9, 8, 9),
        ("manager1", {}, 5, 4, 5),
        ("manager1", {"manager_sees_whole_store": False}, 4, 3, 4),
        ("manager2", {}, 5, 5, 5),
        ("manager2", {"manager_sees_whole_store": False}, 4, 4, 4),
        ("rep1", {}, None, 2, 3),
        ("rep3", {}, None, 4, 4),
    ],
)
def test_each_roles_figures_count_the_rows_it_may_see(snap, who, people, segments, risk, value):
    if people:
        set_people_policy(snap.w.org, **people)
    user = fresh(getattr(snap.w, who))
    overview = sel.segments_overview(user, as_of=AS_OF)
    if segments is None:
        assert overview.as_of is None  # the page is refused to reps
    else:
        assert overview.customers == segments == sum(t.customers for t in overview.tiers)
        assert sum(map(sum, overview.rf_grid)) == segments
        assert sum(sum(v.values()) for v in overview.types.values()) == segments
    chart = rsel.risk_chart(user, rsel.RiskFilters(min_score=0), as_of=AS_OF)
    assert chart.scored == chart.at_risk == sum(chart.bins) == risk
    segs = vsel.value_segments(user, vsel.ValueFilters(), as_of=AS_OF)
    assert segs.customers == value
    assert sum(t["customers"] for t in segs.tiers) == sum(t["customers"] for t in segs.types) == value


def test_a_customer_marked_lost_today_leaves_the_risk_list_at_once_and_the_chart_at_the_next_run(snap):
    """The chart sums the counts kept by the nightly run (the customers active then); the list
    reads today's status."""
    everyone = rsel.RiskFilters(min_score=0)
    rep1 = snap.w.rep1
    assert rsel.risk_chart(rep1, everyone, as_of=AS_OF).scored == 2
    Customer.objects.filter(pk=snap.c["a1"].pk).update(status=Customer.Status.LOST)
    assert names(rsel.at_risk_list(rep1, everyone, as_of=AS_OF)[1]) == ["a2"]
    assert rsel.risk_chart(rep1, everyone, as_of=AS_OF).scored == 2
    risk_refresh(organisation=snap.w.org, as_of=AS_OF)
    assert rsel.risk_chart(rep1, everyone, as_of=AS_OF).scored == 1


def test_a_day_without_kept_counts_leaves_out_customers_lost_today(snap):
    """A day computed before the counts were kept is charted from its rows, with today's status."""
    everyone = rsel.RiskFilters(min_score=0)
    RiskScoreCount.objects.filter(organisation=snap.w.org, as_of=AS_OF).delete()
    assert rsel.risk_chart(snap.w.rep1, everyone, as_of=AS_OF).scored == 2
    Customer.objects.filter(pk=snap.c["a1"].pk).update(status=Customer.Status.LOST)
    assert rsel.risk_chart(snap.w.rep1, everyone, as_of=AS_OF).scored == 1


def test_filters_read_the_copied_store_team_and_rep(snap):
    w, owner = snap.w, snap.w.owner
    assert sel.segments_overview(owner, as_of=AS_OF, store_id=w.s1.pk).customers == 5  # a1 a2 lost b1 d1
    assert sel.segments_overview(owner, as_of=AS_OF, team_id=w.t2.pk).customers == 4  # c1 c2 c3 d1
    assert sel.segments_overview(owner, as_of=AS_OF, rep_id=w.rep1.pk).customers == 3
    f = vsel.ValueFilters(store_id=w.s2.pk)
    assert vsel.value_segments(owner, f, as_of=AS_OF).customers == 4  # c1 c2 c3 e1
    f = vsel.ValueFilters(team_id=w.t1.pk)
    assert vsel.value_segments(owner, f, as_of=AS_OF).customers == 4  # a1 a2 lost b1
    chart = rsel.risk_chart(owner, rsel.RiskFilters(team_id=w.t1.pk, min_score=0), as_of=AS_OF)
    assert chart.scored == 3  # a1 a2 b1: the lost customer is not counted


def test_value_figures_fold_to_what_the_rows_hold(snap):
    rows = list(CustomerValue.objects.filter(snapshot_scope(snap.w.manager1), as_of=AS_OF))
    segs = vsel.value_segments(snap.w.manager1, vsel.ValueFilters(), as_of=AS_OF)
    assert segs.clv_total == sum(r.clv for r in rows)
    assert segs.revenue_total == sum(r.revenue for r in rows)
    assert segs.margin_total == sum(r.margin for r in rows)
    by_type = {t["customer_type"]: t["customers"] for t in segs.types}
    assert by_type == {"profit": 0, "volume": 1, "relationship": 0, "strategic": 0, "": 4}
    # The owner's whole organisation reads the figures kept on the fill row: the same totals.
    whole = vsel.value_segments(snap.w.owner, vsel.ValueFilters(), as_of=AS_OF)
    rows = list(CustomerValue.objects.filter(organisation=snap.w.org, as_of=AS_OF))
    assert (whole.customers, whole.clv_total) == (9, sum(r.clv for r in rows))


# ---------------------------------------------------------------------------------------------
# No customers table in the figures' statements


def _statements(fn) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.parametrize("who", ["owner", "manager1"])
def test_segment_and_value_figures_read_no_customers(snap, who):
    user = fresh(getattr(snap.w, who))
    w = snap.w
    statements = [
        *_statements(lambda: sel.segments_overview(user, as_of=AS_OF)),
        *_statements(lambda: sel.segments_overview(user, as_of=AS_OF, store_id=w.s1.pk, team_id=w.t1.pk)),
        *_statements(lambda: vsel.value_segments(user, vsel.ValueFilters(), as_of=AS_OF)),
        *_statements(lambda: vsel.value_segments(user, vsel.ValueFilters(store_id=w.s1.pk), as_of=AS_OF)),
    ]
    assert any("analytics_customersegment" in s for s in statements)
    assert any("analytics_customervalue" in s for s in statements)
    assert [s for s in statements if "customers_customer" in s] == []


@pytest.mark.parametrize("minimum", [0, 20, 50, 80, 101])
def test_the_whole_organisations_risk_chart_is_the_one_counted_from_the_rows(snap, minimum):
    """Unfiltered, an owner's chart comes from the counts the nightly run kept; they equal the
    figures counted from the snapshot rows, from any minimum score."""
    owner = fresh(snap.w.owner)
    f = rsel.RiskFilters(min_score=minimum)
    statements = _statements(lambda: rsel.risk_chart(owner, f, as_of=AS_OF))
    assert [s for s in statements if "analytics_customerrisk" in s] == []
    kept = rsel.risk_chart(owner, f, as_of=AS_OF)
    counted = rsel._chart_from_rows(rsel._snapshot_rows(owner, f, AS_OF), minimum)
    assert (kept.bins, kept.scored, kept.at_risk, kept.reasons) == (
        counted.bins,
        counted.scored,
        counted.at_risk,
        counted.reasons,
    )
    assert kept.scored == 8  # the lost customer is not counted


@pytest.mark.parametrize("who", ["owner", "manager1"])
def test_risk_figures_read_neither_snapshot_rows_nor_customers(snap, who):
    """The chart is one grouped query over the kept counts, whoever the viewer."""
    user = fresh(getattr(snap.w, who))
    f = rsel.RiskFilters(min_score=0, store_id=snap.w.s1.pk if who == "owner" else None)
    statements = _statements(lambda: rsel.risk_chart(user, f, as_of=AS_OF))
    # Besides the manager's team ids (read once per request for the scope).
    read = [s for s in statements if "analytics_" in s]
    assert len(read) == 1
    assert "analytics_riskscorecount" in read[0]
    assert [s for s in statements if "analytics_customerrisk" in s or "customers_customer" in s] == []


@pytest.mark.parametrize("who", ["owner", "manager1"])
def test_risk_figures_of_a_day_without_kept_counts_join_no_customers(snap, who):
    """A day computed before the counts were kept is charted from the snapshot rows, which carry
    no status: the chart leaves out customers not active with one NOT EXISTS over those customers
    (the (organisation, status, id) index), never a join of every row."""
    RiskScoreCount.objects.filter(organisation=snap.w.org, as_of=AS_OF).delete()
    user = fresh(getattr(snap.w, who))
    # The owner's page narrowed to a store (unnarrowed, an older day's chart was kept on the fill).
    f = rsel.RiskFilters(min_score=0, store_id=snap.w.s1.pk if who == "owner" else None)
    statements = [
        s for s in _statements(lambda: rsel.risk_chart(user, f, as_of=AS_OF)) if "analytics_customerrisk" in s
    ]
    assert len(statements) == 2  # scores grouped, reasons unnested
    for s in statements:
        assert 'JOIN "customers_customer"' not in s
        assert s.count('"customers_customer"') == 1
        assert 'NOT EXISTS(SELECT 1 AS "a" FROM "customers_customer"' in s


# ---------------------------------------------------------------------------------------------
# A customer reassigned after the nightly run


def test_reassigned_customer_counts_for_the_old_rep_until_the_next_run(snap):
    """a2 moves from rep1 (store 1) to rep3 (store 2) after the run. The figures keep the
    snapshot's owner and store; the lists need both the snapshot's and the current scope, so the
    old rep and manager no longer list a2 and the new ones list it from the next run."""
    w, a2 = snap.w, snap.c["a2"]
    Customer.objects.filter(pk=a2.pk).update(owner=w.rep3, store=w.s2)
    rep1, rep3, manager1, manager2 = (fresh(u) for u in (w.rep1, w.rep3, w.manager1, w.manager2))
    everyone = rsel.RiskFilters(min_score=0)

    # The old rep's figures still count a2; their lists no longer show it.
    assert rsel.risk_chart(rep1, everyone, as_of=AS_OF).scored == 2
    assert names(rsel.at_risk_list(rep1, everyone, as_of=AS_OF)[1]) == ["a1"]
    assert vsel.value_segments(rep1, vsel.ValueFilters(), as_of=AS_OF).customers == 3
    assert names(vsel.value_list(rep1, vsel.ValueFilters(), as_of=AS_OF)) == ["a1", "lost"]
    assert sel.segments_overview(manager1, as_of=AS_OF).customers == 5
    listed = sel.segment_customers(manager1, sel.SegmentFilters(), as_of=AS_OF)
    assert names(listed) == ["a1", "b1", "d1", "lost"]
    # The new rep neither counts nor lists it before the next run.
    assert rsel.risk_chart(rep3, everyone, as_of=AS_OF).scored == 4
    assert "a2" not in names(rsel.at_risk_list(rep3, everyone, as_of=AS_OF)[1])
    assert "a2" not in names(vsel.value_list(rep3, vsel.ValueFilters(), as_of=AS_OF))
    assert "a2" not in names(sel.segment_customers(manager2, sel.SegmentFilters(), as_of=AS_OF))
    assert sel.segments_overview(manager2, as_of=AS_OF).customers == 5

    _refresh(w.org)
    assert rsel.risk_chart(rep1, everyone, as_of=AS_OF).scored == 1
    assert rsel.risk_chart(rep3, everyone, as_of=AS_OF).scored == 5
    assert "a2" in names(rsel.at_risk_list(rep3, everyone, as_of=AS_OF)[1])
    assert "a2" in names(vsel.value_list(rep3, vsel.ValueFilters(), as_of=AS_OF))
    assert sel.segments_overview(manager1, as_of=AS_OF).customers == 4
    assert sel.segments_overview(manager2, as_of=AS_OF).customers == 6
    assert "a2" in names(sel.segment_customers(manager2, sel.SegmentFilters(), as_of=AS_OF))


# ---------------------------------------------------------------------------------------------
# Statements


def test_segments_overview_statements(snap, django_assert_num_queries):
    owner = fresh(snap.w.owner)
    with django_assert_num_queries(2):  # the grouped figures, the curve kept on the fill row
        sel.segments_overview(owner, as_of=AS_OF)
    with django_assert_num_queries(3):  # the newest day first
        sel.segments_overview(owner)
    with django_assert_num_queries(2):  # the grouped figures, the rows' revenue and margin (curve)
        sel.segments_overview(owner, as_of=AS_OF, store_id=snap.w.s1.pk)
    manager = fresh(snap.w.manager1)
    with django_assert_num_queries(3):  # the manager's team members (once per request), then the two
        sel.segments_overview(manager, as_of=AS_OF)
    with django_assert_num_queries(2):
        overview = sel.segments_overview(manager, as_of=AS_OF)
    assert overview.customers == 5


def test_value_segments_statements(snap, django_assert_num_queries):
    with django_assert_num_queries(1):  # the fill row, which keeps the whole organisation's figures
        vsel.value_segments(snap.w.owner, vsel.ValueFilters(), as_of=AS_OF)
    manager = fresh(snap.w.manager1)
    permissions.team_member_ids(manager)
    with django_assert_num_queries(2):  # the fill row, one GROUP BY (tier, customer type)
        segs = vsel.value_segments(manager, vsel.ValueFilters(), as_of=AS_OF)
    assert segs.customers == 5
