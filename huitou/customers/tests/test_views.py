"""Customer pages: scope, search, masking, 360, edit with audit history, conflicts, translations."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from huitou.customers import services
from huitou.customers.models import Activity, ConfidentialNote, Consent, Customer, OwnedProduct, Purchase
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def make(actor, owner=None, **data):
    data.setdefault("name", "张伟")
    if owner is not None and actor.role != "rep":
        data["owner"] = owner
    return services.customer_create(actor=actor, data=data)


def login(client, user):
    client.force_login(user)
    return client


def result_names(response) -> list[str]:
    html = response.content.decode()
    return re.findall(r'class="fw-semibold">([^<]+)</a>', html)


# --- list ---------------------------------------------------------------------------------


def test_rep_list_shows_only_own_customers(client, org_world):
    w = org_world
    make(w.rep1, name="李娜", phone="13812340001")
    make(w.rep2, name="王芳", phone="13812340002")
    make(w.other_owner, name="赵强", phone="13812340003")
    response = login(client, w.rep1).get(reverse("customers:list"))
    assert response.status_code == 200
    assert result_names(response) == ["李娜"]


def test_search_by_two_character_name(client, org_world):
    w = org_world
    make(w.rep1, name="王小明", phone="13812340001")
    make(w.rep1, name="王芳", phone="13812340002")
    make(w.rep1, name="李小明", phone="13812340003")
    response = login(client, w.rep1).get(reverse("customers:list"), {"q": "小明"})
    assert sorted(result_names(response)) == ["李小明", "王小明"]


def test_search_by_last_four_phone_digits(client, org_world):
    w = org_world
    make(w.rep1, name="王小明", phone="13812345678")
    make(w.rep1, name="王芳", phone="13812340002")
    response = login(client, w.rep1).get(reverse("customers:list"), {"q": "5678"})
    assert result_names(response) == ["王小明"]


def test_filter_by_tier_keeps_only_matching_customers(client, org_world):
    w = org_world
    make(w.rep1, name="金客户", tier="gold")
    make(w.rep1, name="银客户", tier="silver")
    response = login(client, w.rep1).get(reverse("customers:list"), {"tier": "gold"})
    assert result_names(response) == ["金客户"]


def test_htmx_search_returns_only_the_results_table(client, org_world):
    w = org_world
    make(w.rep1, name="王小明")
    response = login(client, w.rep1).get(reverse("customers:list"), {"q": "小明"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert result_names(response) == ["王小明"]
    assert "<html" not in html
    assert 'id="filters"' not in html


@pytest.mark.parametrize("role", ["owner", "manager1"])
def test_phones_are_masked_for_owner_and_manager(client, org_world, role):
    w = org_world
    make(w.rep1, name="王小明", phone="13812345678")
    response = login(client, getattr(w, role)).get(reverse("customers:list"))
    html = response.content.decode()
    assert "138****5678" in html
    assert "13812345678" not in html


def test_phones_are_full_for_the_rep(client, org_world):
    w = org_world
    make(w.rep1, name="王小明", phone="13812345678")
    html = login(client, w.rep1).get(reverse("customers:list")).content.decode()
    assert "13812345678" in html
    assert "138****5678" not in html


def test_list_pagination_shows_range_and_next_link(client, org_world):
    w = org_world
    for i in range(55):
        CustomerFactory(owner=w.rep1, name=f"客户{i:02d}")
    response = login(client, w.rep1).get(reverse("customers:list"))
    html = response.content.decode()
    assert len(result_names(response)) == 50
    assert "第 1–50 条，共 55 条" in html
    assert "page=2" in html
    second = client.get(reverse("customers:list"), {"page": "2"})
    assert len(result_names(second)) == 5


def test_list_query_count_is_pinned(client, org_world, django_assert_max_num_queries):
    w = org_world
    for i in range(30):
        CustomerFactory(owner=w.rep1, store=w.s1, name=f"客户{i:02d}")
    login(client, w.manager1)
    client.get(reverse("customers:list"))  # warm the session
    with django_assert_max_num_queries(7):
        response = client.get(reverse("customers:list"))
    assert len(result_names(response)) == 30


# --- 360 ----------------------------------------------------------------------------------


def test_customer_360_shows_profile_products_purchases_and_timeline(client, org_world):
    w = org_world
    referrer = make(w.rep1, name="推荐人")
    c = make(
        w.rep1,
        name="王小明",
        phone="13812345678",
        wechat="wxm_88",
        form_family="两个孩子",
        birthday_calendar="lunar",
        birthday_lunar_month=8,
        birthday_lunar_day=15,
        source="referral",
        referred_by=referrer,
    )
    services.owned_product_add(
        actor=w.rep1, customer_id=c.pk, data={"vin": "LSVAB2BJ012345678", "plate": "粤B12345"}
    )
    services.purchase_add(
        actor=w.rep1,
        customer_id=c.pk,
        data={"ordered_on": dt.date(2025, 5, 1), "amount": Decimal("150000.00"), "margin": Decimal("9000")},
    )
    html = login(client, w.rep1).get(reverse("customers:detail", args=[c.pk])).content.decode()
    for text in (
        "王小明",
        "wxm_88",
        "两个孩子",
        "LSVAB2BJ012345678",
        "粤B12345",
        "¥150000.00",
        "推荐人",
        "农历 8 月 15 日",
    ):
        assert text in html
    assert reverse("customers:detail", args=[referrer.pk]) in html


def test_customer_360_of_another_reps_customer_is_404(client, org_world):
    w = org_world
    c = make(w.rep2, name="王芳")
    response = login(client, w.rep1).get(reverse("customers:detail", args=[c.pk]))
    assert response.status_code == 404


def test_customer_360_of_another_organisation_is_404(client, org_world):
    w = org_world
    c = make(w.other_owner, name="赵强")
    response = login(client, w.owner).get(reverse("customers:detail", args=[c.pk]))
    assert response.status_code == 404


def test_confidential_notes_shown_to_owner_rep_not_to_dcrc(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明")
    services.confidential_note_add(actor=w.rep1, customer_id=c.pk, body="正在谈离婚")
    assert (
        "正在谈离婚" in login(client, w.rep1).get(reverse("customers:detail", args=[c.pk])).content.decode()
    )
    client.logout()
    html = login(client, w.dcrc).get(reverse("customers:detail", args=[c.pk])).content.decode()
    assert "正在谈离婚" not in html


def test_dcrc_cannot_add_confidential_note(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明")
    response = login(client, w.dcrc).post(reverse("customers:confidential_add", args=[c.pk]), {"body": "x"})
    assert response.status_code == 403
    assert ConfidentialNote.objects.count() == 0


def test_activity_logged_through_htmx_returns_the_new_entry(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明")
    response = login(client, w.rep1).post(
        reverse("customers:activity_add", args=[c.pk]),
        {"kind": "call", "subject": "交车回访", "body": "很满意"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith("<li")
    assert "交车回访" in html
    assert Activity.objects.filter(customer=c, kind="call", subject="交车回访").count() == 1


def test_gift_without_name_is_refused_next_to_the_field(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明")
    response = login(client, w.rep1).post(
        reverse("customers:activity_add", args=[c.pk]),
        {"kind": "gift", "subject": "生日礼物"},
        HTTP_HX_REQUEST="true",
    )
    assert response["HX-Retarget"] == "#activity-form"
    assert 'id="activity-form"' in response.content.decode()
    assert not Activity.objects.filter(customer=c, kind="gift").exists()


def test_activity_on_someone_elses_customer_is_404_and_nothing_logged(client, org_world):
    w = org_world
    c = make(w.rep2, name="王芳")
    response = login(client, w.rep1).post(
        reverse("customers:activity_add", args=[c.pk]), {"kind": "call", "subject": "偷看"}
    )
    assert response.status_code == 404
    assert not Activity.objects.filter(customer=c, kind="call").exists()


def test_consent_withdraw_records_verbal_opt_out(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明")
    response = login(client, w.rep1).post(
        reverse("customers:consent_set", args=[c.pk]),
        {"channel": "sms", "granted": "0"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    consent = Consent.objects.get(customer=c, channel="sms")
    assert (consent.granted, consent.source) == (False, "verbal")


def test_owned_product_added_from_360(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明")
    response = login(client, w.rep1).post(
        reverse("customers:product_add", args=[c.pk]),
        {
            "description": "凯美瑞 2.0G",
            "vin": "lsvab2bj012345678",
            "plate": "粤B12345",
            "delivered_on": "2025-05-01",
        },
    )
    assert response.status_code == 302
    item = OwnedProduct.objects.get(customer=c)
    assert (item.vin, item.plate, item.delivered_on) == ("LSVAB2BJ012345678", "粤B12345", dt.date(2025, 5, 1))


def test_owned_product_with_short_vin_shows_error(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明")
    response = login(client, w.rep1).post(reverse("customers:product_add", args=[c.pk]), {"vin": "ABC"})
    assert response.status_code == 422
    assert not OwnedProduct.objects.filter(customer=c).exists()


def test_purchase_added_from_360(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明")
    response = login(client, w.rep1).post(
        reverse("customers:purchase_add", args=[c.pk]),
        {"ordered_on": "2025-06-01", "kind": "first", "amount": "188000.00", "margin": "", "paid_amount": ""},
    )
    assert response.status_code == 302
    p = Purchase.objects.get(customer=c)
    assert (p.amount, p.margin, p.rep_id) == (Decimal("188000.00"), Decimal("0"), w.rep1.pk)


# --- create and edit ----------------------------------------------------------------------


def _form_data(customer: Customer, **changes) -> dict:
    data = {
        "kind": customer.kind,
        "name": customer.name,
        "gender": customer.gender,
        "phone": customer.phone,
        "wechat": customer.wechat,
        "birthday_calendar": customer.birthday_calendar,
        "source": customer.source,
        "status": customer.status,
        "tier": customer.tier,
        "customer_type": customer.customer_type,
        "store": customer.store_id or "",
        "version": customer.version,
    }
    data.update(changes)
    return data


def test_create_customer_as_rep_makes_them_owner(client, org_world):
    w = org_world
    response = login(client, w.rep1).post(
        reverse("customers:create"),
        {
            "kind": "person",
            "name": "新客户",
            "phone": "138 1234 5678",
            "birthday_calendar": "solar",
            "source": "walk_in",
            "status": "active",
            "tags": "车主, 高尔夫",
        },
    )
    c = Customer.objects.get(name="新客户")
    assert response.status_code == 302
    assert (c.owner_id, c.phone) == (w.rep1.pk, "+8613812345678")
    assert sorted(t.name for t in c.tags.all()) == ["车主", "高尔夫"]


def test_create_with_bad_phone_shows_message_next_to_phone(client, org_world):
    w = org_world
    response = login(client, w.rep1).post(
        reverse("customers:create"),
        {
            "kind": "person",
            "name": "新客户",
            "phone": "12345",
            "birthday_calendar": "solar",
            "source": "walk_in",
            "status": "active",
        },
    )
    form = response.context["form"]
    assert response.status_code == 200
    assert list(form.errors) == ["phone"]
    assert not Customer.objects.filter(name="新客户").exists()


def test_create_with_future_birthday_is_refused(client, org_world):
    w = org_world
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = login(client, w.rep1).post(
        reverse("customers:create"),
        {
            "kind": "person",
            "name": "新客户",
            "birthday": tomorrow.isoformat(),
            "birthday_calendar": "solar",
            "source": "walk_in",
            "status": "active",
        },
    )
    assert list(response.context["form"].errors) == ["birthday"]
    assert not Customer.objects.filter(name="新客户").exists()


def test_create_with_lunar_month_out_of_range_is_refused(client, org_world):
    w = org_world
    client.cookies["django_language"] = "en"
    response = login(client, w.rep1).post(
        reverse("customers:create"),
        {
            "kind": "person",
            "name": "新客户",
            "birthday_calendar": "lunar",
            "birthday_lunar_month": "13",
            "birthday_lunar_day": "1",
            "source": "walk_in",
            "status": "active",
        },
    )
    assert response.context["form"].errors["birthday_lunar_month"] == ["lunar month must be 1–12"]
    assert not Customer.objects.filter(name="新客户").exists()


def test_dcrc_cannot_open_the_create_page(client, org_world):
    response = login(client, org_world.dcrc).get(reverse("customers:create"))
    assert response.status_code == 403


def test_edit_changes_field_and_appears_in_audit_history(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明", phone="13812345678", wechat="old_wx")
    response = login(client, w.rep1).post(
        reverse("customers:edit", args=[c.pk]), _form_data(c, wechat="new_wx", phone="13812345678")
    )
    assert response.status_code == 302
    c.refresh_from_db()
    assert (c.wechat, c.version) == ("new_wx", 2)
    html = client.get(reverse("customers:detail", args=[c.pk])).content.decode()
    history = html.split('id="history"')[1]
    assert "old_wx" in history
    assert "new_wx" in history
    assert "rep1" in history


def test_edit_of_someone_elses_customer_by_guessed_id_is_404_and_nothing_changed(client, org_world):
    w = org_world
    c = make(w.rep2, name="王芳", wechat="keep_me")
    login(client, w.rep1)
    assert client.get(reverse("customers:edit", args=[c.pk])).status_code == 404
    response = client.post(reverse("customers:edit", args=[c.pk]), _form_data(c, wechat="hacked"))
    c.refresh_from_db()
    assert response.status_code == 404
    assert (c.wechat, c.version) == ("keep_me", 1)


def test_edit_with_stale_version_shows_conflict_and_changes_nothing(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明", wechat="first")
    stale = _form_data(c, wechat="mine")
    services.customer_update(actor=w.manager1, customer_id=c.pk, data={"wechat": "theirs"}, version=1)
    client.cookies["django_language"] = "en"
    response = login(client, w.rep1).post(reverse("customers:edit", args=[c.pk]), stale)
    c.refresh_from_db()
    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    assert (c.wechat, c.version) == ("theirs", 2)


def test_aftersales_cannot_edit(client, org_world):
    w = org_world
    c = make(w.rep1, name="王小明", wechat="keep")
    response = login(client, w.aftersales).post(
        reverse("customers:edit", args=[c.pk]), _form_data(c, wechat="x")
    )
    c.refresh_from_db()
    assert response.status_code == 403
    assert c.wechat == "keep"


# --- reassign -----------------------------------------------------------------------------


def test_manager_reassigns_a_leaving_reps_customers(client, org_world):
    w = org_world
    make(w.rep1, name="甲")
    make(w.rep1, name="乙")
    w.rep1.left_at = timezone.now()
    w.rep1.save()
    response = login(client, w.manager1).post(
        reverse("customers:reassign"), {"from_user": w.rep1.pk, "to_user": w.rep2.pk}, follow=True
    )
    assert Customer.objects.filter(owner=w.rep2).count() == 2
    assert "2" in str(next(iter(response.context["messages"])))


def test_rep_cannot_reassign(client, org_world):
    w = org_world
    make(w.rep2, name="甲")
    response = login(client, w.rep1).post(
        reverse("customers:reassign"), {"from_user": w.rep2.pk, "to_user": w.rep1.pk}
    )
    assert response.status_code == 403
    assert Customer.objects.filter(owner=w.rep2).count() == 1


# --- language -----------------------------------------------------------------------------


def test_pages_default_to_chinese(client, org_world):
    html = login(client, org_world.rep1).get(reverse("customers:list")).content.decode()
    assert "新建客户" in html
    assert "New customer" not in html


def test_english_switch_renders_english_labels(client, org_world):
    login(client, org_world.rep1)
    client.post(reverse("set_language"), {"language": "en", "next": reverse("customers:list")})
    html = client.get(reverse("customers:list")).content.decode()
    assert "New customer" in html
    assert "新建客户" not in html


def test_360_page_has_no_duplicate_element_ids(client, org_world):
    """Several forms share the page; a repeated id makes labels and scripts hit the wrong field."""
    c = CustomerFactory(owner=org_world.rep1)
    html = login(client, org_world.rep1).get(reverse("customers:detail", args=[c.pk])).content.decode()
    ids = re.findall(r'\sid="([^"]+)"', html)
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert duplicates == []
