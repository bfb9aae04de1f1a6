"""The voucher statistics table (转介绍保养券统计表): exact figures, scope, page, xlsx and API."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from huitou.accounts.services import api_token_create
from huitou.core.errors import ValidationFailed
from huitou.referrals import voucher_selectors as sel
from huitou.referrals.tests.factories import VoucherFactory
from huitou.referrals.views_vouchers import stats_xlsx_header
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
TODAY = dt.date(2025, 6, 15)
FAR = dt.date(2099, 1, 1)
MAY, JUNE = dt.date(2025, 5, 1), dt.date(2025, 6, 1)
PERIOD = {"start": dt.date(2025, 5, 1), "end": dt.date(2025, 6, 30)}


@pytest.fixture(autouse=True)
def _english():
    translation.activate("en")


def at(day, hour=10, minute=0):
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


@pytest.fixture
def book(org_world):
    """Seven vouchers in May and June 2025, one in April, one of another organisation."""
    w = org_world
    c1 = CustomerFactory(owner=w.rep1)  # store 天河店 (s1)
    c3 = CustomerFactory(owner=w.rep3)  # store 番禺店 (s2)
    c2 = CustomerFactory(owner=w.rep2)
    theirs = CustomerFactory(owner=w.other_owner)

    def v(customer, issued_at, value, status="issued", expires_on=FAR, kind="maintenance_voucher"):
        return VoucherFactory(
            customer=customer,
            issued_at=issued_at,
            value=Decimal(value),
            status=status,
            expires_on=expires_on,
            kind=kind,
        )

    # rep1, May (the last one late on 31 May local time, which is still May)
    v(c1, at(dt.date(2025, 5, 3)), "300")
    v(c1, at(dt.date(2025, 5, 20)), "300", status="redeemed")
    v(
        c1,
        at(dt.date(2025, 5, 31), 23, 30),
        "200",
        status="expired",
        expires_on=dt.date(2025, 6, 1),
        kind="offer",
    )
    # rep1, June (the first one ten minutes into 1 June local time, 31 May in UTC)
    v(c1, at(dt.date(2025, 6, 1), 0, 10), "500", status="void", kind="gift_voucher")
    v(c1, at(dt.date(2025, 6, 9)), "300")
    # rep3, June: one redeemed, one past its date but not yet marked expired
    v(c3, at(dt.date(2025, 6, 2)), "300", status="redeemed")
    v(c3, at(dt.date(2025, 6, 3)), "200", expires_on=dt.date(2025, 6, 1), kind="offer")
    # outside: April, and another organisation
    v(c2, at(dt.date(2025, 4, 30)), "300")
    v(theirs, at(dt.date(2025, 5, 5)), "300")
    return w


def flat(row):
    return (
        row.month,
        row.store,
        row.rep,
        *[(row.count(c), row.value(c)) for c in sel.STAT_COLUMNS],
    )


D = Decimal
ROW_MAY_REP1 = (MAY, "天河店", "rep1", (3, D(800)), (1, D(300)), (1, D(200)), (0, D(0)), (1, D(300)))
ROW_JUNE_REP1 = (JUNE, "天河店", "rep1", (2, D(800)), (0, D(0)), (0, D(0)), (1, D(500)), (1, D(300)))
ROW_JUNE_REP3 = (JUNE, "番禺店", "rep3", (2, D(500)), (1, D(300)), (1, D(200)), (0, D(0)), (0, D(0)))


def test_owner_sees_every_store_and_rep_by_month(book):
    rows = sel.voucher_stats(book.owner, today=TODAY, **PERIOD)
    # Ordered by month, then store code (PY before TH), then username.
    assert [flat(r) for r in rows] == [ROW_MAY_REP1, ROW_JUNE_REP3, ROW_JUNE_REP1]
    totals = sel.stats_totals(rows)
    assert [(totals.count(c), totals.value(c)) for c in sel.STAT_COLUMNS] == [
        (7, D(2100)),
        (2, D(600)),
        (2, D(400)),
        (1, D(500)),
        (2, D(600)),
    ]
    assert rows[0].redemption_rate == pytest.approx(1 / 3)


def test_statistics_are_three_queries(book, django_assert_num_queries):
    # The grouped figures, then the names of the stores and reps they credit.
    with django_assert_num_queries(3):
        sel.voucher_stats(book.owner, today=TODAY, **PERIOD)


def test_planner_statistics_match_the_grouping(book):
    """On PostgreSQL, migration 0004's extended statistics cover exactly the month expression the
    statistics group by (else the planner ignores them and sorts on disk at scale)."""
    if connection.vendor != "postgresql":
        pytest.skip("extended statistics exist on PostgreSQL only")
    with CaptureQueriesContext(connection) as captured:
        sel.voucher_stats(book.owner, today=TODAY, **PERIOD)
    grouped = next(q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"])
    zone = re.search(r"DATE_TRUNC\('month', \S+ AT TIME ZONE '([^']+)'\)", grouped)
    assert zone, grouped
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_get_statisticsobjdef(oid), stxkind FROM pg_statistic_ext WHERE stxname = %s",
            ["voucher_stats_groups"],
        )
        definition, kinds = cur.fetchone()
    assert "d" in kinds  # ndistinct
    assert "store_id" in definition and "rep_id" in definition
    assert f"date_trunc('month'::text, (issued_at AT TIME ZONE '{zone.group(1)}'::text))" in definition


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("rep1", [ROW_MAY_REP1, ROW_JUNE_REP1]),
        ("rep3", [ROW_JUNE_REP3]),
        ("rep2", []),
        ("manager1", [ROW_MAY_REP1, ROW_JUNE_REP1]),
        ("manager2", [ROW_JUNE_REP3]),
        ("dcrc", [ROW_MAY_REP1, ROW_JUNE_REP3, ROW_JUNE_REP1]),
        ("aftersales", [ROW_MAY_REP1, ROW_JUNE_REP1]),
    ],
)
def test_scope_by_role(book, who, expected):
    rows = sel.voucher_stats(getattr(book, who), today=TODAY, **PERIOD)
    assert [flat(r) for r in rows] == expected


def test_another_organisation_sees_only_its_own(book):
    rows = sel.voucher_stats(book.other_owner, today=TODAY, **PERIOD)
    assert [flat(r) for r in rows] == [
        (MAY, book.other_store.name, "other_owner", (1, D(300)), (0, D(0)), (0, D(0)), (0, D(0)), (1, D(300)))
    ]


def test_filters_by_store_rep_and_period(book):
    by_store = sel.voucher_stats(book.owner, today=TODAY, store_id=book.s2.pk, **PERIOD)
    assert [flat(r) for r in by_store] == [ROW_JUNE_REP3]
    by_rep = sel.voucher_stats(book.owner, today=TODAY, rep_id=book.rep1.pk, **PERIOD)
    assert [flat(r) for r in by_rep] == [ROW_MAY_REP1, ROW_JUNE_REP1]
    may = sel.voucher_stats(book.owner, today=TODAY, start=dt.date(2025, 5, 1), end=dt.date(2025, 5, 31))
    assert [flat(r) for r in may] == [ROW_MAY_REP1]
    with_april = sel.voucher_stats(
        book.owner, today=TODAY, start=dt.date(2025, 4, 1), end=dt.date(2025, 4, 30)
    )
    assert [(r.month, r.rep, r.count("outstanding")) for r in with_april] == [
        (dt.date(2025, 4, 1), "rep2", 1)
    ]


def test_chart_months_include_empty_ones():
    def row(month, issued):
        return sel.StatsRow(month=month, store_id=1, store="", rep_id=1, rep="", counts={"issued": issued})

    months = sel.stats_by_month(
        [row(dt.date(2025, 3, 1), 2), row(dt.date(2025, 5, 1), 1), row(dt.date(2025, 5, 1), 4)]
    )
    assert [(m.month, m.count("issued")) for m in months] == [
        (dt.date(2025, 3, 1), 2),
        (dt.date(2025, 4, 1), 0),
        (dt.date(2025, 5, 1), 5),
    ]
    assert sel.stats_by_month([]) == []


def test_period_is_checked(book):
    with pytest.raises(ValidationFailed):
        sel.voucher_stats(book.owner, start=dt.date(2025, 6, 1), end=dt.date(2025, 5, 1))
    with pytest.raises(ValidationFailed):
        sel.voucher_stats(book.owner, start=dt.date(2020, 1, 1), end=dt.date(2025, 5, 1))


# --- page and download --------------------------------------------------------------------------


def page_client(user):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def cell(html, row, col):
    tr = re.search(rf'<tr data-row="{re.escape(row)}">(.*?)</tr>', html, re.S)
    assert tr, f"no row {row}"
    found = re.search(rf'data-col="{col}">([^<]*)<', tr.group(1))
    assert found, f"no cell {col}"
    return found.group(1).strip()


def test_statistics_page_table_totals_and_chart(book):
    url = reverse("referrals:voucher_stats")
    response = page_client(book.owner).get(url, {"start": "2025-05-01", "end": "2025-06-30"})
    assert response.status_code == 200
    html = response.content.decode()
    may = f"2025-05|{book.s1.pk}|{book.rep1.pk}"
    assert [
        cell(html, may, c) for c in ("issued", "issued_value", "redeemed", "expired_value", "outstanding")
    ] == [
        "3",
        "800",
        "1",
        "200",
        "1",
    ]
    assert cell(html, may, "rate") == "33%"
    assert [
        cell(html, "total", c) for c in ("issued", "issued_value", "void_value", "outstanding_value")
    ] == [
        "7",
        "2,100",
        "500",
        "600",
    ]
    data = json.loads(re.search(r'id="voucher-chart-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert data["labels"] == ["2025-05", "2025-06"]
    assert {d["key"]: d["data"] for d in data["datasets"]} == {
        "redeemed": [300.0, 300.0],
        "outstanding": [300.0, 300.0],
        "expired": [200.0, 200.0],
        "void": [0.0, 500.0],
    }
    assert "format=xlsx" in html


def test_statistics_page_for_a_rep_shows_their_own(book):
    html = (
        page_client(book.rep3)
        .get(reverse("referrals:voucher_stats"), {"start": "2025-05-01"})
        .content.decode()
    )
    assert cell(html, "total", "issued") == "2"
    assert "天河店" not in re.search(r'id="stats-table".*?</table>', html, re.S).group(0)


def test_statistics_xlsx_reads_back_exactly(book):
    response = page_client(book.owner).get(
        reverse("referrals:voucher_stats"), {"start": "2025-05-01", "end": "2025-06-30", "format": "xlsx"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "voucher-statistics-2025-05-01-2025-06-30.xlsx" in response["Content-Disposition"]
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    ws = wb.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == stats_xlsx_header()
    assert len(rows[0]) == 14
    assert rows[1:] == [
        ["2025-05", "天河店", "rep1", 3, 800, 1, 300, 1, 200, 0, 0, 1, 300, 0.3333],
        ["2025-06", "番禺店", "rep3", 2, 500, 1, 300, 1, 200, 0, 0, 0, 0, 0.5],
        ["2025-06", "天河店", "rep1", 2, 800, 0, 0, 0, 0, 1, 500, 1, 300, 0],
        [rows[4][0], None, None, 7, 2100, 2, 600, 2, 400, 1, 500, 2, 600, 0.2857],
    ]


def test_xlsx_header_is_in_the_site_language():
    """Written in settings.LANGUAGE_CODE (zh-hans) whatever the reader's language."""
    with translation.override("en"):
        header = stats_xlsx_header()
    assert header[1] == "门店"  # "Store", already in the catalogue
    with translation.override("zh-hans"):
        assert header == stats_xlsx_header()


# --- API ----------------------------------------------------------------------------------------


def test_statistics_api(book):
    client = Client()
    headers = {"Authorization": f"Bearer {api_token_create(user=book.manager2)}", "Accept-Language": "en"}
    response = client.get(
        "/api/v1/referrals/vouchers/statistics", {"start": "2025-05-01", "end": "2025-06-30"}, headers=headers
    )
    assert response.status_code == 200
    body = response.json()
    assert [
        (r["month"], r["store"], r["rep"], r["issued"], r["redeemed"], r["expired"]) for r in body["rows"]
    ] == [("2025-06-01", "番禺店", "rep3", 2, 1, 1)]
    assert Decimal(str(body["totals"]["issued_value"])) == Decimal("500")
    assert body["totals"]["redemption_rate"] == 0.5
    bad = client.get(
        "/api/v1/referrals/vouchers/statistics", {"start": "2025-06-30", "end": "2025-05-01"}, headers=headers
    )
    assert bad.status_code == 422
