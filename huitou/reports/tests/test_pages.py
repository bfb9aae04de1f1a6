"""The report pages: figures shown, scope (404 outside it), both languages, xlsx downloads."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from huitou.reports import exports, views
from huitou.reports.models import WalletEstimate
from tests.factories import CustomerFactory

from .conftest import TODAY

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY)


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
    assert value, f"no column {col}"
    return value.group(1).strip()


def workbook(response):
    assert response.status_code == 200
    return load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)


# ---------------------------------------------------------------------------------------------
# Account report


def test_account_page_shows_months_years_and_receivables_in_english(data):
    page = html(client_for(data.w.rep1).get(reverse("reports:account", args=[data.a.pk]), {"year": 2025}))
    assert '<html lang="en">' in page
    assert "Account report: 甲商贸公司" in page
    assert cell(page, "period", "2025-03", "sales") == "2000.00"
    assert cell(page, "period", "2025-03", "growth_last_year") == "100.0%"
    assert cell(page, "period", "2025-03", "visits_planned") == "2"
    assert cell(page, "period", "2025-03", "visits_done") == "2"
    assert cell(page, "period", "2025", "share_of_wallet") == "25.0%"
    assert cell(page, "period", "2025", "growth_previous") == "250.0%"
    assert cell(page, "period", "2025", "expense_ratio") == "10.3%"
    assert cell(page, "period", "2025", "max_delay") == "50"
    assert cell(page, "promotion", str(data.promo.pk), "lift") == "1200.00"
    assert 'data-col="outstanding">3450.00<' in page
    assert 'data-bucket="2">2000.00<' in page
    assert "31–60 days" in page and "Over 90 days" in page
    assert 'id="month-data"' in page and 'id="year-data"' in page  # the charts' data


def test_account_page_in_chinese(data):
    page = html(
        client_for(data.w.rep1, "zh-hans").get(reverse("reports:account", args=[data.a.pk]), {"year": 2025})
    )
    assert '<html lang="zh-hans">' in page
    assert "门店" in page and "下载 xlsx" in page
    assert cell(page, "period", "2025-03", "sales") == "2000.00"


@pytest.mark.parametrize("who", ["rep2", "rep3", "manager2", "other_owner"])
def test_account_outside_the_scope_is_404(data, who):
    response = client_for(getattr(data.w, who)).get(reverse("reports:account", args=[data.a.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["rep1", "manager1", "owner"])
def test_account_inside_the_scope(data, who):
    response = client_for(getattr(data.w, who)).get(reverse("reports:account", args=[data.a.pk]))
    assert response.status_code == 200


def test_account_xlsx(data):
    response = client_for(data.w.rep1).get(
        reverse("reports:account", args=[data.a.pk]), {"year": 2025, "format": "xlsx"}
    )
    assert response["Content-Disposition"] == f'attachment; filename="account-{data.a.pk}-2025.xlsx"'
    wb = workbook(response)
    months = list(wb["Months"].iter_rows(values_only=True))
    assert months[0] == ("甲商贸公司", "2025")
    assert months[1][:3] == ("Period", "Sales", "Previous period")
    march = months[2 + 2]
    assert march[0] == "2025-03" and Decimal(str(march[1])) == Decimal("2000")
    assert march[5] == 1.0  # growth against March 2024
    years = {r[0]: r for r in wb["Years"].iter_rows(values_only=True)}
    assert years["2025"][7] == 0.25  # share of wallet
    ageing = list(wb["Receivables"].iter_rows(values_only=True))
    assert ageing[0][:5] == ("Current", "1–30 days", "31–60 days", "61–90 days", "Over 90 days")
    assert [float(v) for v in ageing[1]] == [400, 250, 2000, 100, 700, 3450, 3050]
    promos = list(wb["Promotions"].iter_rows(values_only=True))
    assert promos[1][0] == "春季促销" and float(promos[1][7]) == 1200


def test_account_xlsx_is_refused_outside_the_scope(data):
    response = client_for(data.w.rep2).get(reverse("reports:account", args=[data.a.pk]), {"format": "xlsx"})
    assert response.status_code == 404


def test_wallet_estimate_saved_from_the_page(data):
    client = client_for(data.w.rep1)
    response = client.post(
        reverse("reports:wallet_set", args=[data.a.pk]),
        {"year": 2025, "amount": "17500", "source": "customer"},
    )
    assert response.status_code == 302
    e = WalletEstimate.objects.get(customer=data.a, year=2025)
    assert (e.amount, e.source, e.entered_by) == (Decimal("17500.00"), "customer", data.w.rep1)
    page = html(client.get(reverse("reports:account", args=[data.a.pk]), {"year": 2025}))
    assert cell(page, "period", "2025", "share_of_wallet") == "20.0%"


def test_wallet_estimate_refused_for_another_reps_account(data):
    response = client_for(data.w.rep2).post(
        reverse("reports:wallet_set", args=[data.a.pk]), {"year": 2025, "amount": "1", "source": "rep"}
    )
    assert response.status_code == 404
    assert WalletEstimate.objects.get(customer=data.a, year=2025).amount == Decimal("14000.00")


def test_dcrc_may_read_but_not_set_the_wallet(data):
    client = client_for(data.w.dcrc)
    assert client.get(reverse("reports:account", args=[data.a.pk])).status_code == 200
    response = client.post(
        reverse("reports:wallet_set", args=[data.a.pk]), {"year": 2025, "amount": "1", "source": "rep"}
    )
    assert response.status_code == 403
    assert WalletEstimate.objects.get(customer=data.a, year=2025).amount == Decimal("14000.00")


# ---------------------------------------------------------------------------------------------
# Accounts overview


def test_accounts_page_lists_the_reps_accounts_only(data):
    page = html(client_for(data.w.rep1).get(reverse("reports:accounts"), {"year": 2025}))
    assert set(re.findall(r'data-account="(\d+)"', page)) == {str(data.a.pk), str(data.e.pk)}
    assert cell(page, "account", str(data.a.pk), "sales") == "3500.00"
    assert cell(page, "account", str(data.a.pk), "growth") == "250.0%"
    assert cell(page, "account", str(data.a.pk), "share_of_wallet") == "25.0%"
    assert cell(page, "account", str(data.a.pk), "overdue") == "3050.00"
    assert cell(page, "account", str(data.a.pk), "visits_planned") == "2"
    assert cell(page, "account", str(data.a.pk), "visits_done") == "3"


def test_manager_sees_the_team(data):
    page = html(client_for(data.w.manager1, "zh-hans").get(reverse("reports:accounts"), {"year": 2025}))
    assert set(re.findall(r'data-account="(\d+)"', page)) == {str(data.a.pk), str(data.b.pk), str(data.e.pk)}
    assert "全部门店" in page


def test_accounts_filters(data):
    client = client_for(data.w.owner)
    page = html(client.get(reverse("reports:accounts"), {"year": 2025, "kind": "company"}))
    assert set(re.findall(r'data-account="(\d+)"', page)) == {str(data.a.pk), str(data.c.pk)}
    page = html(client.get(reverse("reports:accounts"), {"year": 2025, "rep": data.w.rep2.pk}))
    assert re.findall(r'data-account="(\d+)"', page) == [str(data.b.pk)]


def test_accounts_pages_server_side_with_pinned_queries(data, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for i in range(3):
        CustomerFactory(owner=data.w.rep1, name=f"新客户{i}")
    client = client_for(data.w.rep1)
    first = html(client.get(reverse("reports:accounts"), {"year": 2025}))
    assert len(re.findall(r'data-account="(\d+)"', first)) == 2
    assert "page=2" in first
    seen = set(re.findall(r'data-account="(\d+)"', first))
    # Session, user, choices of the filters (stores, teams, reps), the page (one extra row tells
    # whether there is a next page), the count, then one grouped query per figure.
    with django_assert_max_num_queries(14):
        third = html(client.get(reverse("reports:accounts"), {"year": 2025, "page": 3}))
    last = set(re.findall(r'data-account="(\d+)"', third))
    assert len(last) == 1 and not last & seen


def test_accounts_xlsx_has_every_account_in_scope(data):
    response = client_for(data.w.owner, "zh-hans").get(
        reverse("reports:accounts"), {"year": 2025, "format": "xlsx"}
    )
    with translation.override("zh-hans"):
        sheet_name = translation.gettext("Accounts")
    assert sheet_name != "Accounts"  # the sheet is named in the viewer's language
    rows = list(workbook(response)[sheet_name].iter_rows(values_only=True))
    with translation.override("zh-hans"):
        assert rows[0] == tuple(exports.accounts_header())
    assert rows[0][4] == "门店"
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {data.a.pk, data.b.pk, data.c.pk, data.e.pk}
    a = by_id[data.a.pk]
    assert (a[1], float(a[5]), float(a[6]), a[7], a[9], float(a[11])) == (
        "甲商贸公司",
        3500,
        1000,
        2.5,
        0.25,
        3050,
    )


# ---------------------------------------------------------------------------------------------
# Receivables and funnel


def test_receivables_page(data):
    page = html(client_for(data.w.owner).get(reverse("reports:receivables")))
    total = re.search(r'<tr data-key="total"[^>]*>(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'data-bucket="\d">([^<]*)<', total) == [
        "5400.00",
        "250.00",
        "2000.00",
        "100.00",
        "700.00",
    ]
    assert 'data-col="overdue">3050.00<' in total
    assert cell(page, "key", str(data.w.s2.pk), "outstanding") == "5000.00"
    assert 'id="ageing-data"' in page


def test_receivables_page_for_a_rep_in_chinese(data):
    page = html(client_for(data.w.rep3, "zh-hans").get(reverse("reports:receivables"), {"group": "rep"}))
    assert set(re.findall(r'<tr data-key="(\d+)"', page)) == {str(data.w.rep3.pk)}
    assert "销售顾问" in page and "合计" in page


def test_receivables_xlsx(data):
    response = client_for(data.w.owner).get(reverse("reports:receivables"), {"format": "xlsx"})
    rows = list(workbook(response)["Receivables"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Store", "Current", "1–30 days")
    total = rows[-1]
    assert total[0] == "Total" and [float(v) for v in total[1:8]] == [5400, 250, 2000, 100, 700, 8450, 3050]
    assert total[8:] == (6, 4)


FUNNEL = {"start": "2025-01", "end": "2025-12"}


def test_funnel_page(data):
    page = html(client_for(data.w.owner).get(reverse("reports:funnel"), FUNNEL))
    total = re.search(r'id="funnel-reps".*?<tr data-key="total"[^>]*>(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'data-col="(\w+)">(\d+)', total) == [
        ("leads", "4"), ("verified", "3"), ("contacted", "2"), ("quoted", "1"),
        ("won", "1"), ("prospects", "2"), ("converted", "1"), ("first_purchases", "2"),
    ]  # fmt: skip
    assert 'data-rate="verified">(75.0%)' in total
    assert cell(page, "name", "2025-04", "prospects").startswith("2")
    assert 'id="funnel-data"' in page


def test_funnel_page_rep_and_chinese(data):
    page = html(client_for(data.w.rep3, "zh-hans").get(reverse("reports:funnel"), FUNNEL))
    total = re.search(r'id="funnel-stores".*?<tr data-key="total"[^>]*>(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'data-col="leads">(\d+)', total) == ["1"]
    assert "已核实" in page and "合计" in page


def test_funnel_xlsx(data):
    response = client_for(data.w.owner).get(reverse("reports:funnel"), {**FUNNEL, "format": "xlsx"})
    assert response["Content-Disposition"] == 'attachment; filename="funnel-2025-01-2025-12.xlsx"'
    wb = workbook(response)
    reps = list(wb["Per rep"].iter_rows(values_only=True))
    assert reps[0][:3] == ("Rep", "Referral leads", "Verified")
    assert reps[-1][:9] == ("Total", 4, 3, 2, 1, 1, 2, 1, 2)
    months = {r[0]: r for r in wb["Per month"].iter_rows(values_only=True)}
    assert months["2025-04"][6:8] == (2, 1)


def test_funnel_rejects_a_reversed_period(data):
    page = html(
        client_for(data.w.owner).get(reverse("reports:funnel"), {"start": "2025-06", "end": "2025-01"})
    )
    assert "must not be before the start" in page


@pytest.mark.parametrize("name", ["reports:accounts", "reports:receivables", "reports:funnel"])
def test_pages_need_a_login(name):
    response = Client().get(reverse(name))
    assert response.status_code == 302


def test_the_year_menu_shows_the_year_the_account_report_shows():
    from django.utils import timezone

    from huitou.reports.forms import YearForm

    this_year = timezone.localdate().year
    html = YearForm().as_p()
    assert f'<option value="{this_year}" selected>' in html  # not next year's, the first choice
    assert YearForm().chosen_year() == this_year
