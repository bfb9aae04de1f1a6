"""Each role's home page: its own figures with exact values, each linking to the list it counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from huitou.analytics.models import CustomerValue, ValueFill
from huitou.core.months import month_first, month_start_after
from huitou.dashboards import selectors
from huitou.followups.models import Task
from huitou.referrals.models import Referral, Stage
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory, PurchaseFactory

from .helpers import at, client_for, figure, html, lost, saved, snapshot, task

pytestmark = pytest.mark.django_db


def section(client, key: str) -> str:
    return html(client.get(reverse("dashboards:section", args=[key])))


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def rows(page: str, marker: str) -> int:
    return page.count(marker)


@pytest.fixture
def tasks(org_world):
    """Open overdue: rep1 2, rep2 1, rep3 1. rep1 also has one task due today and one missed."""
    w, today = org_world, timezone.localdate()
    for days in (1, 2):
        task(w.rep1, today - dt.timedelta(days=days))
    task(w.rep2, today - dt.timedelta(days=3))
    task(w.rep3, today - dt.timedelta(days=1))
    task(w.rep1, today)
    task(w.rep1, month_first(today), status=Task.Status.MISSED)
    # Long past due: missed, not overdue (policy contact.missed_after_days = 14).
    task(w.rep1, today - dt.timedelta(days=30))
    return w


# --- rep -------------------------------------------------------------------------------------


def test_each_rep_sees_their_own_overdue_tasks_and_the_list_behind_them(tasks):
    w = tasks
    for rep, expected in ((w.rep1, "2"), (w.rep2, "1")):
        c = client_for(rep)
        page = html(c.get("/"))
        value, url = figure(page, "overdue")
        assert value == expected
        q = query(url)
        assert url.startswith(reverse("followups:task_report"))
        assert q["state"] == "open_overdue" and q["assignee"] == str(rep.pk)
        listed = html(c.get(url))
        assert rows(listed, "<tr data-task=") == int(expected)


def test_rep_tasks_due_by_today_link_to_the_today_page(tasks):
    c = client_for(tasks.rep1)
    page = html(c.get("/"))
    value, url = figure(page, "due_now")
    # 2 overdue + 1 due today + the one 30 days past due, still open.
    assert value == "4"
    assert url == reverse("followups:today")
    missed, missed_url = figure(page, "missed_month")
    assert missed == "1"
    assert rows(html(c.get(missed_url)), "<tr data-task=") == 1


def test_a_reps_own_figures_are_never_stale(tasks):
    c = client_for(tasks.rep1)
    assert figure(html(c.get("/")), "overdue")[0] == "2"
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    Task.objects.filter(assignee=tasks.rep1, due_on=yesterday).update(
        status="done", completed_at=timezone.now()
    )
    assert figure(html(c.get("/")), "overdue")[0] == "1"


def test_a_rep_never_sees_team_or_organisation_figures(tasks):
    c = client_for(tasks.rep1)
    page = html(c.get("/"))
    for key in ("compliance", "retention", "referrals", "value", "queues", "tickets"):
        assert f'id="section-{key}"' not in page
        assert c.get(reverse("dashboards:section", args=[key])).status_code == 403
    assert [k for k, _lazy in selectors.sections_for(tasks.rep1)] == ["tasks", "quota", "risk", "cvp"]


@pytest.fixture
def risk(org_world):
    w, today = org_world, timezone.localdate()
    a1, a2, low = (CustomerFactory(owner=w.rep1) for _ in range(3))
    b1 = CustomerFactory(owner=w.rep2)
    c1 = CustomerFactory(owner=w.rep3)
    snapshot(w.org, today, [(a1, 80), (a2, 60), (low, 10), (b1, 90), (c1, 70)])
    saved(a1, today)
    saved(b1, today)
    saved(c1, month_start_after(today, -2))
    lost(low, today)
    return w


def test_at_risk_customers_saves_and_losses_per_role(risk):
    w = risk
    expected = {"rep1": ("2", "1", "1"), "manager1": ("3", "2", "1"), "owner": ("4", "2", "1")}
    for who, (at_risk, saves, losses) in expected.items():
        c = client_for(getattr(w, who))
        page = section(c, "risk")
        value, url = figure(page, "at_risk")
        assert value == at_risk, who
        assert rows(html(c.get(url)), 'id="risk-row-') == int(at_risk)
        assert figure(page, "saved_month")[0] == saves, who
        assert figure(page, "lost_month")[0] == losses, who


def test_rep_referral_quota_this_month(org_world):
    w, today = org_world, timezone.localdate()
    delivered = today - dt.timedelta(days=90)  # deadline today: pending until met
    met, pending = CustomerFactory(owner=w.rep1), CustomerFactory(owner=w.rep1)
    for customer in (met, pending):
        PurchaseFactory(
            customer=customer, rep=w.rep1, store=customer.store, ordered_on=delivered, kind="first"
        )
    ReferralFactory(
        referrer=met,
        submitted_at=at(today - dt.timedelta(days=1)),
        stage=Stage.VERIFIED,
        verified_at=at(today - dt.timedelta(days=1), 11),
    )
    other = CustomerFactory(owner=w.rep2)
    PurchaseFactory(customer=other, rep=w.rep2, store=other.store, ordered_on=delivered, kind="first")
    c = client_for(w.rep1)
    page = section(c, "quota")
    assert figure(page, "sold")[0] == "2"
    assert figure(page, "met")[0] == "1"
    value, url = figure(page, "pending")
    assert value == "1"
    assert url == reverse("referrals:scorecard") + f"?month={today:%Y-%m}"
    card = html(c.get(url))
    assert 'data-rep="rep1"' in card and 'data-rep="rep2"' not in card


def test_rep_and_team_cvp(org_world):
    from huitou.feedback.services import response_submit, survey_token, surveys_seed
    from huitou.feedback.tests.helpers import answers, customer_of, invitation_for, sale, template

    w = org_world
    surveys_seed(organisation=w.org)
    last = month_start_after(timezone.localdate(), -1)

    def respond(rep, overall):
        inv = invitation_for(sale(customer_of(rep), rep=rep, day=last.replace(day=10)))
        why = {"overall": "不满意"} if overall <= 2 else {}
        response_submit(
            token=survey_token(inv.pk),
            answers=answers(template(w.org), overall=overall, why=why),
            now=timezone.now(),
        )

    respond(w.rep1, 5)
    respond(w.rep1, 3)
    respond(w.rep2, 5)
    respond(w.rep3, 5)
    rep_page = section(client_for(w.rep1), "cvp")
    assert figure(rep_page, "cvp_last_month")[0] == "50.0%"
    assert figure(rep_page, "answers_last_month")[0] == "2"
    team = section(client_for(w.manager1), "cvp")
    value, url = figure(team, "cvp_last_month")
    assert value == "66.7%"
    assert figure(team, "answers_last_month")[0] == "3"
    assert url.startswith(reverse("feedback:cvp"))


# --- manager ---------------------------------------------------------------------------------


def test_manager_sees_the_team_compliance(tasks):
    w = tasks
    c = client_for(w.manager1)
    page = html(c.get("/"))
    # Loaded after the page (it reads the team's month of tasks), like every manager section.
    assert 'hx-get="/home/compliance/"' in page
    assert 'data-figure="overdue"' not in page
    value, url = figure(section(c, "compliance"), "overdue")
    assert value == "3"  # rep1 2 + rep2 1; rep3 is in the other store's team
    assert "assignee" not in query(url)
    assert rows(html(c.get(url)), "<tr data-task=") == 3
    owner = section(client_for(w.owner), "compliance")
    assert figure(owner, "overdue")[0] == "4"


def test_manager_and_owner_referral_growth(org_world):
    w, today = org_world, timezone.localdate()
    first = month_first(today)
    last_month = month_start_after(today, -1)
    a, b = CustomerFactory(owner=w.rep1), CustomerFactory(owner=w.rep3)
    for _ in range(3):
        ReferralFactory(referrer=a, submitted_at=at(first))
    ReferralFactory(referrer=b, submitted_at=at(first))
    for _ in range(2):
        ReferralFactory(referrer=a, submitted_at=at(last_month))
    owner = section(client_for(w.owner), "referrals")
    value, url = figure(owner, "referrals")
    assert value == "4"
    assert figure(owner, "growth")[0] == "100.0%"
    listed = html(client_for(w.owner).get(url))
    assert rows(listed, "<tr data-referral=") == 4
    team = section(client_for(w.manager1), "referrals")
    assert figure(team, "referrals")[0] == "3"
    assert figure(team, "growth")[0] == "50.0%"


def test_the_team_referrals_section_reads_the_sales_without_the_customers(org_world):
    """The section reads sales once (the scorecard's quota, scoped on the sales' own rep); its
    referral figures and won trend read referrals alone. At 1M customers a manager's six months
    of sales joined to their ~100,000 customers cost 605 ms."""
    w, today = org_world, timezone.localdate()
    c = CustomerFactory(owner=w.rep3)
    PurchaseFactory(customer=c, ordered_on=month_first(today), rep=w.rep1, store=w.s2)
    ReferralFactory(referrer=c, submitted_at=at(month_first(today)), rep=w.rep1)
    won = ReferralFactory(referrer=c, submitted_at=at(month_first(today)), rep=w.rep1, store=w.s1)
    Referral.objects.filter(pk=won.pk).update(stage=Stage.WON, closed_at=at(month_first(today)))
    with CaptureQueriesContext(connection) as ctx:
        got = selectors.section_referrals(w.manager1, today)
    sql = [q["sql"] for q in ctx.captured_queries]
    assert [f.value for f in got.figures if f.key == "referrals"] == [2]
    assert got.chart is not None and got.chart.datasets[0]["data"][-1] == 1  # won this month
    # Only the scorecard's quota reads sales; the referral figures and the trend read referrals.
    assert len([q for q in sql if "customers_purchase" in q]) == 1
    assert not [q for q in sql if "customers_customer" in q]


# --- owner -----------------------------------------------------------------------------------


def test_owner_retention_and_churn(org_world):
    w, today = org_world, timezone.localdate()
    start = month_start_after(today, -11)
    before = month_start_after(start, -3)
    kept, gone, new = (CustomerFactory(owner=w.rep1) for _ in range(3))
    PurchaseFactory(customer=kept, ordered_on=before)
    PurchaseFactory(customer=kept, ordered_on=month_start_after(start, 2))
    PurchaseFactory(customer=gone, ordered_on=before)
    PurchaseFactory(customer=new, ordered_on=month_start_after(start, 3))
    page = section(client_for(w.owner), "retention")
    value, url = figure(page, "retention_rate")
    assert value == "50.0%"
    assert figure(page, "churn")[0] == "50.0%"
    assert figure(page, "active")[0] == "2"
    assert figure(page, "new")[0] == "1"
    assert query(url) == {"start": f"{start:%Y-%m}", "end": f"{today:%Y-%m}"}
    assert client_for(w.owner).get(url).status_code == 200


def test_owner_lifetime_value_by_tier(org_world):
    w, today = org_world, timezone.localdate()
    ValueFill.objects.create(organisation=w.org, as_of=today, status="done", started_at=timezone.now())
    for tier, clv in (("gold", "1000"), ("gold", "500"), ("silver", "200")):
        c = CustomerFactory(owner=w.rep1, tier=tier)
        CustomerValue.objects.create(
            organisation=w.org, customer=c, owner=w.rep1, as_of=today, tier=tier, clv=Decimal(clv)
        )
    c = client_for(w.owner, "en")
    page = section(c, "value")
    value, url = figure(page, "clv_gold")
    assert value == "¥1,500.00"
    assert url == reverse("customers:list") + "?tier=gold"
    assert figure(page, "clv_silver")[0] == "¥200.00"
    assert figure(page, "clv_bronze")[0] == "¥0.00"


def test_owner_page_loads_its_sections_after_the_page(org_world):
    page = html(client_for(org_world.owner).get("/"))
    for key, lazy in selectors.sections_for(org_world.owner):
        assert lazy
        assert f'hx-get="{reverse("dashboards:section", args=[key])}"' in page


# --- queues ----------------------------------------------------------------------------------


def test_dcrc_sees_the_audit_queue(org_world):
    w = org_world
    a = CustomerFactory(owner=w.rep1)
    for _ in range(2):
        ReferralFactory(referrer=a, stage=Stage.SUBMITTED)
    ReferralFactory(referrer=a, stage=Stage.VERIFIED)
    c = client_for(w.dcrc)
    page = html(c.get("/"))
    value, url = figure(page, "audit_queue")
    assert value == "2"
    assert rows(html(c.get(url)), "data-referral=") == 2
    assert 'data-figure="phone_audits"' in page
    # After-sales has no audit queue, and neither sees a rep's or the owner's sections.
    after = html(client_for(w.aftersales).get("/"))
    assert 'data-figure="audit_queue"' not in after
    assert 'data-figure="phone_surveys"' in after
    for who in (w.dcrc, w.aftersales):
        assert client_for(who).get(reverse("dashboards:section", args=["tasks"])).status_code == 403
        assert client_for(who).get(reverse("dashboards:section", args=["risk"])).status_code == 403


def test_phone_survey_queue_count(org_world):
    from huitou.feedback.services import surveys_seed
    from huitou.feedback.tests.helpers import customer_of, invitation_for, sale

    w, today = org_world, timezone.localdate()
    surveys_seed(organisation=w.org)
    for rep in (w.rep1, w.rep2, w.rep3):  # rep3's customer is in the other store
        invitation_for(sale(customer_of(rep), rep=rep, day=today - dt.timedelta(days=2)))
    c = client_for(w.aftersales)
    value, url = figure(html(c.get("/")), "phone_surveys")
    assert value == "2"
    assert rows(html(c.get(url)), "<tr data-invitation=") == 2


def test_ticket_counts_for_after_sales(org_world):
    from huitou.feedback import tickets

    w = org_world
    now = timezone.now()
    mine = CustomerFactory(owner=w.rep1)
    for owner_id in (w.aftersales.pk, w.aftersales.pk, None):
        tickets.ticket_open(
            actor=w.aftersales,
            customer_id=mine.pk,
            summary="空调不制冷",
            channel="phone",
            owner_id=owner_id,
            received_at=now,
            now=now,
        )
    other_store = CustomerFactory(owner=w.rep3)
    tickets.ticket_open(actor=w.owner, customer_id=other_store.pk, summary="异响", channel="phone")
    c = client_for(w.aftersales)
    page = section(c, "tickets")
    assert figure(page, "tickets_active")[0] == "3"
    value, url = figure(page, "tickets_mine")
    assert value == "2"
    assert query(url) == {"mine": "on"}
    assert figure(page, "tickets_overdue")[0] == "0"


# --- every role ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "manager1", "rep1", "dcrc", "aftersales"])
def test_every_section_of_every_role_renders_in_both_languages(org_world, who):
    user = getattr(org_world, who)
    for lang in ("zh-hans", "en"):
        c = client_for(user, lang)
        page = html(c.get("/"))
        for key, lazy in selectors.sections_for(user):
            fragment = section(c, key) if lazy else page
            assert f'data-section="{key}"' in fragment


def test_home_in_chinese_by_default(org_world):
    page = html(client_for(org_world.rep1, "zh-hans").get("/"))
    assert 'lang="zh-hans"' in page
    assert "加载中…" in page  # the sections loaded after the page
    with translation.override("en"):
        english = html(client_for(org_world.rep1, "en").get("/"))
    assert "Loading…" in english


def test_anonymous_visitors_go_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# --- cost ------------------------------------------------------------------------------------


def _queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        html(client.get(url))
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("who", "key"),
    [("rep1", "tasks"), ("rep1", "risk"), ("manager1", "compliance"), ("owner", "risk"), ("dcrc", "queues")],
)
def test_sections_cost_the_same_queries_whatever_the_number_of_rows(org_world, who, key):
    """No query per row: ten times the tasks and at-risk customers, the same number of queries."""
    w, today = org_world, timezone.localdate()
    user = getattr(w, who)
    url = reverse("dashboards:section", args=[key])

    def add(n: int, as_of: dt.date) -> None:
        customers = [CustomerFactory(owner=rep) for rep in (w.rep1, w.rep2, w.rep3) for _ in range(n)]
        for c in customers:
            task(c.owner, today - dt.timedelta(days=1), customer=c)
        snapshot(w.org, as_of, [(c, 80) for c in customers])
        for c in customers[::2]:
            ReferralFactory(referrer=c, stage=Stage.SUBMITTED)

    add(1, today - dt.timedelta(days=1))
    c = client_for(user)
    few = _queries(c, url)
    add(10, today)
    from django.core.cache import cache

    cache.clear()
    assert _queries(c, url) == few


def test_the_morning_job_fills_the_owner_figures_and_the_page_reads_them(org_world):
    from huitou.dashboards.tasks import dashboards_warm

    w, today = org_world, timezone.localdate()
    start = month_start_after(today, -11)
    kept = CustomerFactory(owner=w.rep1)
    PurchaseFactory(customer=kept, ordered_on=month_start_after(start, -3))
    PurchaseFactory(customer=kept, ordered_on=month_start_after(start, 2))
    # Two organisations with an owner, two languages, retention and value.
    assert dashboards_warm() == 8
    gone = CustomerFactory(owner=w.rep1)
    PurchaseFactory(customer=gone, ordered_on=month_start_after(start, -3))
    # Kept from the morning: retention does not move within the day.
    assert figure(section(client_for(w.owner), "retention"), "retention_rate")[0] == "100.0%"
    assert (
        selectors.dashboard_section(w.owner, "retention", refresh=True).figure("retention_rate").value == 0.5
    )
