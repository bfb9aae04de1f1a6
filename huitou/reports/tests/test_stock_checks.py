"""Display and stock checks of distributors' accounts (DOMAIN §7): the service with its refusals,
the latest-check flag, the account report's months, the policy flag, the page card and form, the
accounts filter, the API and the xlsx export.

Account A (company, rep1) is checked on 2025-01-10 (good, 8 facings, enough), 2025-01-25
(partial, 4, low), 2025-03-05 (poor, 2, out: 防冻液) and 2026-02-20 (good, 9, enough).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.customers.models import Customer
from huitou.reports import selectors as sel
from huitou.reports import services
from huitou.reports.demo import reports_demo
from huitou.reports.models import StockCheck
from huitou.reports.policy import ReportPolicy
from tests.factories import CustomerFactory

from .conftest import TODAY
from .test_api import Api
from .test_pages import client_for, html, workbook

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY)


def record(actor, customer, day, display, stock, facings=None, out=""):
    return services.stock_check_record(
        actor=actor,
        customer_id=customer.pk,
        checked_on=day,
        display=display,
        stock=stock,
        facings=facings,
        out_of_stock=out,
    )


@pytest.fixture
def checks(data):
    rep1 = data.w.rep1
    record(rep1, data.a, dt.date(2025, 1, 10), "good", "enough", 8)
    record(rep1, data.a, dt.date(2025, 1, 25), "partial", "low", 4)
    record(rep1, data.a, dt.date(2025, 3, 5), "poor", "out", 2, "防冻液")
    record(rep1, data.a, dt.date(2026, 2, 20), "good", "enough", 9)
    return data


def set_policy(org, **values):
    org.policy_data = {"reports": values}
    org.save()


def month_cells(page: str, key: str) -> dict[str, str]:
    row = re.search(rf'<tr data-month="{key}">(.*?)</tr>', page, re.S)
    assert row, key
    return dict(re.findall(r'data-col="(\w+)">([^<]*)<', row.group(1)))


# ---------------------------------------------------------------------------------------------
# Service


def test_record_keeps_one_latest_check_by_day_checked(checks):
    a = checks.a
    assert StockCheck.objects.get(customer=a, is_latest=True).checked_on == dt.date(2026, 2, 20)
    backdated = record(checks.w.manager1, a, dt.date(2025, 6, 1), "good", "low", 5)
    assert backdated.is_latest is False
    assert backdated.checked_by == checks.w.manager1
    same_day = record(checks.w.owner, a, dt.date(2026, 2, 20), "partial", "out", 3, "机油")
    assert same_day.is_latest is True  # the same day: the later entry wins
    assert list(StockCheck.objects.filter(customer=a, is_latest=True).values_list("pk", flat=True)) == [
        same_day.pk
    ]
    assert StockCheck.objects.filter(customer=a).count() == 6


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"checked_on": dt.date(2026, 3, 16)}, {"checked_on"}),
        ({"display": "great"}, {"display"}),
        ({"stock": "plenty"}, {"stock"}),
        ({"facings": 0}, {"facings"}),
        ({"display": "none", "facings": 3}, {"facings"}),
        ({"stock": "out", "out_of_stock": "  "}, {"out_of_stock"}),
        ({"checked_on": dt.date(2027, 1, 1), "stock": "out"}, {"checked_on", "out_of_stock"}),
    ],
)
def test_record_validation_names_the_fields(data, changes, fields):
    kwargs = {"checked_on": TODAY, "display": "good", "stock": "enough", "facings": 6, "out_of_stock": ""}
    with pytest.raises(ValidationFailed) as exc:
        services.stock_check_record(actor=data.w.rep1, customer_id=data.a.pk, **{**kwargs, **changes})
    assert set(exc.value.errors) == fields
    assert not StockCheck.objects.exists()


def test_record_scope(data):
    kwargs = {"customer_id": data.a.pk, "checked_on": TODAY, "display": "good", "stock": "enough"}
    for who in ("rep2", "rep3", "manager2", "other_owner"):
        with pytest.raises(NotFound):
            services.stock_check_record(actor=getattr(data.w, who), **kwargs)
    with pytest.raises(PermissionDenied):
        services.stock_check_record(actor=data.w.dcrc, **kwargs)
    assert not StockCheck.objects.exists()
    services.stock_check_record(actor=data.w.manager1, **kwargs)  # rep1's manager
    assert StockCheck.objects.get().checked_by == data.w.manager1


def test_policy_flag_decides_which_accounts_are_checked(data):
    assert ReportPolicy().stock_checks_for == "companies"
    kwargs = {"checked_on": TODAY, "display": "good", "stock": "enough"}
    with pytest.raises(ValidationFailed) as exc:  # B is a person
        services.stock_check_record(actor=data.w.rep2, customer_id=data.b.pk, **kwargs)
    assert set(exc.value.errors) == {"customer"}
    set_policy(data.w.org, stock_checks_for="all")
    services.stock_check_record(actor=data.w.rep2, customer_id=data.b.pk, **kwargs)
    set_policy(data.w.org, stock_checks_for="none")
    with pytest.raises(ValidationFailed):
        services.stock_check_record(actor=data.w.rep1, customer_id=data.a.pk, **kwargs)
    assert list(StockCheck.objects.values_list("customer_id", flat=True)) == [data.b.pk]


# ---------------------------------------------------------------------------------------------
# Report and page


def test_account_report_months_and_latest(checks):
    report = sel.account_report(checks.w.rep1, checks.a, year=2025, today=TODAY)
    stock = report.stock
    assert stock is not None and stock.checks_in_year == 3
    assert stock.latest.checked_on == dt.date(2026, 2, 20)
    by_month = {m.key: m.check for m in stock.months}
    assert len(by_month) == 12
    jan, feb, mar = by_month["2025-01"], by_month["2025-02"], by_month["2025-03"]
    assert (jan.checked_on, jan.display, jan.facings, jan.stock) == (
        dt.date(2025, 1, 25),
        "partial",
        4,
        "low",
    )
    assert feb is None
    assert (mar.display, mar.stock, mar.out_of_stock) == ("poor", "out", "防冻液")
    assert all(by_month[f"2025-{m:02d}"] is None for m in range(4, 13))
    assert sel.account_report(checks.w.rep2, checks.b, year=2025, today=TODAY).stock is None  # a person


def test_account_page_shows_the_stock_card(checks):
    page = html(client_for(checks.w.rep1).get(reverse("reports:account", args=[checks.a.pk]), {"year": 2025}))
    latest = page.split('id="stock-latest"')[1].split("</div>")[0]
    assert (
        'data-col="checked_on">2026-02-20<' in latest and 'data-col="stock"' in latest and "Enough" in latest
    )
    assert month_cells(page, "2025-01") == {
        "checked_on": "2025-01-25",
        "display": "Partial",
        "facings": "4",
        "stock": "Low",
        "out_of_stock": "—",
    }
    assert month_cells(page, "2025-02")["display"] == "—"
    assert month_cells(page, "2025-03")["out_of_stock"] == "防冻液"
    assert 'id="stock-form"' in page


def test_stock_card_follows_the_policy(checks):
    person = html(client_for(checks.w.rep2).get(reverse("reports:account", args=[checks.b.pk])))
    assert 'id="stock"' not in person
    set_policy(checks.w.org, stock_checks_for="all")
    person = html(client_for(checks.w.rep2).get(reverse("reports:account", args=[checks.b.pk])))
    assert 'id="stock"' in person and "Never checked." in person
    set_policy(checks.w.org, stock_checks_for="none")
    company = html(client_for(checks.w.rep1).get(reverse("reports:account", args=[checks.a.pk])))
    assert 'id="stock"' not in company


def test_dcrc_sees_the_card_without_the_form(checks):
    page = html(client_for(checks.w.dcrc).get(reverse("reports:account", args=[checks.a.pk]), {"year": 2025}))
    assert month_cells(page, "2025-03")["stock"] == "Out of stock"
    assert 'id="stock-form"' not in page


def test_check_recorded_from_the_page(data):
    client = client_for(data.w.rep1)
    response = client.post(
        reverse("reports:stock_check", args=[data.a.pk]),
        {"checked_on": "2026-03-14", "display": "good", "facings": "7", "stock": "low", "year": "2026"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:account", args=[data.a.pk]) + "?year=2026#stock"
    c = StockCheck.objects.get()
    assert (c.checked_on, c.display, c.facings, c.stock, c.checked_by, c.is_latest) == (
        dt.date(2026, 3, 14), "good", 7, "low", data.w.rep1, True,
    )  # fmt: skip
    page = html(client.get(response["Location"]))
    assert month_cells(page, "2026-03")["facings"] == "7"


def test_page_form_errors_sit_beside_their_fields(data):
    response = client_for(data.w.rep1).post(
        reverse("reports:stock_check", args=[data.a.pk]),
        {"checked_on": "2026-03-20", "display": "none", "facings": "2", "stock": "out"},
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert 'data-error="checked_on"' in page and 'data-error="facings"' in page
    assert 'data-error="out_of_stock"' in page
    assert not StockCheck.objects.exists()


def test_page_form_refusals(data):
    body = {"checked_on": "2026-03-14", "display": "good", "stock": "enough"}
    url = reverse("reports:stock_check", args=[data.a.pk])
    assert client_for(data.w.rep2).post(url, body).status_code == 404
    assert client_for(data.w.dcrc).post(url, body).status_code == 403
    person = reverse("reports:stock_check", args=[data.b.pk])
    assert client_for(data.w.rep2).post(person, body).status_code == 403  # policy: companies only
    assert not StockCheck.objects.exists()


# ---------------------------------------------------------------------------------------------
# Accounts list filter


def test_accounts_filter_stock_out_at_last_check(checks, django_assert_max_num_queries):
    w = checks.w
    record(w.rep1, checks.a, dt.date(2026, 3, 1), "poor", "out", 1, "机油")
    g = CustomerFactory(owner=w.rep1, name="庚公司", kind=Customer.Kind.COMPANY)
    record(w.rep1, g, dt.date(2026, 1, 5), "good", "out", 5, "防冻液")
    record(w.rep1, g, dt.date(2026, 3, 2), "good", "enough", 5)  # refilled since
    record(w.rep3, checks.c, dt.date(2026, 3, 3), "partial", "out", 2, "刹车油")
    client = client_for(w.owner)
    with django_assert_max_num_queries(14):
        page = html(client.get(reverse("reports:accounts"), {"year": 2026, "stock_out": "on"}))
    assert sorted(re.findall(r'data-account="(\d+)"', page)) == sorted([str(checks.a.pk), str(checks.c.pk)])
    rep1 = html(client_for(w.rep1).get(reverse("reports:accounts"), {"year": 2026, "stock_out": "on"}))
    assert re.findall(r'data-account="(\d+)"', rep1) == [str(checks.a.pk)]
    everyone = html(client.get(reverse("reports:accounts"), {"year": 2026}))
    assert str(g.pk) in re.findall(r'data-account="(\d+)"', everyone)


# ---------------------------------------------------------------------------------------------
# xlsx


def test_account_xlsx_has_the_display_and_stock_sheet(checks):
    response = client_for(checks.w.rep1).get(
        reverse("reports:account", args=[checks.a.pk]), {"year": 2025, "format": "xlsx"}
    )
    wb = workbook(response)
    rows = list(wb["Display and stock"].iter_rows(values_only=True))
    assert rows[0] == (
        "Month",
        "Checked on",
        "Display",
        "Facings",
        "Stock",
        "Products out of stock",
        "Checked by",
    )
    assert rows[1] == ("2025-01", dt.datetime(2025, 1, 25), "Partial", 4, "Low", None, checks.w.rep1.label)
    assert rows[2][0] == "2025-02" and not any(rows[2][1:])  # not checked in February
    assert rows[3][:6] == ("2025-03", dt.datetime(2025, 3, 5), "Poor", 2, "Out of stock", "防冻液")
    assert rows[-1][:5] == ("Latest check", dt.datetime(2026, 2, 20), "Good", 9, "Enough")


def test_account_xlsx_without_checks_for_a_person(checks):
    response = client_for(checks.w.rep2).get(
        reverse("reports:account", args=[checks.b.pk]), {"format": "xlsx"}
    )
    assert "Display and stock" not in workbook(response).sheetnames


# ---------------------------------------------------------------------------------------------
# API


@pytest.mark.urls("huitou.reports.tests.test_api")
def test_api_record_and_list(checks):
    api = Api(checks.w.rep1)
    r = api.send(
        "post",
        f"/accounts/{checks.a.pk}/stock-checks",
        {"display": "partial", "facings": 3, "stock": "out", "out_of_stock": "雨刮片"},
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["checked_on"], body["display"], body["stock"], body["checked_by"]) == (
        "2026-03-15", "partial", "out", checks.w.rep1.label,
    )  # fmt: skip
    listed = api.get(f"/accounts/{checks.a.pk}/stock-checks").json()
    assert [c["checked_on"] for c in listed] == [
        "2026-03-15",
        "2026-02-20",
        "2025-03-05",
        "2025-01-25",
        "2025-01-10",
    ]
    assert [c["checked_on"] for c in api.get(f"/accounts/{checks.a.pk}/stock-checks", limit=2).json()] == [
        "2026-03-15", "2026-02-20",
    ]  # fmt: skip


@pytest.mark.urls("huitou.reports.tests.test_api")
def test_api_refusals(checks):
    path = f"/accounts/{checks.a.pk}/stock-checks"
    body = {"display": "none", "facings": 2, "stock": "out"}
    bad = Api(checks.w.rep1).send("post", path, body)
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"facings", "out_of_stock"}
    assert Api(checks.w.rep1).send("post", path, {**body, "display": "great"}).status_code == 422
    assert Api(checks.w.rep2).send("post", path, {"display": "good", "stock": "enough"}).status_code == 404
    assert Api(checks.w.dcrc).send("post", path, {"display": "good", "stock": "enough"}).status_code == 403
    assert Api(checks.w.rep2).get(path).status_code == 404
    assert StockCheck.objects.count() == 4


@pytest.mark.urls("huitou.reports.tests.test_api")
def test_api_account_report_and_filter(checks):
    body = Api(checks.w.rep1).get(f"/accounts/{checks.a.pk}", year=2025).json()
    stock = body["stock"]
    assert stock["checks_in_year"] == 3 and stock["latest"]["checked_on"] == "2026-02-20"
    months = {m["key"]: m["check"] for m in stock["months"]}
    assert (months["2025-01"]["display"], months["2025-01"]["facings"]) == ("partial", 4)
    assert months["2025-02"] is None and months["2025-03"]["out_of_stock"] == "防冻液"
    assert Api(checks.w.rep2).get(f"/accounts/{checks.b.pk}", year=2025).json()["stock"] is None
    items = Api(checks.w.owner).get("/accounts", year=2026, stock_out=True).json()["items"]
    assert items == []  # A's latest check (2026-02-20) found enough stock
    record(checks.w.rep1, checks.a, dt.date(2026, 3, 1), "poor", "out", 1, "机油")
    items = Api(checks.w.owner).get("/accounts", year=2026, stock_out=True).json()["items"]
    assert [i["id"] for i in items] == [checks.a.pk]


# ---------------------------------------------------------------------------------------------
# Demo


def test_demo_gives_company_accounts_a_year_of_monthly_checks(org_world):
    w = org_world
    companies = [CustomerFactory(owner=w.rep1, kind=Customer.Kind.COMPANY) for _ in range(3)]
    CustomerFactory(owner=w.rep1)  # a person: no checks
    CustomerFactory(owner=w.rep1, kind=Customer.Kind.COMPANY, status=Customer.Status.PROSPECT)
    counts = reports_demo(organisation=w.org, today=TODAY, seed=3)
    assert counts["stock_checks"] == StockCheck.objects.count() == 36
    for c in companies:
        days = list(
            StockCheck.objects.filter(customer=c).order_by("checked_on").values_list("checked_on", flat=True)
        )
        assert [(d.year, d.month) for d in days] == [(2025, m) for m in range(4, 13)] + [
            (2026, m) for m in (1, 2, 3)
        ]
        assert days[-1] <= TODAY
        latest = StockCheck.objects.get(customer=c, is_latest=True)
        assert latest.checked_on == days[-1]
    out = StockCheck.objects.filter(stock="out")
    assert all(c.out_of_stock for c in out)
    assert not StockCheck.objects.filter(display="none", facings__isnull=False).exists()
    assert reports_demo(organisation=w.org, today=TODAY, seed=3)["stock_checks"] == 0
