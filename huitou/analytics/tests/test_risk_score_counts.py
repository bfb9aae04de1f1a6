"""The risk chart's kept counts (``RiskScoreCount``): the nightly run writes them beside the
snapshot, and every viewer's chart summed from them equals the chart counted from the snapshot
rows, whatever the scope, filters and minimum score; it reads no snapshot row. A day computed
before the counts were kept is still charted, from its rows or the fill's summary."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from huitou.accounts.models import User
from huitou.analytics import nightly, risk_services
from huitou.analytics import risk_selectors as sel
from huitou.analytics.models import CustomerRisk, RiskFill, RiskScoreCount
from huitou.analytics.risk_services import REASON_CODES, risk_refresh, score_counts
from huitou.customers.models import Customer
from huitou.feedback.models import Ticket
from tests.factories import CustomerFactory

from .test_risk_flows import AS_OF, _english, aware, buy, risk_world  # noqa: F401 - shared fixtures

MINIMUMS = (0, 15, 30, 40, 60, 101)


def _complaint(org, customer, summary: str) -> Ticket:
    return Ticket.objects.create(
        organisation=org,
        customer=customer,
        channel=Ticket.Channel.PHONE,
        summary=summary,
        received_at=aware(dt.date(2026, 6, 1)),
        first_reply_due_at=aware(dt.date(2026, 6, 2)),
        resolve_due_at=aware(dt.date(2026, 6, 5)),
    )


@pytest.fixture
def world(risk_world, monkeypatch):  # noqa: F811
    """The risk world (A, B rep1; C, D rep3; threshold 40) and, to spread scores, owners and
    stores: twelve more customers over rep1, rep2, rep3, no owner, in store 1 or 2 (rep3 also in
    store 1, which the team and the store filters split), with rhythms, declining spend, late
    payments, two open complaints on one customer and low satisfaction answers on three; a lost
    one, a prospect and an erased one, who are in no chart."""
    w = risk_world.w
    owners = [(w.rep1, w.s1), (w.rep2, w.s1), (w.rep3, w.s2), (w.rep3, w.s1), (None, w.s2), (None, None)]
    extra = []
    for k in range(12):
        owner, store = owners[k % len(owners)]
        c = CustomerFactory(organisation=w.org, owner=owner, store=store, name=f"E{k}")
        # Two to four purchase days, the last one further back for higher k; spend falling for
        # odd k (the earlier purchase larger).
        last = AS_OF - dt.timedelta(days=20 + 45 * k)
        for j in range(2 + k % 3):
            amount = "5000" if (k % 2 and j) else "1000"
            kw = {}
            if k % 4 == 1 and j == 0:  # unpaid, due before the day
                kw = {"payment_due_on": last - dt.timedelta(days=10), "paid_amount": Decimal("0")}
            buy(c, last - dt.timedelta(days=120 * j), amount, **kw)
        extra.append(c)
    _complaint(w.org, extra[3], "一")
    _complaint(w.org, extra[3], "二")  # two open complaints: counted once
    for status in (Customer.Status.LOST, Customer.Status.PROSPECT, Customer.Status.ERASED):
        gone = CustomerFactory(owner=w.rep1, name=str(status), status=status)
        buy(gone, dt.date(2025, 1, 1))
        _complaint(w.org, gone, "不计")
    low_answers = {extra[0].pk: 2, extra[5].pk: 1, risk_world.c.pk: 1}
    signals = risk_services._feedback_signals

    def with_low_answers(organisation, as_of):
        tickets, low = signals(organisation, as_of)
        return tickets, {**low, **low_answers}

    monkeypatch.setattr(risk_services, "_feedback_signals", with_low_answers)
    risk_refresh(organisation=w.org, as_of=AS_OF)
    return SimpleNamespace(w=w, extra=extra, base=risk_world)


def fresh(user: User) -> User:
    """The user as a request loads it (no team ids cached yet)."""
    return User.objects.select_related("organisation").get(pk=user.pk)


def counted_from_rows(viewer: User, f: sel.RiskFilters, minimum: int) -> sel.RiskChart:
    return sel._chart_from_rows(sel._snapshot_rows(viewer, f, AS_OF), minimum)


def _statements(fn) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [q["sql"] for q in ctx.captured_queries]


# Viewers and filters: (user attribute, filters by fixture attribute).
CASES = {
    "owner": ("owner", {}),
    "owner, store 1": ("owner", {"store_id": "s1"}),
    "owner, store 2": ("owner", {"store_id": "s2"}),
    "owner, team 1": ("owner", {"team_id": "t1"}),
    "owner, team 2": ("owner", {"team_id": "t2"}),
    "owner, rep 3": ("owner", {"rep_id": "rep3"}),
    "owner, team 2 and store 1": ("owner", {"team_id": "t2", "store_id": "s1"}),
    "manager 1": ("manager1", {}),
    "manager 2": ("manager2", {}),
    "manager 1, rep 2": ("manager1", {"rep_id": "rep2"}),
    "rep 1": ("rep1", {}),
    "rep 3": ("rep3", {}),
}


def _case(world, name: str, minimum: int) -> tuple[User, sel.RiskFilters]:
    who, chosen = CASES[name]
    filters = sel.RiskFilters(min_score=minimum, **{k: getattr(world.w, v).pk for k, v in chosen.items()})
    return fresh(getattr(world.w, who)), filters


# ---------------------------------------------------------------------------------------------
# The kept rows


def test_the_kept_counts_hold_the_active_customers_of_the_snapshot(world):
    """Per owner, store and score: the active customers of the snapshot and, per reason code, those
    whose stored reasons carry it (a customer with two open complaints counts once)."""
    org = world.w.org
    kept = RiskScoreCount.objects.filter(organisation=org, as_of=AS_OF)
    active = CustomerRisk.objects.filter(
        organisation=org, as_of=AS_OF, customer__status=Customer.Status.ACTIVE
    )
    assert kept.aggregate(n=Sum("customers"))["n"] == active.count() == 16
    got = {
        (r.owner_id, r.store_id, r.score): [r.customers, *(getattr(r, c) for c in REASON_CODES)] for r in kept
    }
    expected: dict[tuple[int | None, int | None, int], list[int]] = {}
    for r in active:
        counts = expected.setdefault((r.owner_id, r.store_id, r.score), [0] * (1 + len(REASON_CODES)))
        counts[0] += 1
        codes = {"gap" if x["code"] == "gap_org" else x["code"] for x in r.reasons}
        for k, code in enumerate(REASON_CODES, start=1):
            counts[k] += code in codes
    assert got == expected
    e3 = CustomerRisk.objects.get(customer=world.extra[3], as_of=AS_OF)
    assert e3.open_complaints == 2
    assert got[(e3.owner_id, e3.store_id, e3.score)][1 + REASON_CODES.index("complaint")] == 1
    # Nothing of another organisation.
    assert not RiskScoreCount.objects.exclude(organisation=org).exists()


def test_a_second_run_replaces_the_days_counts(world):
    org = world.w.org

    def rows() -> Counter[tuple[int | None, ...]]:
        return Counter(
            RiskScoreCount.objects.filter(organisation=org).values_list(
                "owner", "store", "score", "customers"
            )
        )

    before = rows()
    risk_refresh(organisation=org, as_of=AS_OF)
    assert rows() == before
    assert sum(before.values()) == RiskScoreCount.objects.filter(organisation=org).count()


def test_snapshots_clear_removes_the_days_counts(world):
    org = world.w.org
    RiskScoreCount.objects.create(organisation=org, as_of=AS_OF - dt.timedelta(days=1), score=3, customers=1)
    nightly.snapshots_clear(organisation=org, as_of=AS_OF)
    assert not RiskScoreCount.objects.filter(organisation=org, as_of=AS_OF).exists()
    assert RiskScoreCount.objects.filter(organisation=org).count() == 1  # another day stays


def test_score_counts_group_by_owner_store_and_score():
    scores = np.array([5, 5, 5, 120, 40, 40, 7], dtype=np.int64)
    owners = np.array([1, 1, 0, 1, 2, 2, 1], dtype=np.int64)
    stores = np.array([9, 9, 9, 9, 0, 0, 9], dtype=np.int64)
    counted = np.array([True, True, True, True, True, True, False])
    gap = np.array([True, False, True, True, True, True, True])
    masks = {code: np.zeros(7, dtype=bool) for code in REASON_CODES}
    masks["gap"] = gap
    got = score_counts(scores=scores, masks=masks, counted=counted, owners=owners, stores=stores)
    rows = sorted(
        zip(*(got[k].tolist() for k in ("owner", "store", "score", "customers", "gap", "late")), strict=True)
    )
    # The score above 100 is clipped; customer 6 is not counted.
    assert rows == [(0, 9, 5, 1, 1, 0), (1, 9, 5, 2, 1, 0), (1, 9, 100, 1, 1, 0), (2, 0, 40, 2, 2, 0)]


def test_score_counts_of_nobody_are_empty():
    none = np.zeros(0, dtype=np.int64)
    masks = {code: np.zeros(0, dtype=bool) for code in REASON_CODES}
    got = score_counts(scores=none, masks=masks, counted=np.zeros(0, dtype=bool), owners=none, stores=none)
    assert {k: len(v) for k, v in got.items()} == dict.fromkeys(got, 0)


# ---------------------------------------------------------------------------------------------
# The chart


@pytest.mark.parametrize("minimum", MINIMUMS)
@pytest.mark.parametrize("case", list(CASES))
def test_the_kept_counts_give_the_chart_counted_from_the_rows(world, case, minimum):
    viewer, f = _case(world, case, minimum)
    kept = sel.risk_chart(viewer, f, as_of=AS_OF)
    assert kept == counted_from_rows(viewer, f, minimum)


def test_the_world_spreads_scores_and_reasons(world):
    """The comparison above is not between two empty charts."""
    owner = fresh(world.w.owner)
    chart = sel.risk_chart(owner, sel.RiskFilters(min_score=0), as_of=AS_OF)
    assert chart.scored == 16
    assert sum(1 for n in chart.bins if n) >= 3
    assert {code for code, n in chart.reasons.items() if n} >= {
        "gap",
        "spend",
        "complaint",
        "satisfaction",
        "late",
        "competitor",
    }
    for case in ("owner, team 2 and store 1", "manager 1, rep 2", "rep 1", "rep 3"):
        viewer, f = _case(world, case, 0)
        assert 0 < sel.risk_chart(viewer, f, as_of=AS_OF).scored < 16, case


def test_a_managers_chart_is_one_query_over_the_counts(world, django_assert_max_num_queries):
    manager = fresh(world.w.manager1)
    f = sel.RiskFilters(min_score=0)
    with django_assert_max_num_queries(2):  # the team's member ids (the scope), the counts summed
        statements = _statements(lambda: sel.risk_chart(manager, f, as_of=AS_OF))
    assert len([s for s in statements if "analytics_riskscorecount" in s]) == 1
    assert [s for s in statements if "analytics_customerrisk" in s or "customers_customer" in s] == []
    with django_assert_max_num_queries(1):  # team ids cached on the user now
        sel.risk_chart(manager, sel.RiskFilters(min_score=30, store_id=world.w.s1.pk), as_of=AS_OF)


def test_a_rep_never_counts_another_reps_customers(world):
    w = world.w
    rep1 = fresh(w.rep1)
    chart = sel.risk_chart(rep1, sel.RiskFilters(min_score=0), as_of=AS_OF)
    own = CustomerRisk.objects.filter(
        organisation=w.org, as_of=AS_OF, owner=w.rep1, customer__status=Customer.Status.ACTIVE
    )
    assert chart.scored == own.count() == 4  # A, B, E0, E6
    bins = [0] * sel.SCORE_BINS
    for score in own.values_list("score", flat=True):
        bins[min(score // 10, sel.SCORE_BINS - 1)] += 1
    assert chart.bins == bins
    # D's competitor contact is rep3's, not rep1's: only A's counts.
    assert chart.reasons["competitor"] == 1
    # The rep filter cannot widen a rep's scope.
    other = sel.risk_chart(rep1, sel.RiskFilters(min_score=0, rep_id=w.rep3.pk), as_of=AS_OF)
    assert (other.scored, other.bins, sum(other.reasons.values())) == (0, [0] * sel.SCORE_BINS, 0)


def test_a_rep_who_left_sees_an_empty_chart(world):
    rep1 = fresh(world.w.rep1)
    rep1.left_at = timezone.now()
    rep1.save(update_fields=["left_at"])
    assert sel.risk_chart(rep1, sel.RiskFilters(min_score=0), as_of=AS_OF) == sel.RiskChart()


# ---------------------------------------------------------------------------------------------
# A day computed before the counts were kept


def test_a_day_without_counts_is_charted_from_its_rows(world):
    RiskScoreCount.objects.filter(organisation=world.w.org).delete()
    manager = fresh(world.w.manager1)
    f = sel.RiskFilters(min_score=30)
    statements = _statements(lambda: sel.risk_chart(manager, f, as_of=AS_OF))
    assert len([s for s in statements if "analytics_customerrisk" in s]) == 2  # scores, reasons
    chart = sel.risk_chart(manager, f, as_of=AS_OF)
    assert chart == counted_from_rows(manager, f, 30)
    assert chart.scored > 0


def test_a_day_without_counts_reads_the_whole_organisations_chart_from_the_fill(world):
    """Fills written before the counts table kept the whole organisation's chart in the summary."""
    org = world.w.org
    RiskScoreCount.objects.filter(organisation=org).delete()
    by_score = [0] * 101
    by_score[12], by_score[45], by_score[100] = 3, 2, 1
    gap = [0] * 101
    gap[45], gap[100] = 2, 1
    fill = RiskFill.objects.get(organisation=org, as_of=AS_OF)
    fill.summary = {**fill.summary, "chart": {"by_score": by_score, "reasons_by_score": {"gap": gap}}}
    fill.save(update_fields=["summary"])
    owner = fresh(world.w.owner)
    statements = _statements(lambda: sel.risk_chart(owner, sel.RiskFilters(min_score=40), as_of=AS_OF))
    assert [s for s in statements if "analytics_customerrisk" in s] == []
    chart = sel.risk_chart(owner, sel.RiskFilters(min_score=40), as_of=AS_OF)
    assert chart.bins == [0, 3, 0, 0, 2, 0, 0, 0, 0, 1]
    assert (chart.scored, chart.at_risk) == (6, 3)
    assert chart.reasons == {**dict.fromkeys(REASON_CODES, 0), "gap": 3}
