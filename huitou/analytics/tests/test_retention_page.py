"""The retention calculator page: who may see it, exact figures, the xlsx, Chinese, query count."""

from __future__ import annotations

import io
import re

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from huitou.customers.models import Purchase

URL = "/analytics/retention/"
PERIOD = {"start": "2025-07", "end": "2026-06"}


def client_for(user, lang: str = "en") -> Client:
    c = Client(headers={"Accept-Language": lang})
    c.force_login(user)
    return c


def page(user, lang: str = "en", **params) -> str:
    response = client_for(user, lang).get(URL, {**PERIOD, **params})
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def cell(html: str, figure: str, row: str, col: str = "yours") -> str:
    table = re.search(rf'<table[^>]*data-figure="{figure}"[^>]*>(.*?)</table>', html, re.S)
    assert table, f"no figure {figure}"
    tr = re.search(rf'<tr data-row="{row}">(.*?)</tr>', table.group(1), re.S)
    assert tr, f"no row {row}"
    value = re.search(rf'data-col="{col}">([^<]*)<', tr.group(1))
    assert value, f"no cell {col}"
    return value.group(1).strip()


def test_url_name():
    assert reverse("analytics:retention") == URL


def test_owner_page_figures(ret_world):
    html = page(ret_world.w.owner, acquisition_cost="600")
    assert cell(html, "basics", "active_at_start") == "5"
    assert cell(html, "basics", "retained") == "3"
    assert cell(html, "basics", "new_customers") == "2"
    assert cell(html, "basics", "yearly_retention") == "60.0%"
    assert cell(html, "basics", "yearly_churn") == "40.0%"
    assert cell(html, "basics", "yearly_churn", "seed") == "20% (usual)"
    assert cell(html, "basics", "margin_per_year") == "¥4,000"
    assert cell(html, "basics", "lifetime") == "2.5"
    assert cell(html, "basics", "lifetime_value") == "¥10,000"
    assert cell(html, "basics", "lifetime_value_discounted") == "¥8,800"
    assert cell(html, "basics", "repeat_share") == "2.9%"
    assert cell(html, "plus_five", "retention_plus") == "65.0%"
    assert cell(html, "plus_five", "lifetime_plus") == "2.9"
    assert cell(html, "plus_five", "extra_profit") == "¥6,964"
    assert cell(html, "plus_five", "profit_change") == "13.9%"
    assert cell(html, "plus_five", "profit_change", "seed") == "+25%"
    assert cell(html, "halving", "target_churn") == "20.0%"
    assert cell(html, "halving", "lifetime_target") == "5.0"
    assert cell(html, "halving", "value_target") == "¥20,000"
    assert cell(html, "lost", "lifetime_margin") == "¥10,000"
    assert cell(html, "lost", "lifetime_margin", "seed") == "$120"
    assert cell(html, "lost", "total") == "¥9,400"
    assert cell(html, "cost_ratio", "retention") == "¥100"
    assert cell(html, "cost_ratio", "ratio") == "6.0×"
    assert cell(html, "returning", "premium") == "-90.0%"
    assert "Yours: churn 40.0% → 20.0% makes it 2.5 → 5.0 years; lifetime value ¥10,000 → ¥20,000." in html
    assert (
        "Extra profit = 5 customers × (yearly margin ¥4,000 − retention cost ¥100) × "
        "(lifetime 2.9 − 2.5 years) = ¥6,964" in html
    )
    assert 'id="retention-charts"' in html and "chart.umd.min.js" in html


def test_inputs_change_the_figures(ret_world):
    html = page(
        ret_world.w.owner, acquisition_cost="300", retention_cost="150", target_churn="10", discount_rate="0"
    )
    assert cell(html, "cost_ratio", "ratio") == "2.0×"
    assert cell(html, "halving", "lifetime_target") == "10.0"
    assert cell(html, "basics", "lifetime_value_discounted") == "¥10,000"


def test_default_inputs_are_the_seeds(ret_world):
    html = page(ret_world.w.owner)
    assert cell(html, "cost_ratio", "acquisition") == "¥118"
    assert cell(html, "cost_ratio", "retention") == "¥20"  # 118 ÷ 6 = 19.67
    assert "Seed: $118 to attract a new customer" in html


def test_manager_sees_their_store(ret_world):
    html = page(ret_world.w.manager2)
    assert cell(html, "basics", "active_at_start") == "2"
    assert cell(html, "basics", "yearly_retention") == "50.0%"


def test_store_filter(ret_world):
    html = page(ret_world.w.owner, store=str(ret_world.w.s1.pk))
    assert cell(html, "basics", "active_at_start") == "3"


@pytest.mark.parametrize("role", ["rep1", "dcrc", "aftersales"])
def test_other_roles_are_refused(ret_world, role):
    response = client_for(getattr(ret_world.w, role)).get(URL, PERIOD)
    assert response.status_code == 403
    response = client_for(getattr(ret_world.w, role)).get(URL, {**PERIOD, "format": "xlsx"})
    assert response.status_code == 403


def test_anonymous_is_sent_to_log_in(db):
    assert Client().get(URL).status_code == 302


def test_no_customers_says_so(org_world):
    html = page(org_world.owner)
    assert "retention cannot be measured yet" in html
    assert 'data-figure="plus_five"' not in html
    assert cell(html, "cost_ratio", "ratio") == "6.0×"


def test_no_churn_says_the_lifetime_is_capped(org_world):
    from tests.factories import CustomerFactory, PurchaseFactory

    a = CustomerFactory(owner=org_world.rep1)
    PurchaseFactory(customer=a, ordered_on="2025-01-01")
    PurchaseFactory(customer=a, ordered_on="2026-01-01", kind=Purchase.Kind.SERVICE)
    html = page(org_world.owner)
    assert cell(html, "basics", "lifetime") == "50.0"
    assert "so the lifetime is capped at 50 years" in html


def test_wrong_period_is_refused_gently(ret_world):
    html = page(ret_world.w.owner, start="2026-06", end="2025-07")
    assert "must not be before the start" in html


def test_xlsx(ret_world):
    response = client_for(ret_world.w.owner).get(URL, {**PERIOD, "format": "xlsx", "acquisition_cost": "600"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="retention-2025-07-2026-06.xlsx"'
    rows = list(
        load_workbook(io.BytesIO(response.content), read_only=True).active.iter_rows(values_only=True)
    )
    assert rows[0][:2] == ("Retention calculator", "2025-07 – 2026-06")
    assert rows[1] == ("Figure", "Item", "Yours", "Seed")
    by_item = {r[1]: r[2:] for r in rows[2:]}
    assert by_item["Active customers at the start"] == (5, None)
    assert by_item["Yearly retention rate"] == (0.6, None)
    assert by_item["Profit change"] == (0.1393, "+25%")
    assert by_item["Lifetime margin lost"] == (10000, "$120")
    assert by_item["Acquisition ÷ retention"] == (6, "5–6×")


def test_page_query_count(ret_world, django_assert_max_num_queries):
    client = client_for(ret_world.w.manager1)
    with django_assert_max_num_queries(6):
        assert client.get(URL, PERIOD).status_code == 200


def test_page_in_chinese(ret_world):
    html = page(ret_world.w.owner, "zh-hans")
    assert '<html lang="zh-hans">' in html
    assert "客户保留计算器" in html and "保留率提高 5 个百分点" in html
    assert "流失一位客户的代价" in html and "获客成本与保留成本" in html
    assert cell(html, "basics", "yearly_retention") == "60.0%"
    assert "资料：流失率从 20% 降到 10%，客户寿命从 5 年增加到 10 年" in html
    assert "流失率 40.0% → 20.0%，客户寿命 2.5 → 5.0 年" in html
    assert "老客户增加 5%，利润增长 25%" in html
    assert "资料：吸引一位新客户需要 118 美元" in html
