"""The insight pages: figures, scorecard (and its xlsx), base customers, the customer panel."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from huitou.referrals.models import ReferrerProfile, Stage
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def client_for(user, lang: str = "en") -> Client:
    c = Client(headers={"Accept-Language": lang})
    c.force_login(user)
    return c


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def cell(page: str, attr: str, key: str, col: str) -> str:
    row = re.search(rf'<tr data-{attr}="{key}"[^>]*>(.*?)</tr>', page, re.S)
    assert row, f"no row {attr}={key}"
    value = re.search(rf'data-col="{col}">([^<]*)<', row.group(1))
    assert value, f"no cell {col}"
    return value.group(1).strip()


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=SH)


def sale(customer, day, amount="100000", kind="first"):
    return PurchaseFactory(
        customer=customer,
        organisation=customer.organisation,
        ordered_on=day,
        rep=customer.owner,
        store=customer.store,
        amount=Decimal(amount),
        kind=kind,
    )


def ref(referrer, day, stage=Stage.VERIFIED, **kw):
    submitted = at(day)
    if stage in (Stage.VERIFIED, Stage.CONTACTED, Stage.QUOTED, Stage.WON, Stage.LOST):
        kw.setdefault("verified_at", submitted + dt.timedelta(hours=1))
    return ReferralFactory(referrer=referrer, submitted_at=submitted, stage=stage, **kw)


def june_world(w):
    """rep1: 2 sold (1 met, 1 missed), 1 verified and 1 won in June; rep3: 1 sold, missed."""
    a, b = CustomerFactory(owner=w.rep1), CustomerFactory(owner=w.rep1)
    sale(a, dt.date(2025, 3, 10))
    sale(b, dt.date(2025, 3, 20))
    ref(a, dt.date(2025, 6, 5), verified_at=at(dt.date(2025, 6, 6)))  # within a's window, June
    ref(a, dt.date(2025, 5, 1), Stage.WON, closed_at=at(dt.date(2025, 6, 15)))
    c = CustomerFactory(owner=w.rep3)
    sale(c, dt.date(2025, 3, 15))
    return a, b, c


SCORECARD = {"month": "2025-06"}


# --- scorecard -----------------------------------------------------------------------------------


def test_scorecard_page_rows_totals_and_definitions(org_world, django_assert_max_num_queries):
    june_world(org_world)
    client = client_for(org_world.owner)
    with django_assert_max_num_queries(11):
        page = html(client.get(reverse("referrals:scorecard"), SCORECARD))
    assert [cell(page, "rep", "rep1", c) for c in ("sold", "met", "missed", "verified", "won", "faked")] == [
        "2",
        "1",
        "1",
        "1",
        "1",
        "0",
    ]
    # reward 50 + 200 = 250; penalty 50; net 200
    assert [cell(page, "rep", "rep1", c) for c in ("reward", "penalty", "net")] == [
        "250.00",
        "50.00",
        "200.00",
    ]
    assert [cell(page, "rep", "rep3", c) for c in ("sold", "missed", "net")] == ["1", "1", "-50.00"]
    assert [cell(page, "rep", "__total__", c) for c in ("sold", "met", "missed", "net")] == [
        "3",
        "1",
        "2",
        "150.00",
    ]
    assert 'id="scorecard-definitions"' in page and "Reward = verified × ¥50 + won × ¥200" in page
    assert "2025-03-03" in page and "2025-04-01" in page  # the delivery days behind June's deadlines


def test_scorecard_page_scope(org_world):
    june_world(org_world)
    rep_page = html(client_for(org_world.rep1).get(reverse("referrals:scorecard"), SCORECARD))
    assert (
        'data-rep="rep1"' in rep_page
        and 'data-rep="rep2"' not in rep_page
        and 'data-rep="rep3"' not in rep_page
    )
    m2 = html(client_for(org_world.manager2).get(reverse("referrals:scorecard"), SCORECARD))
    assert 'data-rep="rep3"' in m2 and 'data-rep="rep1"' not in m2
    assert client_for(org_world.dcrc).get(reverse("referrals:scorecard")).status_code == 403
    assert client_for(org_world.aftersales).get(reverse("referrals:scorecard")).status_code == 403


def test_scorecard_xlsx_reads_back_with_chinese_headers(org_world):
    june_world(org_world)
    response = client_for(org_world.owner, "zh-hans").get(
        reverse("referrals:scorecard"), {**SCORECARD, "format": "xlsx"}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="scorecard-2025-06.xlsx"'
    wb = load_workbook(io.BytesIO(response.content), read_only=True)
    rows = list(wb["2025-06"].iter_rows(values_only=True))
    assert rows[0][:4] == ("销售顾问", "门店", "小组", "成交客户（截止日在本月）")
    assert rows[0][-3:] == ("奖励（¥）", "罚款（¥）", "净额（¥）")
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["rep1"][3:] == (2, 1, 0, 1, 1, 1, 0, 250, 50, 200)
    assert by_name["rep3"][3:] == (1, 0, 0, 1, 0, 0, 0, 0, 50, -50)
    assert rows[-1][0] == "合计" and rows[-1][3:] == (3, 1, 0, 2, 1, 1, 0, 250, 100, 150)


def test_scorecard_xlsx_of_a_rep_has_only_their_row(org_world):
    june_world(org_world)
    response = client_for(org_world.rep3).get(reverse("referrals:scorecard"), {**SCORECARD, "format": "xlsx"})
    rows = list(
        load_workbook(io.BytesIO(response.content), read_only=True).active.iter_rows(values_only=True)
    )
    assert [r[0] for r in rows[1:]] == ["rep3", "Total"]


def test_scorecard_page_in_chinese(org_world):
    june_world(org_world)
    page = html(client_for(org_world.owner, "zh-hans").get(reverse("referrals:scorecard"), SCORECARD))
    assert '<html lang="zh-hans">' in page
    assert "顾问记分卡" in page and "数字的计算方法" in page and "奖励 = 已核实 × ¥50 + 已成交 × ¥200" in page


# --- insights ------------------------------------------------------------------------------------


def insights_world(w):
    a = CustomerFactory(owner=w.rep1)
    c = CustomerFactory(owner=w.rep3)
    sale(a, dt.date(2025, 3, 2))
    sale(c, dt.date(2025, 3, 5))
    ref(a, dt.date(2025, 3, 10))
    ref(
        a,
        dt.date(2025, 3, 11),
        Stage.WON,
        closed_at=at(dt.date(2025, 3, 25)),
        contacted_at=at(dt.date(2025, 3, 12)),
        quoted_at=at(dt.date(2025, 3, 13)),
    )
    ref(c, dt.date(2025, 4, 20), Stage.SUBMITTED)
    return a, c


PERIOD = {"start": "2025-03", "end": "2025-04"}


def test_insights_page_shows_every_figure(org_world, django_assert_max_num_queries):
    insights_world(org_world)
    client = client_for(org_world.owner)
    with django_assert_max_num_queries(15):
        page = html(client.get(reverse("referrals:insights"), PERIOD))
    s1 = org_world.s1.pk
    assert [cell(page, "store", f'{s1}" data-month="2025-03', c) for c in ("sold", "won", "k")] == [
        "1",
        "1",
        "1.00",
    ]
    assert cell(page, "ref", "deals_per_customer", "ours") == "1.50"  # 3 referrals / 2 sold
    assert cell(page, "ref", "closed_per_customer", "ours") == "0.50"
    assert cell(page, "funnel-rep", str(org_world.rep1.pk), "submitted") == "2"
    assert cell(page, "funnel-rep", str(org_world.rep1.pk), "won").startswith("1")
    assert cell(page, "funnel-store", str(org_world.s2.pk), "verified").startswith("0")
    assert re.search(r'data-bin="0" data-col="referred">1<', page)  # a referred in month 0
    assert re.search(r'data-bin="0" data-col="eligible">2<', page)
    for chart in ("viral-data", "curve-data", "funnel-data"):
        assert f'id="{chart}"' in page
    assert 'id="no-periods"' in page


def test_insights_page_scope_for_a_rep(org_world):
    insights_world(org_world)
    page = html(client_for(org_world.rep3).get(reverse("referrals:insights"), PERIOD))
    assert f'data-store="{org_world.s1.pk}"' not in page
    assert cell(page, "funnel-rep", str(org_world.rep3.pk), "submitted") == "1"
    assert f'data-funnel-rep="{org_world.rep1.pk}"' not in page


def test_insights_page_compares_quota_periods(org_world):
    org_world.org.policy_data = {
        "referrals": {
            "quota_periods": [
                {"starts_on": "2024-01-01", "quota": 5, "label": "一拓五"},
                {"starts_on": "2025-01-01", "quota": 1, "label": "一拓一"},
            ]
        }
    }
    org_world.org.save()
    insights_world(org_world)
    page = html(client_for(org_world.owner, "zh-hans").get(reverse("referrals:insights"), PERIOD))
    assert 'id="periods-table"' in page and "一拓五与一拓一对比" in page
    assert re.search(r'data-period="1" data-col="sales">2<', page)
    assert re.search(r'data-period="1" data-col="referrals">3<', page)
    assert "裂变系数" in page and "转介绍漏斗" in page


def test_insights_page_refuses_a_wrong_period_gently(org_world):
    page = html(
        client_for(org_world.owner).get(reverse("referrals:insights"), {"start": "2025-06", "end": "2025-01"})
    )
    assert "must not be before the start" in page


# --- base customers ------------------------------------------------------------------------------


def test_base_customers_page_ranks_and_pins_queries(org_world, django_assert_max_num_queries):
    day = dt.date(2025, 5, 1)
    made = []
    for i in range(12):
        c = CustomerFactory(owner=org_world.rep1 if i % 2 else org_world.rep3)
        for _ in range(i % 4):
            ref(c, day, Stage.WON)
        ref(c, day, Stage.VERIFIED)
        made.append((c, i % 4))
        brought = CustomerFactory(owner=c.owner, referred_by=c)
        sale(brought, day, amount=str(1000 * (i + 1)))
    ReferrerProfile.objects.create(organisation=org_world.org, customer=made[3][0], referrer_type="honour")
    client = client_for(org_world.owner)
    with django_assert_max_num_queries(11):
        page = html(client.get(reverse("referrals:base_customers")))
    order = [int(x) for x in re.findall(r'<tr data-customer="(\d+)"', page)]
    assert len(order) == 12
    wons = [dict((c.pk, w) for c, w in made)[pk] for pk in order]
    assert wons == sorted(wons, reverse=True)
    assert cell(page, "customer", str(made[3][0].pk), "revenue") == "4000.00"
    assert "Honour-seeking" in page
    rep_page = html(client_for(org_world.rep1).get(reverse("referrals:base_customers")))
    assert len(re.findall(r'<tr data-customer="', rep_page)) == 6


# --- customer panel ------------------------------------------------------------------------------


def chain_world(w):
    z = CustomerFactory(owner=w.rep2, name="老张")
    a = CustomerFactory(owner=w.rep1, name="阿明", referred_by=z)
    b = CustomerFactory(owner=w.rep1, name="阿宝", referred_by=a)
    c = CustomerFactory(owner=w.rep3, name="阿财", referred_by=a)
    d = CustomerFactory(owner=w.rep1, name="阿东", referred_by=b)
    e = CustomerFactory(owner=w.rep1, name="阿娥", referred_by=d)
    for cust, amount in ((a, "100000"), (b, "200000"), (c, "50000"), (d, "300000"), (e, "10000")):
        sale(cust, dt.date(2026, 10, 1), amount=amount)
    ref(a, dt.date(2026, 10, 5), Stage.WON, name="阿宝", customer=b, closed_at=at(dt.date(2026, 10, 20)))
    ref(a, dt.date(2026, 10, 6), Stage.SUBMITTED, name="小李")
    ref(z, dt.date(2026, 9, 1), Stage.WON, name="阿明", customer=a, closed_at=at(dt.date(2026, 9, 20)))
    return {"z": z, "a": a, "b": b, "c": c, "d": d, "e": e}


def test_customer_panel_for_the_owner(org_world, django_assert_max_num_queries):
    p = chain_world(org_world)
    client = client_for(org_world.owner)
    with django_assert_max_num_queries(23):
        page = html(client.get(reverse("referrals:customer_panel", args=[p["a"].pk])))
    tree = re.findall(r'data-customer="(\d*)" data-depth="(\d+)" data-subtree="([\d.]+)"', page)
    assert tree == [
        (str(p["b"].pk), "1", "510000.00"),
        (str(p["d"].pk), "2", "310000.00"),
        (str(p["e"].pk), "3", "10000.00"),
        (str(p["c"].pk), "1", "50000.00"),
    ]
    assert "¥560000.00" in page and "¥660000.00" in page
    assert "老张" in page  # the owner sees who brought this customer
    assert re.findall(r'class="d-flex gap-2 align-items-center referral-made" data-stage="(\w+)"', page) == [
        "submitted",
        "won",
    ]
    assert 'id="referrer-type-form"' in page


def test_customer_panel_hides_people_outside_the_scope(org_world):
    p = chain_world(org_world)
    page = html(client_for(org_world.rep1).get(reverse("referrals:customer_panel", args=[p["a"].pk])))
    assert "阿宝" in page and "阿东" in page
    assert "阿财" not in page and "老张" not in page
    # The referrer (shown as "referred by" and on the path up) and one branch below.
    assert page.count("another customer") == 3
    assert (
        client_for(org_world.rep3).get(reverse("referrals:customer_panel", args=[p["a"].pk])).status_code
        == 404
    )
    dcrc = html(client_for(org_world.dcrc).get(reverse("referrals:customer_panel", args=[p["a"].pk])))
    assert 'id="referrer-type-form"' not in dcrc  # shown, not set


def test_customer_panel_quota_suggestion_and_advice(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    today = timezone.localdate()
    sale(c, today - dt.timedelta(days=10))
    ref(c, today - dt.timedelta(days=5))
    ReferrerProfile.objects.create(organisation=org_world.org, customer=c, refuses_rewards=True)
    page = html(client_for(org_world.rep1).get(reverse("referrals:customer_panel", args=[c.pk])))
    assert 'data-quota="met"' in page
    assert 'data-suggested="honour"' in page and "Refuses rewards for referrals." in page
    assert "stage time and honour awards" in page


def test_customer_panel_pending_quota_counts_the_days_left(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    sale(c, timezone.localdate() - dt.timedelta(days=10))
    ref(c, timezone.localdate(), Stage.SUBMITTED, name="小王")
    page = html(client_for(org_world.rep1).get(reverse("referrals:customer_panel", args=[c.pk])))
    assert 'data-quota="pending"' in page and "pending, 80 days left" in page
    assert "0 of 1 verified referral(s)" in page and "小王" in page
    assert 'id="chain-empty"' in page


def test_forms_show_the_default_months(org_world):
    this_month = timezone.localdate().strftime("%Y-%m")
    page = html(client_for(org_world.owner).get(reverse("referrals:scorecard")))
    assert f'type="month" name="month" value="{this_month}"' in page
    page = html(client_for(org_world.owner).get(reverse("referrals:insights")))
    assert f'type="month" name="end" value="{this_month}"' in page


def test_customer_page_loads_the_panel(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    page = html(client_for(org_world.rep1).get(reverse("customers:detail", args=[c.pk])))
    url = reverse("referrals:customer_panel", args=[c.pk])
    assert f'hx-get="{url}" hx-trigger="load"' in page


# --- setting the referrer type from the panel ----------------------------------------------------


def test_set_type_with_htmx_returns_the_panel(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    client = client_for(org_world.rep1, "zh-hans")
    response = client.post(
        reverse("referrals:referrer_type", args=[c.pk]),
        {"referrer_type": "favour", "asked_for_help": "孩子入学", "version": "0"},
        headers={"HX-Request": "true"},
    )
    page = html(response)
    assert 'data-type="favour"' in page and "求助型" in page
    assert "帮不好就会失去他们" in page  # the advice, in Chinese
    p = ReferrerProfile.objects.get(customer=c)
    assert (p.referrer_type, p.asked_for_help, p.version) == ("favour", "孩子入学", 1)


def test_set_type_stale_version_is_told_and_changes_nothing(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    ReferrerProfile.objects.create(organisation=org_world.org, customer=c, referrer_type="reward", version=3)
    client = client_for(org_world.rep1)
    response = client.post(
        reverse("referrals:referrer_type", args=[c.pk]),
        {"referrer_type": "honour", "version": "2"},
        headers={"HX-Request": "true"},
    )
    page = html(response)
    assert 'id="referrer-type-error"' in page and 'data-type="reward"' in page
    p = ReferrerProfile.objects.get(customer=c)
    assert (p.referrer_type, p.version) == ("reward", 3)


def test_set_type_refusals_change_nothing(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    url = reverse("referrals:referrer_type", args=[c.pk])
    assert client_for(org_world.dcrc).post(url, {"referrer_type": "friend"}).status_code == 403
    assert client_for(org_world.rep2).post(url, {"referrer_type": "friend"}).status_code == 404
    assert client_for(org_world.other_owner).post(url, {"referrer_type": "friend"}).status_code == 404
    assert client_for(org_world.rep1).get(url).status_code == 405
    assert not ReferrerProfile.objects.exists()


def test_set_type_without_htmx_redirects_to_the_customer(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    response = client_for(org_world.manager1).post(
        reverse("referrals:referrer_type", args=[c.pk]), {"referrer_type": "friend", "version": "0"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("customers:detail", args=[c.pk])
    assert ReferrerProfile.objects.get(customer=c).referrer_type == "friend"
