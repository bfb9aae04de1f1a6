"""Customer endpoints: happy paths with exact values, field errors, version conflicts, masking."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from huitou.accounts.services import policy_update
from huitou.customers import services
from huitou.customers.models import Activity, ConfidentialNote, Consent, Customer, OwnedProduct, Purchase
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def zhang(org_world):
    return CustomerFactory(owner=org_world.rep1, name="张伟", phone="+8613812345678")


# ---------------------------------------------------------------- list


def test_list_returns_the_reps_own_customers_with_page_facts(org_world, api_as, zhang):
    CustomerFactory(owner=org_world.rep2, name="李娜")

    body = api_as(org_world.rep1).get("/customers").json()

    assert body == {
        "items": [
            {
                "id": zhang.pk,
                "kind": "person",
                "name": "张伟",
                "phone": "13812345678",
                "owner_id": org_world.rep1.pk,
                "owner_name": "rep1",
                "store_id": org_world.s1.pk,
                "store_name": "天河店",
                "status": "active",
                "tier": "",
                "customer_type": "",
                "source": "walk_in",
                "updated_at": body["items"][0]["updated_at"],
                "version": 1,
            }
        ],
        "page": 1,
        "size": 50,
        "has_next": False,
        "total": 1,
        "total_capped": False,
    }


def test_list_masks_phones_for_the_owner_role_by_default(org_world, api_as, zhang):
    body = api_as(org_world.owner).get("/customers").json()

    assert [c["phone"] for c in body["items"]] == ["138****5678"]


def test_list_shows_full_phones_to_dcrc_by_default(org_world, api_as, zhang):
    body = api_as(org_world.dcrc).get("/customers").json()

    assert [c["phone"] for c in body["items"]] == ["13812345678"]


def test_list_filters_and_pages(org_world, api_as):
    for i in range(3):
        CustomerFactory(owner=org_world.rep1, name=f"金客{i}", tier="gold")
    CustomerFactory(owner=org_world.rep1, name="银客", tier="silver")

    body = api_as(org_world.owner).get("/customers", tier="gold", sort="name", size=2, page=1).json()

    assert [c["name"] for c in body["items"]] == ["金客0", "金客1"]
    assert (body["has_next"], body["total"]) == (True, 3)


def test_list_searches_by_phone_suffix(org_world, api_as, zhang):
    li = CustomerFactory(owner=org_world.rep1, name="李娜", phone="+8613900001111")
    services.search_keys_rebuild(customer_ids=[zhang.pk, li.pk])  # factories bypass the services

    body = api_as(org_world.rep1).get("/customers", q="5678").json()

    assert [c["name"] for c in body["items"]] == ["张伟"]


def test_list_rejects_a_page_size_over_the_cap(org_world, api_as):
    response = api_as(org_world.rep1).get("/customers", size=1000)

    assert response.status_code == 422
    assert response.json() == {
        "detail": "Some values are not valid.",
        "errors": {"size": ["Input should be less than or equal to 200"]},
    }


# ---------------------------------------------------------------- create


def test_create_makes_the_rep_owner_and_normalises_the_phone(org_world, api_as):
    response = api_as(org_world.rep1).post(
        "/customers", {"name": " 王芳 ", "phone": "139 1234 5678", "tier": "gold", "tags": ["VIP"]}
    )

    assert response.status_code == 201
    customer = Customer.objects.get()
    assert (customer.name, customer.phone, customer.tier) == ("王芳", "+8613912345678", "gold")
    assert (customer.owner_id, customer.store_id) == (org_world.rep1.pk, org_world.s1.pk)
    body = response.json()
    assert (body["id"], body["phone"], body["tags"], body["version"]) == (
        customer.pk,
        "13912345678",
        ["VIP"],
        1,
    )


def test_create_reports_field_errors(org_world, api_as):
    response = api_as(org_world.rep1).post("/customers", {"name": "王芳", "phone": "12345"})

    assert response.status_code == 422
    assert response.json() == {
        "detail": "Some values are not valid.",
        "errors": {"phone": ["not a valid phone number: '12345'"]},
    }
    assert Customer.objects.count() == 0


def test_create_requires_a_name(org_world, api_as):
    response = api_as(org_world.rep1).post("/customers", {"phone": "13912345678"})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["name"]
    assert Customer.objects.count() == 0


def test_create_rejects_a_bad_email(org_world, api_as):
    response = api_as(org_world.rep1).post("/customers", {"name": "王芳", "email": "not-an-email"})

    assert response.status_code == 422
    assert response.json()["errors"] == {"email": ["enter a valid e-mail address"]}


def test_create_rejects_an_owner_outside_the_reps_reach(org_world, api_as):
    response = api_as(org_world.rep1).post("/customers", {"name": "王芳", "owner_id": org_world.rep2.pk})

    assert response.status_code == 422
    assert response.json()["errors"] == {"owner_id": ["no such record within your reach"]}
    assert Customer.objects.count() == 0


def test_create_by_owner_assigns_the_given_rep(org_world, api_as):
    response = api_as(org_world.owner).post(
        "/customers", {"name": "王芳", "owner_id": org_world.rep3.pk, "store_id": org_world.s2.pk}
    )

    assert response.status_code == 201
    customer = Customer.objects.get()
    assert (customer.owner_id, customer.store_id) == (org_world.rep3.pk, org_world.s2.pk)


def test_create_refuses_unknown_fields(org_world, api_as):
    response = api_as(org_world.rep1).post("/customers", {"name": "王芳", "organisation_id": 99})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["organisation_id"]


# ---------------------------------------------------------------- 360


def test_detail_returns_profile_products_purchases_and_consents(org_world, api_as, zhang):
    services.owned_product_add(
        actor=org_world.rep1,
        customer_id=zhang.pk,
        data={"vin": "LSVAB2BJ0AB123456", "plate": "粤A·12345", "description": "帕萨特"},
    )
    PurchaseFactory(customer=zhang, amount=Decimal("158000.00"), margin=Decimal("6000.00"))
    services.consent_set(actor=org_world.rep1, customer=zhang, channel="sms", granted=True, source="form")

    body = api_as(org_world.rep1).get(f"/customers/{zhang.pk}").json()

    assert body["customer"]["name"] == "张伟"
    assert [(p["vin"], p["plate"], p["description"]) for p in body["owned_products"]] == [
        ("LSVAB2BJ0AB123456", "粤A12345", "帕萨特")
    ]
    assert [(p["amount"], p["margin"], p["ordered_on"]) for p in body["purchases"]] == [
        ("158000.00", "6000.00", "2025-05-01")
    ]
    assert [(c["channel"], c["granted"], c["source"]) for c in body["consents"]] == [("sms", True, "form")]
    assert (body["confidential_notes"], body["can_edit"]) == ([], True)


def test_detail_shows_confidential_notes_to_the_owner_rep(org_world, api_as, zhang):
    services.confidential_note_add(actor=org_world.rep1, customer_id=zhang.pk, body="正在和竞品谈")

    body = api_as(org_world.rep1).get(f"/customers/{zhang.pk}").json()

    assert [n["body"] for n in body["confidential_notes"]] == ["正在和竞品谈"]


def test_detail_hides_confidential_notes_from_dcrc(org_world, api_as, zhang):
    services.confidential_note_add(actor=org_world.rep1, customer_id=zhang.pk, body="正在和竞品谈")

    body = api_as(org_world.dcrc).get(f"/customers/{zhang.pk}").json()

    assert (body["confidential_notes"], body["can_edit"]) == (None, False)


def test_detail_masks_the_phone_for_the_owner_role(org_world, api_as, zhang):
    body = api_as(org_world.owner).get(f"/customers/{zhang.pk}").json()

    assert body["customer"]["phone"] == "138****5678"


def test_detail_of_a_guessed_id_is_404(org_world, api_as):
    response = api_as(org_world.owner).get("/customers/999999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "errors": {}}


# ---------------------------------------------------------------- update


def test_patch_changes_only_the_fields_sent_and_bumps_the_version(org_world, api_as, zhang):
    response = api_as(org_world.rep1).patch(
        f"/customers/{zhang.pk}", {"version": 1, "tier": "gold", "city": "广州"}
    )

    assert response.status_code == 200
    assert (response.json()["tier"], response.json()["city"], response.json()["version"]) == (
        "gold",
        "广州",
        2,
    )
    zhang.refresh_from_db()
    assert (zhang.tier, zhang.city, zhang.name, zhang.version) == ("gold", "广州", "张伟", 2)


def test_patch_with_a_stale_version_is_409_and_changes_nothing(org_world, api_as, zhang):
    services.customer_update(actor=org_world.rep1, customer_id=zhang.pk, data={"city": "深圳"}, version=1)

    response = api_as(org_world.rep1).patch(f"/customers/{zhang.pk}", {"version": 1, "city": "广州"})

    assert response.status_code == 409
    assert response.json()["detail"] == "This record was changed by someone else; reload it and try again."
    zhang.refresh_from_db()
    assert (zhang.city, zhang.version) == ("深圳", 2)


def test_patch_with_a_bad_phone_is_422_and_changes_nothing(org_world, api_as, zhang):
    response = api_as(org_world.rep1).patch(f"/customers/{zhang.pk}", {"version": 1, "phone": "12"})

    assert response.status_code == 422
    assert response.json()["errors"] == {"phone": ["not a valid phone number: '12'"]}
    zhang.refresh_from_db()
    assert (zhang.phone, zhang.version) == ("+8613812345678", 1)


def test_patch_requires_the_version(org_world, api_as, zhang):
    response = api_as(org_world.rep1).patch(f"/customers/{zhang.pk}", {"city": "广州"})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["version"]


def test_patch_can_set_and_clear_a_reference(org_world, api_as, zhang):
    referrer = CustomerFactory(owner=org_world.rep1, name="推荐人")
    api_as(org_world.rep1).patch(f"/customers/{zhang.pk}", {"version": 1, "referred_by_id": referrer.pk})

    response = api_as(org_world.rep1).patch(f"/customers/{zhang.pk}", {"version": 2, "referred_by_id": None})

    assert response.status_code == 200
    zhang.refresh_from_db()
    assert (zhang.referred_by_id, zhang.version) == (None, 3)


def test_patch_by_dcrc_is_403_and_changes_nothing(org_world, api_as, zhang):
    response = api_as(org_world.dcrc).patch(f"/customers/{zhang.pk}", {"version": 1, "city": "广州"})

    assert response.status_code == 403
    zhang.refresh_from_db()
    assert (zhang.city, zhang.version) == ("", 1)


# ---------------------------------------------------------------- timeline, activities, history


def test_timeline_lists_touches_newest_first(org_world, api_as, zhang):
    at = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
    services.activity_log(
        actor=org_world.rep1, customer_id=zhang.pk, kind="call", subject="回访", occurred_at=at
    )
    services.activity_log(
        actor=org_world.rep1,
        customer_id=zhang.pk,
        kind="gift",
        subject="生日礼物",
        gift_name="茶叶",
        occurred_at=at + dt.timedelta(days=1),
    )

    body = api_as(org_world.rep1).get(f"/customers/{zhang.pk}/timeline", size=2).json()

    assert [(a["kind"], a["subject"], a["gift_name"], a["user_name"]) for a in body["items"]] == [
        ("gift", "生日礼物", "茶叶", "rep1"),
        ("call", "回访", "", "rep1"),
    ]
    assert (body["page"], body["size"], body["has_next"]) == (1, 2, False)


def test_timeline_filters_by_kind(org_world, api_as, zhang):
    services.activity_log(actor=org_world.rep1, customer_id=zhang.pk, kind="call", subject="回访")
    services.activity_log(actor=org_world.rep1, customer_id=zhang.pk, kind="sms", subject="保养提醒")

    body = api_as(org_world.rep1).get(f"/customers/{zhang.pk}/timeline", kind="sms").json()

    assert [a["subject"] for a in body["items"]] == ["保养提醒"]


def test_log_activity(org_world, api_as, zhang):
    response = api_as(org_world.dcrc).post(
        f"/customers/{zhang.pk}/activities",
        {
            "kind": "call",
            "subject": "满意度回访",
            "body": "非常满意",
            "occurred_at": "2026-03-01T10:00:00+08:00",
        },
    )

    assert response.status_code == 201
    activity = Activity.objects.get(customer=zhang)
    assert (activity.kind, activity.subject, activity.body, activity.user_id) == (
        "call",
        "满意度回访",
        "非常满意",
        org_world.dcrc.pk,
    )
    assert activity.occurred_at == dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
    assert response.json()["id"] == activity.pk


def test_log_gift_without_its_name_is_422(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/activities", {"kind": "gift", "subject": "礼物"}
    )

    assert response.status_code == 422
    assert response.json()["errors"] == {"gift_name": ["say which gift was given"]}
    assert Activity.objects.filter(customer=zhang).count() == 0


def test_history_shows_who_changed_what(org_world, api_as, zhang):
    api_as(org_world.rep1).patch(f"/customers/{zhang.pk}", {"version": 1, "tier": "gold"})

    body = api_as(org_world.rep1).get(f"/customers/{zhang.pk}/history").json()

    assert (body[0]["user"], body[0]["type"], body[0]["changes"]) == (
        "rep1",
        "~",
        [{"field": "tier", "old": "", "new": "gold"}],
    )
    assert len(body) == 2


# ---------------------------------------------------------------- consents, products, purchases, notes


def test_record_an_opt_out(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/consents", {"channel": "sms", "granted": False, "source": "sms_reply"}
    )

    assert response.status_code == 200
    consent = Consent.objects.get(customer=zhang)
    assert (consent.channel, consent.granted, consent.source, consent.recorded_by_id) == (
        "sms",
        False,
        "sms_reply",
        org_world.rep1.pk,
    )
    assert response.json()["granted"] is False


def test_consent_with_an_unknown_channel_is_422(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/consents", {"channel": "fax", "granted": True}
    )

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["channel"]
    assert Consent.objects.count() == 0


def test_add_an_owned_vehicle(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/owned-products",
        {"vin": "lsvab2bj0ab123456", "plate": "粤A·12345", "delivered_on": "2025-05-01", "mileage_km": 12000},
    )

    assert response.status_code == 201
    item = OwnedProduct.objects.get(customer=zhang)
    assert (item.vin, item.plate, item.delivered_on, item.mileage_km) == (
        "LSVAB2BJ0AB123456",
        "粤A12345",
        dt.date(2025, 5, 1),
        12000,
    )
    assert response.json()["vin"] == "LSVAB2BJ0AB123456"


def test_owned_vehicle_with_a_short_vin_is_422(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(f"/customers/{zhang.pk}/owned-products", {"vin": "LSVAB2BJ0"})

    assert response.status_code == 422
    assert response.json()["errors"] == {"vin": ["a VIN has 17 characters"]}
    assert OwnedProduct.objects.count() == 0


def test_record_a_purchase(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/purchases",
        {"ordered_on": "2026-02-01", "kind": "replacement", "amount": "215000.00", "margin": "8000.50"},
    )

    assert response.status_code == 201
    purchase = Purchase.objects.get(customer=zhang)
    assert (purchase.kind, purchase.amount, purchase.margin, purchase.rep_id, purchase.store_id) == (
        "replacement",
        Decimal("215000.00"),
        Decimal("8000.50"),
        org_world.rep1.pk,
        org_world.s1.pk,
    )
    assert (response.json()["amount"], response.json()["margin"]) == ("215000.00", "8000.50")


def test_purchase_with_a_negative_amount_is_422(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/purchases", {"ordered_on": "2026-02-01", "amount": "-1"}
    )

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["amount"]
    assert Purchase.objects.count() == 0


def test_add_a_confidential_note(org_world, api_as, zhang):
    response = api_as(org_world.manager1).post(
        f"/customers/{zhang.pk}/confidential-notes", {"body": "家里有变故,暂缓推销"}
    )

    assert response.status_code == 201
    note = ConfidentialNote.objects.get(customer=zhang)
    assert (note.body, note.author_id) == ("家里有变故,暂缓推销", org_world.manager1.pk)
    assert response.json()["author_name"] == "manager1"


def test_aftersales_cannot_add_a_confidential_note(org_world, api_as, zhang):
    response = api_as(org_world.aftersales).post(f"/customers/{zhang.pk}/confidential-notes", {"body": "x"})

    assert response.status_code == 403
    assert ConfidentialNote.objects.count() == 0


# ---------------------------------------------------------------- reassign


def test_reassign_all_of_a_reps_customers(org_world, api_as, zhang):
    other = CustomerFactory(owner=org_world.rep1, name="李娜")

    response = api_as(org_world.manager1).post(
        "/customers/reassign", {"from_user_id": org_world.rep1.pk, "to_user_id": org_world.rep2.pk}
    )

    assert response.json() == {"moved": 2}
    assert set(Customer.objects.filter(owner=org_world.rep2).values_list("pk", flat=True)) == {
        zhang.pk,
        other.pk,
    }


def test_reassign_naming_a_customer_out_of_reach_moves_nothing(org_world, api_as, zhang):
    far = CustomerFactory(owner=org_world.rep3, name="远方")

    response = api_as(org_world.manager1).post(
        "/customers/reassign",
        {
            "from_user_id": org_world.rep1.pk,
            "to_user_id": org_world.rep2.pk,
            "customer_ids": [zhang.pk, far.pk],
        },
    )

    assert response.status_code == 404
    zhang.refresh_from_db()
    assert (zhang.owner_id, zhang.version) == (org_world.rep1.pk, 1)


def test_reassign_to_a_rep_outside_the_managers_reach_is_422(org_world, api_as, zhang):
    response = api_as(org_world.manager1).post(
        "/customers/reassign", {"from_user_id": org_world.rep1.pk, "to_user_id": org_world.rep3.pk}
    )

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["to_user_id"]
    zhang.refresh_from_db()
    assert zhang.owner_id == org_world.rep1.pk


# ---------------------------------------------------------------- policy affects masking


def test_owner_sees_full_phones_once_policy_unmasks_the_role(org_world, api_as, zhang):
    policy_update(actor=org_world.owner, data={"archive": {"unmasked_phone_roles": ["owner"]}}, version=1)

    assert api_as(org_world.owner).get("/customers").json()["items"][0]["phone"] == "13812345678"
    assert api_as(org_world.rep1).get("/customers").json()["items"][0]["phone"] == "138****5678"


def test_patch_of_someone_elses_customer_is_404_before_any_field_check(org_world, api_as, zhang):
    response = api_as(org_world.rep2).patch(
        f"/customers/{zhang.pk}", {"version": 1, "referred_by_id": 999999, "phone": "12"}
    )

    assert response.status_code == 404
    zhang.refresh_from_db()
    assert (zhang.referred_by_id, zhang.phone, zhang.version) == (None, "+8613812345678", 1)


def test_list_query_count_does_not_grow_with_the_page(org_world, api_as, django_assert_num_queries):
    for i in range(8):
        CustomerFactory(owner=org_world.rep1 if i % 2 else org_world.rep2, name=f"客户{i}")
    client = api_as(org_world.manager1)
    client.get("/me")  # first use of the token writes last_used_at; not part of a list call

    # The token with its user and organisation, the manager's team (ids, once per request) and the
    # page; all 8 fit, so no count query.
    with django_assert_num_queries(3):
        body = client.get("/customers").json()
    assert len(body["items"]) == 8 and body["total"] == 8

    # A page with more behind it adds the capped count once; the same list again reuses it.
    with django_assert_num_queries(4):
        body = client.get("/customers?size=3").json()
    assert len(body["items"]) == 3 and body["total"] == 8
    with django_assert_num_queries(3):
        body = client.get("/customers?size=3&page=2").json()
    assert len(body["items"]) == 3 and body["total"] == 8
