"""The unified rep scorecard: exact figures per rep for a past month, scope, filters, xlsx."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from huitou.dashboards import scorecard as sc
from huitou.followups.models import Task
from huitou.referrals.models import Stage
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory, PurchaseFactory

from .helpers import at, client_for, html, lost, saved, task

pytestmark = pytest.mark.django_db

JUNE = dt.date(2025, 6, 1)
URL = "/scorecard/"


def cell(page: str, rep: str, col: str) -> str:
    row = re.search(rf'<tr data-rep="{rep}"[^>]*>(.*?)</tr>', page, re.S)
    assert row, f"no row {rep}"
    value = re.search(rf'data-col="{col}">(?:<a href="[^"]*">)?([^<]*)<', row.group(1))
    assert value, f"no cell {col}"
    return value.group(1).strip()


def shown(page: str) -> list[str]:
    return re.findall(r'<tr data-rep="([^"_]+)"', page)


@pytest.fixture
def june(org_world):
    from huitou.feedback.services import response_submit, survey_token, surveys_seed
    from huitou.feedback.tests.helpers import answers, customer_of, invitation_for, sale, template

    w = org_world
    surveys_seed(organisation=w.org)
    # Plan: rep1 2 on time, 1 late, 1 missed; rep2 1 on time; rep3 1 left open (missed by now).
    task(w.rep1, dt.date(2025, 6, 5), Task.Status.DONE, dt.date(2025, 6, 5))
    task(w.rep1, dt.date(2025, 6, 10), Task.Status.DONE, dt.date(2025, 6, 9))
    task(w.rep1, dt.date(2025, 6, 12), Task.Status.DONE, dt.date(2025, 6, 15))
    task(w.rep1, dt.date(2025, 6, 20), Task.Status.MISSED)
    task(w.rep2, dt.date(2025, 6, 3), Task.Status.DONE, dt.date(2025, 6, 3))
    task(w.rep3, dt.date(2025, 6, 18))
    task(w.rep1, dt.date(2025, 7, 1), Task.Status.DONE, dt.date(2025, 7, 1))  # July: not counted
    # Quota: rep1 sold 2 with June deadlines (1 met, 1 missed), 1 verified and 1 won in June;
    # rep3 sold 1, missed.
    a, b = CustomerFactory(owner=w.rep1), CustomerFactory(owner=w.rep1)
    for customer, day in ((a, dt.date(2025, 3, 10)), (b, dt.date(2025, 3, 20))):
        PurchaseFactory(customer=customer, rep=w.rep1, store=customer.store, ordered_on=day, kind="first")
    ReferralFactory(
        referrer=a,
        submitted_at=at(dt.date(2025, 6, 5)),
        stage=Stage.VERIFIED,
        verified_at=at(dt.date(2025, 6, 6)),
    )
    ReferralFactory(
        referrer=a,
        submitted_at=at(dt.date(2025, 5, 1)),
        stage=Stage.WON,
        verified_at=at(dt.date(2025, 5, 1), 11),
        closed_at=at(dt.date(2025, 6, 15)),
    )
    c = CustomerFactory(owner=w.rep3)
    PurchaseFactory(customer=c, rep=w.rep3, store=c.store, ordered_on=dt.date(2025, 3, 15), kind="first")
    # CVP: rep1 one very satisfied of two answers about June deliveries.
    for overall in (5, 4):
        inv = invitation_for(sale(customer_of(w.rep1), rep=w.rep1, day=dt.date(2025, 6, 10)))
        response_submit(
            token=survey_token(inv.pk), answers=answers(template(w.org), overall=overall), now=timezone.now()
        )
    # Saves and losses.
    saved(CustomerFactory(owner=w.rep1), dt.date(2025, 6, 10))
    saved(CustomerFactory(owner=w.rep1), dt.date(2025, 7, 2))  # July
    lost(CustomerFactory(owner=w.rep1), dt.date(2025, 6, 20))
    return w


def test_scorecard_exact_figures(june):
    w = june
    p = w.org.policy.referrals
    page = html(client_for(w.owner).get(URL, {"month": "2025-06"}))
    assert shown(page) == ["rep1", "rep2", "rep3"]
    expected_rep1 = {
        "tasks_due": "4",
        "tasks_on_time": "2",
        "tasks_late": "1",
        "tasks_missed": "1",
        "tasks_overdue": "0",
        "on_time_rate": "50.0%",
        "sold": "2",
        "quota_met": "1",
        "quota_pending": "0",
        "quota_missed": "1",
        "verified": "1",
        "won": "1",
        "faked": "0",
        "cvp_answers": "2",
        "cvp": "50.0%",
        "saved": "1",
        "lost": "1",
        "reward": f"{p.rep_reward_verified + p.rep_reward_won:.2f}",
        "penalty": f"{p.rep_penalty_missed:.2f}",
        "net": f"{p.rep_reward_verified + p.rep_reward_won - p.rep_penalty_missed:.2f}",
    }
    for col, value in expected_rep1.items():
        assert cell(page, "rep1", col) == value, col
    assert cell(page, "rep2", "tasks_on_time") == "1"
    assert cell(page, "rep2", "on_time_rate") == "100.0%"
    assert cell(page, "rep2", "cvp") == "—"
    assert cell(page, "rep3", "tasks_missed") == "1"
    assert cell(page, "rep3", "quota_missed") == "1"
    assert cell(page, "rep3", "penalty") == f"{p.rep_penalty_missed:.2f}"
    assert cell(page, "__total__", "tasks_due") == "6"
    assert cell(page, "__total__", "quota_missed") == "2"
    assert cell(page, "__total__", "on_time_rate") == "50.0%"  # 3 on time of 6 due


def test_the_figures_link_to_their_lists(june):
    w = june
    c = client_for(w.owner)
    page = html(c.get(URL, {"month": "2025-06"}))
    row = re.search(r'<tr data-rep="rep1"[^>]*>(.*?)</tr>', page, re.S).group(1)
    missed = re.search(r'data-col="tasks_missed"><a href="([^"]*)"', row).group(1).replace("&amp;", "&")
    assert f"assignee={w.rep1.pk}" in missed and "state=missed" in missed
    assert html(c.get(missed)).count("<tr data-task=") == 1
    due = re.search(r'data-col="tasks_due"><a href="([^"]*)"', row).group(1).replace("&amp;", "&")
    assert html(c.get(due)).count("<tr data-task=") == 4


def test_each_role_sees_its_rows(june):
    w = june
    assert shown(html(client_for(w.rep1).get(URL, {"month": "2025-06"}))) == ["rep1"]
    # A rep asking for a colleague gets nothing of theirs.
    assert shown(html(client_for(w.rep1).get(URL, {"month": "2025-06", "rep": w.rep2.pk}))) == ["rep1"]
    assert shown(html(client_for(w.manager1).get(URL, {"month": "2025-06"}))) == ["rep1", "rep2"]
    assert shown(html(client_for(w.manager2).get(URL, {"month": "2025-06"}))) == ["rep3"]
    for who in (w.dcrc, w.aftersales):
        assert client_for(who).get(URL).status_code == 403


def test_rep_row_is_the_same_for_the_rep_and_the_owner(june):
    w = june
    mine = sc.rep_scorecard(w.rep1, month=JUNE).rows
    owner = [r for r in sc.rep_scorecard(w.owner, month=JUNE).rows if r.user_id == w.rep1.pk]
    assert mine == owner


def test_filters_store_team_rep(june):
    w = june
    c = client_for(w.owner)
    assert shown(html(c.get(URL, {"month": "2025-06", "team": w.t2.pk}))) == ["rep3"]
    assert shown(html(c.get(URL, {"month": "2025-06", "store": w.s1.pk}))) == ["rep1", "rep2"]
    page = html(c.get(URL, {"month": "2025-06", "rep": w.rep2.pk}))
    assert shown(page) == ["rep2"]
    assert cell(page, "__total__", "tasks_due") == "1"


def test_xlsx_export(june):
    w = june
    p = w.org.policy.referrals
    response = client_for(w.manager1).get(URL, {"month": "2025-06", "format": "xlsx"})
    assert response.status_code == 200
    assert "rep-scorecard-2025-06.xlsx" in response["Content-Disposition"]
    ws = load_workbook(io.BytesIO(response.content)).active
    data = list(ws.values)
    assert data[0][:4] == ("Rep", "Store", "Team", "Tasks due")
    head = list(data[0])
    rep1 = dict(zip(head, data[1], strict=True))
    assert rep1["Rep"] == "rep1"
    assert rep1["Tasks due"] == 4
    assert rep1["On-time rate"] == 0.5
    assert rep1["Quota missed"] == 1
    assert rep1["CVP"] == 0.5
    assert rep1["At-risk customers saved"] == 1
    assert Decimal(str(rep1["Net (¥)"])) == p.rep_reward_verified + p.rep_reward_won - p.rep_penalty_missed
    assert [r[0] for r in data[1:]] == ["rep1", "rep2", "Total"]
    assert data[-1][head.index("Tasks due")] == 5


def test_scorecard_page_in_chinese(june):
    page = html(client_for(june.owner, "zh-hans").get(URL, {"month": "2025-06"}))
    assert 'id="scorecard-table"' in page
    assert 'id="scorecard-chart"' in page


def test_scorecard_link_from_the_home_page(org_world):
    page = html(client_for(org_world.rep1).get("/"))
    assert f'href="{reverse("dashboards:scorecard")}"' in page
    assert f'href="{reverse("dashboards:scorecard")}"' not in html(client_for(org_world.dcrc).get("/"))
