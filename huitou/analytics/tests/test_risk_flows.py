"""The risk snapshot on a small hand-built set (exact figures), the at-risk lists and their
permissions, win-back tasks, termination reasons, saves and won-back customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from huitou.analytics import risk_selectors as sel
from huitou.analytics.models import CustomerLoss, CustomerRisk, RiskFill, WinBack
from huitou.analytics.risk_services import customer_mark_lost, risk_refresh, winback_start
from huitou.core.errors import Conflict, NotFound, PermissionDenied
from huitou.customers.models import Activity, Customer, Tag
from huitou.feedback.models import Ticket
from huitou.followups.models import Task
from tests.factories import CustomerFactory, PurchaseFactory

AS_OF = dt.date(2026, 6, 30)
LIST_URL = "/analytics/risk/"


def buy(customer, day, amount="1000", **kw):
    return PurchaseFactory(customer=customer, ordered_on=day, amount=Decimal(amount), **kw)


def aware(day):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(10)))


@pytest.fixture(autouse=True)
def _english(settings):
    """These tests read reasons, task titles and pages in English: the site language is set to
    English for them (texts stored by services follow the site language)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def risk_world(org_world):
    """A (rep1): bought 2024-12-30 and 2025-06-30 (own gap 182 days), an unpaid invoice due
    2026-05-16, an open complaint, tagged 竞品. B (rep1): bought 30 days ago. C (rep3): one
    purchase a year ago. D (rep3): two recent purchases and a note about a competitor.
    X: another organisation. The org's list threshold is 40 (policy.risk)."""
    w = org_world
    w.org.policy_data = {**(w.org.policy_data or {}), "risk": {"threshold": 40}}
    w.org.save(update_fields=["policy_data"])
    a = CustomerFactory(owner=w.rep1, name="A")
    b = CustomerFactory(owner=w.rep1, name="B")
    c = CustomerFactory(owner=w.rep3, name="C")
    d = CustomerFactory(owner=w.rep3, name="D")
    x = CustomerFactory(owner=w.other_owner, name="X")
    buy(a, dt.date(2024, 12, 30))
    buy(a, dt.date(2025, 6, 30), payment_due_on=dt.date(2026, 5, 16), paid_amount=Decimal("200"))
    buy(b, dt.date(2026, 5, 31))
    buy(c, dt.date(2025, 6, 30))
    buy(d, dt.date(2026, 3, 1))
    buy(d, dt.date(2026, 6, 20))
    buy(x, dt.date(2024, 1, 1))
    a.tags.add(Tag.objects.create(organisation=w.org, name="竞品"))
    ticket = Ticket.objects.create(
        organisation=w.org,
        customer=a,
        channel=Ticket.Channel.PHONE,
        summary="刹车异响",
        received_at=aware(dt.date(2026, 6, 1)),
        first_reply_due_at=aware(dt.date(2026, 6, 2)),
        resolve_due_at=aware(dt.date(2026, 6, 5)),
    )
    Ticket.objects.create(  # closed: no signal
        organisation=w.org,
        customer=c,
        channel=Ticket.Channel.PHONE,
        summary="旧投诉",
        status=Ticket.Status.CLOSED,
        received_at=aware(dt.date(2026, 1, 1)),
        first_reply_due_at=aware(dt.date(2026, 1, 2)),
        resolve_due_at=aware(dt.date(2026, 1, 5)),
    )
    Activity.objects.create(
        organisation=w.org,
        customer=d,
        kind=Activity.Kind.NOTE,
        occurred_at=aware(dt.date(2026, 6, 10)),
        subject="客户说竞品报价更低",
    )
    return SimpleNamespace(w=w, a=a, b=b, c=c, d=d, x=x, ticket=ticket)


@pytest.fixture
def refreshed(risk_world):
    risk_refresh(organisation=risk_world.w.org, as_of=AS_OF)
    return risk_world


def snap(customer):
    return CustomerRisk.objects.get(customer=customer, as_of=AS_OF)


# ---------------------------------------------------------------------------------------------
# Snapshot


def test_snapshot_exact_values(refreshed):
    t = refreshed
    a = snap(t.a)
    # Median own gap: A 182, D 111 → 146.5. A: own gap 365/182 → strength 0.50275 → 12.57;
    # spend 0 vs 2000 → 15; complaint 10; competitor tag 5; 45 days late → 2.5. Sum 45.07.
    assert (a.score, a.p_alive, a.days_since_last, a.gap_ratio, a.spend_trend) == (
        45,
        None,
        365,
        Decimal("2.01"),
        Decimal("-1"),
    )
    assert (a.open_complaints, a.low_satisfaction, a.late_payment_days, a.competitor_contact) == (
        1,
        0,
        45,
        True,
    )
    assert a.reasons == [
        {"code": "spend", "pct": 100},
        {"code": "gap", "days": 365, "ratio": 2.0},
        {"code": "complaint", "ticket": t.ticket.pk},
        {"code": "competitor"},
        {"code": "late", "days": 45},
    ]
    assert (a.owner_id, a.store_id) == (t.w.rep1.pk, t.w.s1.pk)
    # C: one purchase, 365 days against the org's 146.5 → 2.49 → 18.64; spend 15 → 33.64.
    c = snap(t.c)
    assert (c.score, c.gap_ratio, c.open_complaints) == (34, Decimal("2.49"), 0)
    assert c.reasons == [{"code": "gap_org", "days": 365, "ratio": 2.5}, {"code": "spend", "pct": 100}]
    assert (snap(t.b).score, snap(t.b).reasons) == (0, [])
    d = snap(t.d)
    assert (d.score, d.competitor_contact, d.spend_trend, d.reasons) == (
        5,
        True,
        None,
        [{"code": "competitor"}],
    )
    assert not CustomerRisk.objects.filter(customer=t.x).exists()


def test_reason_words(refreshed):
    texts = sel.reasons_text(snap(refreshed.a).reasons)
    assert texts == [
        "spend down 100% on the 12 months before",
        "no purchase for 365 days, 2.0× their usual gap",
        f"open complaint #{refreshed.ticket.pk}",
        "contact with a competitor logged",
        "paid 45 days late",
    ]


def test_fill_state_and_rerun_is_idempotent(refreshed):
    fill = RiskFill.objects.get(organisation=refreshed.w.org, as_of=AS_OF)
    assert (fill.status, fill.customers, fill.at_risk) == ("done", 4, 1)
    assert fill.summary["median_gap_days"] == 146.5 and fill.summary["model"] == {}
    result = risk_refresh(organisation=refreshed.w.org, as_of=AS_OF)
    assert (result["customers"], result["at_risk"]) == (4, 1)
    assert CustomerRisk.objects.filter(as_of=AS_OF).count() == 4


def test_failed_run_leaves_failed_fill(risk_world, monkeypatch):
    from huitou.analytics import risk_services

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(risk_services, "_feedback_signals", boom)
    with pytest.raises(RuntimeError):
        risk_refresh(organisation=risk_world.w.org, as_of=AS_OF)
    assert RiskFill.objects.get(organisation=risk_world.w.org).status == "failed"
    assert not CustomerRisk.objects.exists()


def test_policy_weights_change_the_score(risk_world):
    org = risk_world.w.org
    org.policy_data = {**org.policy_data, "risk": {"weight_spend": 0}}
    org.save(update_fields=["policy_data"])
    risk_refresh(organisation=org, as_of=AS_OF)
    # Without the spend weight the total is 85: (12.57 + 10 + 5 + 2.5) / 85 → 35.4%
    assert snap(risk_world.a).score == 35


# ---------------------------------------------------------------------------------------------
# Lists and permissions


def names(viewer, **kw):
    _day, qs = sel.at_risk_list(viewer, sel.RiskFilters(**kw))
    return [r.customer.name for r in qs]


def test_lists_by_role(refreshed):
    w = refreshed.w
    assert names(w.owner) == ["A"]
    assert names(w.owner, min_score=30) == ["A", "C"]
    assert names(w.owner, min_score=0) == ["A", "C", "D", "B"]
    assert names(w.rep1, min_score=0) == ["A", "B"]
    assert names(w.rep3, min_score=30) == ["C"]
    assert names(w.manager2, min_score=30) == ["C"]
    assert names(w.owner, min_score=0, store_id=w.s2.pk) == ["C", "D"]
    assert names(w.owner, min_score=0, rep_id=w.rep1.pk) == ["A", "B"]
    assert names(w.other_owner, min_score=0) == []
    assert names(w.dcrc, min_score=0) == []


def test_lost_customers_leave_the_list(refreshed):
    Customer.objects.filter(pk=refreshed.a.pk).update(status=Customer.Status.LOST)
    assert names(refreshed.w.owner) == []


def test_card_outside_scope_is_404(refreshed):
    with pytest.raises(NotFound):
        sel.customer_risk(refreshed.w.rep1, refreshed.c.pk)
    card = sel.customer_risk(refreshed.w.rep1, refreshed.a.pk)
    assert card.snapshot.score == 45 and card.threshold == 40


def test_list_page(client, refreshed, django_assert_max_num_queries):
    client.force_login(refreshed.w.owner)
    with django_assert_max_num_queries(12):
        resp = client.get(LIST_URL, {"min_score": 0})
    html = resp.content.decode()
    assert resp.status_code == 200
    assert html.index(f'id="risk-row-{refreshed.a.pk}"') < html.index(f'id="risk-row-{refreshed.d.pk}"')
    assert "paid 45 days late" in html


def test_list_page_query_count_does_not_grow(client, refreshed, django_assert_max_num_queries):
    w = refreshed.w
    for k in range(30):
        buy(CustomerFactory(owner=w.rep2, name=f"R{k}"), dt.date(2024, 1, 1))
    risk_refresh(organisation=w.org, as_of=AS_OF)
    client.force_login(w.owner)
    with django_assert_max_num_queries(12):
        resp = client.get(LIST_URL, {"min_score": 0})
    assert resp.content.decode().count('id="risk-row-') == 34


def test_rep_page_shows_only_theirs(client, refreshed):
    client.force_login(refreshed.w.rep1)
    html = client.get(LIST_URL, {"min_score": 0}).content.decode()
    assert f'id="risk-row-{refreshed.a.pk}"' in html
    assert f'id="risk-row-{refreshed.c.pk}"' not in html
    assert client.get(f"{LIST_URL}customer/{refreshed.c.pk}/").status_code == 404


@pytest.mark.parametrize("who", ["dcrc", "aftersales"])
def test_other_roles_refused(client, refreshed, who):
    client.force_login(getattr(refreshed.w, who))
    assert client.get(LIST_URL).status_code == 403
    assert client.post(f"{LIST_URL}customer/{refreshed.a.pk}/winback/", {"approach": "up"}).status_code == 403
    assert not WinBack.objects.exists()


def test_card_page_and_htmx_fragment(client, refreshed):
    client.force_login(refreshed.w.rep1)
    html = client.get(f"{LIST_URL}customer/{refreshed.a.pk}/").content.decode()
    assert 'id="risk-score">45</span>' in html
    frag = client.get(f"{LIST_URL}customer/{refreshed.a.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in frag and "no purchase for 365 days" in frag


def test_customer_page_loads_the_card(client, refreshed):
    client.force_login(refreshed.w.rep1)
    html = client.get(f"/customers/{refreshed.a.pk}/").content.decode()
    assert f'hx-get="/analytics/risk/customer/{refreshed.a.pk}/"' in html


# ---------------------------------------------------------------------------------------------
# Win-back, termination, saves


def test_winback_creates_one_task(refreshed):
    t = refreshed
    wb = winback_start(actor=t.w.manager1, customer_id=t.a.pk, approach="concession", today=AS_OF)
    task = Task.objects.get(customer=t.a)
    assert (task.assignee_id, task.kind, task.priority) == (t.w.rep1.pk, "call", 80)
    assert task.title == "Win back A" and "manager's approval" in task.script
    assert (wb.task_id, wb.rep_id, wb.score_at_start, wb.status) == (task.pk, t.w.rep1.pk, 45, "open")
    with pytest.raises(Conflict):
        winback_start(actor=t.w.rep1, customer_id=t.a.pk, approach="up", today=AS_OF)
    assert Task.objects.filter(customer=t.a).count() == 1
    assert WinBack.objects.count() == 1


def test_winback_outside_scope_is_404_and_changes_nothing(refreshed):
    with pytest.raises(NotFound):
        winback_start(actor=refreshed.w.rep1, customer_id=refreshed.c.pk, approach="up")
    with pytest.raises(PermissionDenied):
        winback_start(actor=refreshed.w.dcrc, customer_id=refreshed.a.pk, approach="up")
    assert not Task.objects.exists() and not WinBack.objects.exists()


def test_winback_page_post(client, refreshed):
    client.force_login(refreshed.w.rep1)
    resp = client.post(f"{LIST_URL}customer/{refreshed.a.pk}/winback/", {"approach": "third_party"})
    assert resp.status_code == 302
    assert WinBack.objects.get().approach == "third_party"
    resp = client.post(f"{LIST_URL}customer/{refreshed.c.pk}/winback/", {"approach": "up"})
    assert resp.status_code == 404
    assert WinBack.objects.count() == 1


def test_save_counted_when_customer_buys_within_window(refreshed):
    t = refreshed
    winback_start(actor=t.w.rep1, customer_id=t.a.pk, approach="down", today=AS_OF)
    winback_start(actor=t.w.rep3, customer_id=t.c.pk, approach="up", today=AS_OF)  # score 34 < 40
    buy(t.a, dt.date(2026, 7, 10))
    buy(t.c, dt.date(2026, 7, 12))
    result = risk_refresh(organisation=t.w.org, as_of=dt.date(2026, 7, 15))
    assert result["saves"] == 2
    a_wb = WinBack.objects.get(customer=t.a)
    assert (a_wb.status, a_wb.saved_on) == ("saved", dt.date(2026, 7, 10))
    rows = sel.saves_by_rep_month(t.w.owner, start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31))
    # C's win-back is a sale, but C was never at risk by the threshold: not a save.
    assert [(r.rep, r.month, r.saves) for r in rows] == [("rep1", dt.date(2026, 7, 1), 1)]
    assert sel.saves_by_rep_month(t.w.rep3, start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31)) == []


def test_winback_expires_after_window(refreshed):
    t = refreshed
    winback_start(actor=t.w.rep1, customer_id=t.a.pk, approach="up", today=AS_OF)
    result = risk_refresh(organisation=t.w.org, as_of=AS_OF + dt.timedelta(days=91))
    assert result["expired"] == 1 and WinBack.objects.get().status == "expired"


def test_mark_lost_and_win_back(refreshed):
    t = refreshed
    winback_start(actor=t.w.rep1, customer_id=t.a.pk, approach="up", today=AS_OF)
    loss = customer_mark_lost(
        actor=t.w.rep1, customer_id=t.a.pk, reason="comp_price", note="对手便宜两万", today=AS_OF
    )
    t.a.refresh_from_db()
    assert (t.a.status, t.a.lost_reason) == ("lost", "Competition: price: 对手便宜两万")
    assert (loss.reason, loss.rep_id, loss.lost_on) == ("comp_price", t.w.rep1.pk, AS_OF)
    assert WinBack.objects.get().status == "lost"
    with pytest.raises(Conflict):
        customer_mark_lost(actor=t.w.rep1, customer_id=t.a.pk, reason="bargaining")
    assert CustomerLoss.objects.count() == 1
    # A lost customer can be won back: a new win-back, then a purchase.
    wb = winback_start(actor=t.w.rep1, customer_id=t.a.pk, approach="concession", today=AS_OF)
    assert wb.customer_was_lost
    buy(t.a, dt.date(2026, 8, 1))
    result = risk_refresh(organisation=t.w.org, as_of=dt.date(2026, 8, 2))
    assert result["won_back"] == 1 and result["saves"] == 1
    assert CustomerLoss.objects.get().won_back_on == dt.date(2026, 8, 1)


def test_marked_active_again_is_won_back(refreshed):
    t = refreshed
    customer_mark_lost(actor=t.w.owner, customer_id=t.c.pk, reason="own_cash", today=AS_OF)
    Customer.objects.filter(pk=t.c.pk).update(status=Customer.Status.ACTIVE)
    risk_refresh(organisation=t.w.org, as_of=dt.date(2026, 7, 3))
    assert CustomerLoss.objects.get().won_back_on == dt.date(2026, 7, 3)


def test_mark_lost_refused_outside_scope(refreshed):
    with pytest.raises(NotFound):
        customer_mark_lost(actor=refreshed.w.rep1, customer_id=refreshed.c.pk, reason="bargaining")
    refreshed.c.refresh_from_db()
    assert refreshed.c.status == "active" and not CustomerLoss.objects.exists()


def test_lost_page_post(client, refreshed):
    client.force_login(refreshed.w.manager1)
    resp = client.post(
        f"{LIST_URL}customer/{refreshed.a.pk}/lost/",
        {"reason": "own_supply", "note": ""},
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 200 and 'id="risk-lost"' in resp.content.decode()
    assert CustomerLoss.objects.get().reason == "own_supply"
