"""Promotions on pages: the list with its figures (scoped), create and edit, the promotion's own
page (figures, effect, chart, tagged purchases), tagging from the account page, the xlsx export
and the update endpoint.

On top of the ``data`` set: promotion 春季促销 (2025-03-01–31, every store and kind) has three
tagged purchases — account A's 1,500 (2025-03-05) and 500 (2025-03-20) of rep1, and account F's
300 (2025-03-15) of rep2; promotion 夏季订货会 (2025-06, store 天河, first purchases) has B's
200,000 (rep2); promotion 冬季订货会 (2026-03-01–31) has nothing tagged.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.customers.models import Customer, Purchase
from huitou.reports import services, views
from huitou.reports.models import Promotion, PromotionPurchase
from tests.factories import CustomerFactory

from .conftest import TODAY, buy
from .test_api import Api
from .test_pages import cell, client_for, html, workbook

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY)


@pytest.fixture
def promos(data):
    w = data.w
    a, b = data.a, data.b
    service = a.purchases.get(ordered_on=dt.date(2025, 3, 20))
    f = CustomerFactory(owner=w.rep2, name="己商行", kind=Customer.Kind.COMPANY, phone="+8613900001111")
    f_march = buy(f, dt.date(2025, 3, 15), "300.00")
    PromotionPurchase.objects.create(organisation=w.org, promotion=data.promo, purchase=service, customer=a)
    PromotionPurchase.objects.create(organisation=w.org, promotion=data.promo, purchase=f_march, customer=f)
    summer = Promotion.objects.create(
        organisation=w.org,
        name="夏季订货会",
        starts_on=dt.date(2025, 6, 1),
        ends_on=dt.date(2025, 6, 30),
        purchase_kinds=["first"],
    )
    summer.stores.set([w.s1])
    b_car = b.purchases.get()
    PromotionPurchase.objects.create(organisation=w.org, promotion=summer, purchase=b_car, customer=b)
    winter = Promotion.objects.create(
        organisation=w.org, name="冬季订货会", starts_on=dt.date(2026, 3, 1), ends_on=dt.date(2026, 3, 31)
    )
    return data, f, summer, winter


def _row_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-promotion="(\d+)"', page)


# ---------------------------------------------------------------------------------------------
# List


def test_promotions_list_figures_for_the_owner(promos):
    data, _f, summer, winter = promos
    page = html(client_for(data.w.owner).get(reverse("reports:promotions")))
    assert _row_ids(page) == [str(winter.pk), str(summer.pk), str(data.promo.pk)]  # newest first
    spring = str(data.promo.pk)
    assert [cell(page, "promotion", spring, c) for c in ("purchases", "accounts", "sales")] == [
        "3", "2", "2300.00",
    ]  # fmt: skip
    assert cell(page, "promotion", spring, "stores") == "All stores"
    assert cell(page, "promotion", spring, "kinds") == "All kinds"
    assert [cell(page, "promotion", str(summer.pk), c) for c in ("stores", "kinds", "sales")] == [
        "天河店", "First purchase", "200000.00",
    ]  # fmt: skip
    assert cell(page, "promotion", str(winter.pk), "purchases") == "0"
    assert cell(page, "promotion", str(winter.pk), "sales") == "0.00"
    assert 'id="new-promotion"' in page
    assert 'id="nav-promotions"' in page


@pytest.mark.parametrize(
    ("who", "spring", "summer"),
    [
        ("rep1", ["2", "1", "2000.00"], ["0", "0", "0.00"]),
        ("rep2", ["1", "1", "300.00"], ["1", "1", "200000.00"]),
        ("rep3", ["0", "0", "0.00"], ["0", "0", "0.00"]),
        ("manager1", ["3", "2", "2300.00"], ["1", "1", "200000.00"]),
    ],
)
def test_promotions_list_counts_only_the_viewers_accounts(promos, who, spring, summer):
    data, _f, summer_promo, _w = promos
    page = html(client_for(getattr(data.w, who)).get(reverse("reports:promotions")))
    cols = ("purchases", "accounts", "sales")
    assert [cell(page, "promotion", str(data.promo.pk), c) for c in cols] == spring
    assert [cell(page, "promotion", str(summer_promo.pk), c) for c in cols] == summer
    assert 'id="new-promotion"' not in page or who == "manager1"


def test_promotions_list_pages_server_side_with_pinned_queries(
    promos, monkeypatch, django_assert_max_num_queries
):
    data, _f, summer, winter = promos
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for i in range(3):
        Promotion.objects.create(
            organisation=data.w.org,
            name=f"旧促销{i}",
            starts_on=dt.date(2024, 1, 1 + i),
            ends_on=dt.date(2024, 2, 1),
        )
    client = client_for(data.w.owner)
    # Session, user, the page (+1 row), the count, the grouped figures, the pages' stores: the same
    # number of queries whatever the page holds.
    with django_assert_max_num_queries(8):
        first = html(client.get(reverse("reports:promotions")))
    assert _row_ids(first) == [str(winter.pk), str(summer.pk)]
    assert "page=2" in first
    with django_assert_max_num_queries(8):
        second = html(client.get(reverse("reports:promotions"), {"page": 2}))
    assert _row_ids(second)[0] == str(data.promo.pk) and len(_row_ids(second)) == 2


def test_promotions_page_needs_a_member(promos, client):
    assert client.get(reverse("reports:promotions")).status_code == 302  # to the login page
    other = client_for(promos[0].w.other_owner)
    assert _row_ids(html(other.get(reverse("reports:promotions")))) == []


def test_promotions_xlsx(promos):
    data, _f, summer, winter = promos
    response = client_for(data.w.rep2).get(reverse("reports:promotions"), {"format": "xlsx"})
    assert response["Content-Disposition"] == 'attachment; filename="promotions.xlsx"'
    rows = list(workbook(response)["Promotions"].iter_rows(values_only=True))
    assert rows[0][:2] == ("Promotion id", "Promotion") and rows[0][-3:] == (
        "Promotion purchases", "Accounts taking part", "Promotion sales",
    )  # fmt: skip
    assert [r[0] for r in rows[1:]] == [winter.pk, summer.pk, data.promo.pk]
    assert rows[2][1:] == (
        "夏季订货会", dt.datetime(2025, 6, 1), dt.datetime(2025, 6, 30), "天河店", "First purchase",
        1, 1, 200000,
    )  # fmt: skip
    assert rows[3][4:] == ("All stores", "All kinds", 1, 1, 300)  # rep2's account F only


# ---------------------------------------------------------------------------------------------
# Create and edit


def test_manager_creates_a_promotion(data):
    client = client_for(data.w.manager1)
    assert html(client.get(reverse("reports:promotion_create"))).count('name="stores"') == 2  # two stores
    response = client.post(
        reverse("reports:promotion_create"),
        {
            "name": " 五一保养节 ",
            "starts_on": "2025-05-01",
            "ends_on": "2025-05-05",
            "stores": [str(data.w.s2.pk)],
            "purchase_kinds": ["service"],
            "note": "工时八折",
        },
    )
    p = Promotion.objects.get(name="五一保养节")
    assert response.status_code == 302 and response["Location"] == reverse("reports:promotion", args=[p.pk])
    assert (p.starts_on, p.ends_on, p.purchase_kinds, p.note) == (
        dt.date(2025, 5, 1), dt.date(2025, 5, 5), ["service"], "工时八折",
    )  # fmt: skip
    assert list(p.stores.all()) == [data.w.s2]


def test_promotion_form_errors_sit_beside_their_fields(data):
    client = client_for(data.w.owner)
    response = client.post(
        reverse("reports:promotion_create"),
        {
            "name": "坏促销",
            "starts_on": "2025-05-05",
            "ends_on": "2025-05-01",
            "stores": [str(data.w.other_store.pk)],
        },
    )
    assert response.status_code == 422
    assert set(response.context["form"].errors) == {"ends_on", "stores"}
    page = response.content.decode()
    assert 'data-error="ends_on"' in page and 'data-error="stores"' in page
    assert not Promotion.objects.filter(name="坏促销").exists()


@pytest.mark.parametrize("who", ["rep1", "dcrc", "aftersales"])
def test_roles_that_may_not_manage_promotions_get_403(data, who):
    client = client_for(getattr(data.w, who))
    assert client.get(reverse("reports:promotion_create")).status_code == 403
    body = {"name": "x", "starts_on": "2025-05-01", "ends_on": "2025-05-02"}
    assert client.post(reverse("reports:promotion_create"), body).status_code == 403
    assert client.post(reverse("reports:promotion_edit", args=[data.promo.pk]), body).status_code == 403
    assert Promotion.objects.get().name == "春季促销"  # nothing created or changed


def test_owner_edits_a_promotion(promos):
    data, *_ = promos
    client = client_for(data.w.owner)
    page = html(client.get(reverse("reports:promotion_edit", args=[data.promo.pk])))
    assert 'value="春季促销"' in page and 'value="2025-03-01"' in page
    response = client.post(
        reverse("reports:promotion_edit", args=[data.promo.pk]),
        {"name": "春季促销(延长)", "starts_on": "2025-03-01", "ends_on": "2025-04-15", "note": "延长"},
    )
    assert response.status_code == 302
    p = Promotion.objects.get(pk=data.promo.pk)
    assert (p.name, p.ends_on, p.note) == ("春季促销(延长)", dt.date(2025, 4, 15), "延长")


def test_edit_that_would_leave_tagged_purchases_outside_is_refused(promos):
    data, *_ = promos
    client = client_for(data.w.owner)
    response = client.post(
        reverse("reports:promotion_edit", args=[data.promo.pk]),
        {
            "name": "春季促销",
            "starts_on": "2025-03-10",
            "ends_on": "2025-03-31",
            "purchase_kinds": ["service"],
        },
    )
    assert response.status_code == 422
    # A's 2025-03-05 purchase falls before the new start; A's and F's expansion purchases are not
    # service visits.
    assert set(response.context["form"].errors) == {"starts_on", "purchase_kinds"}
    p = Promotion.objects.get(pk=data.promo.pk)
    assert (p.starts_on, p.purchase_kinds) == (dt.date(2025, 3, 1), [])


def test_promotion_update_service_validation_and_scope(promos):
    data, _f, summer, _w = promos
    w = data.w
    kwargs = {"name": "夏季订货会", "starts_on": dt.date(2025, 6, 1), "ends_on": dt.date(2025, 6, 30)}
    with pytest.raises(ValidationFailed) as exc:
        services.promotion_update(
            actor=w.owner, promotion_id=summer.pk, **{**kwargs, "ends_on": dt.date(2025, 5, 1)},
            store_ids=[w.other_store.pk], purchase_kinds=["gift"],
        )  # fmt: skip
    assert set(exc.value.errors) == {"ends_on", "store_ids", "purchase_kinds"}
    with pytest.raises(ValidationFailed) as exc:  # B's car was bought at 天河, not 番禺
        services.promotion_update(actor=w.owner, promotion_id=summer.pk, **kwargs, store_ids=[w.s2.pk])
    assert set(exc.value.errors) == {"store_ids"}
    with pytest.raises(PermissionDenied):
        services.promotion_update(actor=w.rep2, promotion_id=summer.pk, **kwargs)
    with pytest.raises(NotFound):
        services.promotion_update(actor=w.other_owner, promotion_id=summer.pk, **kwargs)
    assert list(Promotion.objects.get(pk=summer.pk).stores.all()) == [w.s1]
    p = services.promotion_update(
        actor=w.manager2, promotion_id=summer.pk, **{**kwargs, "name": "夏日订货会"}, purchase_kinds=[]
    )
    assert (p.name, p.purchase_kinds, list(p.stores.all())) == ("夏日订货会", [], [])


def test_promotion_edit_of_another_organisation_is_404(promos):
    data, *_ = promos
    assert (
        client_for(data.w.other_owner)
        .get(reverse("reports:promotion_edit", args=[data.promo.pk]))
        .status_code
        == 404
    )


# ---------------------------------------------------------------------------------------------
# The promotion's page


def _figures(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="(\w+)">([^<]*)<', page))


def test_promotion_page_figures_and_effect(promos):
    data, *_ = promos
    response = client_for(data.w.owner).get(reverse("reports:promotion", args=[data.promo.pk]))
    page = html(response)
    assert _figures(page) == {
        "purchases": "3",
        "accounts": "2",
        "promotion_sales": "2300.00",
        "lift": "1500.00",
        "lift_rate": "187.5%",
    }
    # A and F bought 2,300 in March 2025 against A's 800 in the 31 days before (from 2025-01-29).
    assert (
        "bought 2300.00 in the promotion's days, against 800.00 in the 31 days before it (from 2025-01-29)"
        in page
    )
    chart = json.loads(re.search(r'id="promotion-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert chart["labels"] == ["Days 1–7", "Days 8–14", "Days 15–21", "Days 22–28", "Days 29–35"]
    assert chart["during"] == [1500.0, 0.0, 800.0, 0.0, 0.0]
    assert chart["before"] == [0.0, 800.0, 0.0, 0.0, 0.0]
    assert re.findall(r'<tr data-purchase="(\d+)"', page) == [
        str(pk) for pk in PromotionPurchase.objects.filter(promotion=data.promo)
        .order_by("-purchase__ordered_on").values_list("purchase_id", flat=True)
    ]  # fmt: skip


def test_promotion_page_for_a_rep_counts_their_accounts_only_and_shows_no_phone(promos):
    data, f, *_ = promos
    page = html(client_for(data.w.rep2).get(reverse("reports:promotion", args=[data.promo.pk])))
    assert _figures(page) == {
        "purchases": "1",
        "accounts": "1",
        "promotion_sales": "300.00",
        "lift": "300.00",
        "lift_rate": "—",
    }
    assert re.findall(r'<tr data-purchase="(\d+)"', page) == [str(f.purchases.get().pk)]
    assert "己商行" in page and "甲商贸公司" not in page
    assert "13900001111" not in page and "1111" not in page.split('id="tagged"')[1]


def test_promotion_baseline_days_come_from_the_policy(promos):
    data, *_ = promos
    data.w.org.policy_data = {"reports": {"promotion_baseline_days": 10}}
    data.w.org.save()
    page = html(client_for(data.w.owner).get(reverse("reports:promotion", args=[data.promo.pk])))
    assert _figures(page)["lift"] == "2300.00"  # nothing bought 2025-02-19 to 02-28
    assert "in the 10 days before it (from 2025-02-19)" in page


def test_promotion_page_of_another_organisation_is_404(promos):
    data, *_ = promos
    assert (
        client_for(data.w.other_owner).get(reverse("reports:promotion", args=[data.promo.pk])).status_code
        == 404
    )


def test_promotion_tagged_list_pages(promos, monkeypatch):
    data, *_ = promos
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    client = client_for(data.w.owner)
    first = html(client.get(reverse("reports:promotion", args=[data.promo.pk])))
    second = html(client.get(reverse("reports:promotion", args=[data.promo.pk]), {"page": 2}))
    ids = re.findall(r'<tr data-purchase="(\d+)"', first) + re.findall(r'<tr data-purchase="(\d+)"', second)
    assert len(ids) == len(set(ids)) == 3
    assert _figures(second)["purchases"] == "3"  # the figures cover every page


# ---------------------------------------------------------------------------------------------
# Tagging from the account page


def test_account_page_offers_recent_purchases_and_promotions_running_on_their_days(promos):
    data, _f, summer, winter = promos
    page = html(client_for(data.w.rep1).get(reverse("reports:account", args=[data.a.pk]), {"year": 2026}))
    tag_form = page.split('id="tag-form"')[1].split("</form>")[0]
    options = re.findall(r'name="promotion".*?</select>', tag_form, re.S)[0]
    # The 20 latest purchases go back to 2024-03-10, so every promotion of these days is offered.
    assert re.findall(r'<option value="(\d+)"', options) == [
        str(winter.pk),
        str(summer.pk),
        str(data.promo.pk),
    ]
    march = data.a.purchases.get(ordered_on=dt.date(2026, 3, 10))
    assert f'<option value="{march.pk}"' in tag_form
    p2_row = re.search(rf'<tr data-purchase="{data.p2.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "春季促销" in p2_row and "Untag" in p2_row


def test_tag_and_untag_from_the_account_page(promos):
    data, _f, _s, winter = promos
    client = client_for(data.w.rep1)
    march = data.a.purchases.get(ordered_on=dt.date(2026, 3, 10))
    response = client.post(
        reverse("reports:promotion_tag", args=[data.a.pk]),
        {"purchase": march.pk, "promotion": winter.pk, "year": "2026"},
        follow=True,
    )
    assert "The purchase is tagged with the promotion." in response.content.decode()
    assert PromotionPurchase.objects.get(purchase=march).promotion == winter
    assert cell(response.content.decode(), "period", "2026-03", "promotion_sales") == "400.00"
    response = client.post(
        reverse("reports:promotion_untag", args=[data.a.pk]),
        {"purchase": march.pk, "year": "2026"},
        follow=True,
    )
    assert "The promotion tag was removed." in response.content.decode()
    assert not PromotionPurchase.objects.filter(purchase=march).exists()


def test_tagging_errors_are_shown_as_messages(promos):
    data, _f, _summer, winter = promos
    client = client_for(data.w.rep1)
    feb = data.a.purchases.get(ordered_on=dt.date(2025, 2, 10))
    page = client.post(
        reverse("reports:promotion_tag", args=[data.a.pk]),
        {"purchase": feb.pk, "promotion": winter.pk},
        follow=True,
    ).content.decode()
    assert "the purchase is outside the promotion" in page and "alert-danger" in page
    body = {"purchase": data.p2.pk, "promotion": data.promo.pk}
    page = client.post(reverse("reports:promotion_tag", args=[data.a.pk]), body, follow=True).content.decode()
    assert "The purchase already takes part in a promotion." in page
    assert PromotionPurchase.objects.filter(customer=data.a).count() == 2  # p2 and the service visit


def test_tagging_refused_outside_the_scope_and_for_readers(promos):
    data, _f, _s, winter = promos
    march = data.a.purchases.get(ordered_on=dt.date(2026, 3, 10))
    body = {"purchase": march.pk, "promotion": winter.pk}
    assert (
        client_for(data.w.rep2).post(reverse("reports:promotion_tag", args=[data.a.pk]), body).status_code
        == 404
    )
    assert (
        client_for(data.w.dcrc).post(reverse("reports:promotion_tag", args=[data.a.pk]), body).status_code
        == 403
    )
    untag = {"purchase": data.p2.pk}
    assert (
        client_for(data.w.rep2).post(reverse("reports:promotion_untag", args=[data.a.pk]), untag).status_code
        == 404
    )
    assert not PromotionPurchase.objects.filter(purchase=march).exists()
    assert PromotionPurchase.objects.filter(purchase=data.p2).exists()


# ---------------------------------------------------------------------------------------------
# API: update


@pytest.mark.urls("huitou.reports.tests.test_api")
def test_api_promotion_update(promos):
    data, _f, summer, _w = promos
    body = {
        "name": "夏季订货会",
        "starts_on": "2025-05-20",
        "ends_on": "2025-06-30",
        "store_ids": [data.w.s1.pk],
        "purchase_kinds": ["first", "replacement"],
        "note": "提前",
    }
    r = Api(data.w.owner).send("put", f"/promotions/{summer.pk}", body)
    assert r.status_code == 200, r.content
    assert r.json() == {
        "id": summer.pk, "name": "夏季订货会", "starts_on": "2025-05-20", "ends_on": "2025-06-30",
        "store_ids": [data.w.s1.pk], "purchase_kinds": ["first", "replacement"], "note": "提前",
    }  # fmt: skip
    bad = Api(data.w.owner).send("put", f"/promotions/{summer.pk}", {**body, "ends_on": "2025-05-01"})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"ends_on"}
    assert Api(data.w.rep2).send("put", f"/promotions/{summer.pk}", body).status_code == 403
    assert Api(data.w.other_owner).send("put", f"/promotions/{summer.pk}", body).status_code == 404
    assert Promotion.objects.get(pk=summer.pk).starts_on == dt.date(2025, 5, 20)


def test_promotion_sales_never_exceed_the_tagged_amounts(promos):
    """The list's figure is the sum of the tagged purchases, not of every purchase of the days."""
    data, *_ = promos
    rows = {r.id: r for r in views.sel.promotion_rows(data.w.owner, list(Promotion.objects.all()))}
    assert rows[data.promo.pk].promotion_sales == Decimal("2300.00")
    assert Purchase.objects.filter(ordered_on__range=(dt.date(2025, 3, 1), dt.date(2025, 3, 31))).count() == 3
