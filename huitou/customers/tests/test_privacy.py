import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse

from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.customers import dedupe, privacy, services
from huitou.customers import models as archive
from huitou.customers.models import (
    Activity,
    ConfidentialNote,
    Consent,
    Customer,
    CustomerPhone,
    CustomerSearchKey,
    OwnedProduct,
    PersonalDate,
    PrivacyRequest,
    Purchase,
)
from tests.factories import CustomerFactory, PurchaseFactory

SH = dt.timezone(dt.timedelta(hours=8))
NAME, PHONE, PHONE2 = "张伟", "+8613912345678", "+8613712345678"


@pytest.fixture
def person(org_world):
    w = org_world
    c = services.customer_create(
        actor=w.rep1,
        data={
            "name": NAME,
            "phone": PHONE,
            "email": "zhangwei@example.com",
            "wechat": "zw888",
            "address": "天河路 1 号",
            "birthday": dt.date(1980, 5, 20),
            "form_family": "女儿在读高中",
            "preferences": "喜欢钓鱼",
        },
        tags=["VIP"],
    )
    services.customer_update(actor=w.rep1, customer_id=c.pk, data={"special_needs": "轮椅"})
    CustomerPhone.objects.create(customer=c, number=PHONE2, label="office")
    PersonalDate.objects.create(customer=c, kind="wedding", date=dt.date(2005, 10, 1))
    services.consent_set(actor=w.rep1, customer=c, channel="sms", granted=True, source="form")
    archive.Testimonial.objects.create(customer=c, text="服务很好", consent_given=True)
    services.confidential_note_add(actor=w.rep1, customer_id=c.pk, body="正在和竞品谈")
    services.owned_product_add(
        actor=w.rep1,
        customer_id=c.pk,
        data={
            "vin": "LSVAB2BJ000000001",
            "plate": "粤A12345",
            "description": "帕萨特",
            "delivered_on": dt.date(2024, 3, 1),
        },
    )
    for amount, margin in (("150000.00", "9000.00"), ("3200.50", "800.25")):
        services.purchase_add(
            actor=w.rep1,
            customer_id=c.pk,
            data={"ordered_on": dt.date(2024, 3, 1), "amount": Decimal(amount), "margin": Decimal(margin)},
        )
    services.activity_log(
        actor=w.rep1, customer_id=c.pk, kind="call", subject=f"给{NAME}打电话", body="聊了女儿"
    )
    w.person = Customer.objects.get(pk=c.pk)
    return w


# --- export -------------------------------------------------------------------------------------


def test_export_has_every_section(person):
    data = privacy.customer_personal_data_export(actor=person.manager1, customer_id=person.person.pk)
    assert data["customer"]["name"] == NAME
    assert data["customer"]["phone"] == PHONE
    assert data["customer"]["birthday"] == "1980-05-20"
    assert data["tags"] == ["VIP"]
    assert data["phones"] == [{"number": PHONE2, "label": "office"}]
    assert [d["date"] for d in data["personal_dates"]] == ["2005-10-01"]
    assert [(c["channel"], c["granted"]) for c in data["consents"]] == [("sms", True)]
    assert [(h["channel"], h["history_type"]) for h in data["consent_history"]] == [("sms", "+")]
    assert [(p["vin"], p["plate"]) for p in data["owned_products"]] == [("LSVAB2BJ000000001", "粤A12345")]
    assert sorted(p["amount"] for p in data["purchases"]) == ["150000.00", "3200.50"]
    assert [t["text"] for t in data["testimonials"]] == ["服务很好"]
    assert f"给{NAME}打电话" in [a["subject"] for a in data["activities"]]
    assert data["confidential_notes_included"] is True
    assert [n["body"] for n in data["confidential_notes"]] == ["正在和竞品谈"]
    json.dumps(data)  # every value is JSON-ready


def test_export_leaves_out_confidential_notes_for_dcrc(person):
    data = privacy.customer_personal_data_export(actor=person.dcrc, customer_id=person.person.pk)
    assert (data["confidential_notes_included"], data["confidential_notes"]) == (False, [])
    assert data["customer"]["name"] == NAME


def test_export_is_recorded(person):
    history_before = person.person.history.count()
    privacy.customer_personal_data_export(actor=person.owner, customer_id=person.person.pk)
    req = PrivacyRequest.objects.get()
    assert (req.kind, req.customer_id, req.requested_by_id) == ("export", person.person.pk, person.owner.pk)
    assert person.person.history.count() == history_before + 1
    assert person.person.history.latest().history_change_reason == "PIPL export of personal data"
    assert Customer.objects.get(pk=person.person.pk).version == person.person.version


def test_rep_may_not_export_and_nothing_is_recorded(person):
    with pytest.raises(PermissionDenied):
        privacy.customer_personal_data_export(actor=person.rep1, customer_id=person.person.pk)
    assert PrivacyRequest.objects.count() == 0


def test_export_out_of_scope_is_not_found(person):
    with pytest.raises(NotFound):
        privacy.customer_personal_data_export(actor=person.other_owner, customer_id=person.person.pk)
    with pytest.raises(NotFound):
        privacy.customer_personal_data_export(actor=person.manager2, customer_id=person.person.pk)
    assert PrivacyRequest.objects.count() == 0


def test_xlsx_has_a_sheet_per_section_and_defuses_formulas(person):
    from openpyxl import load_workbook

    services.customer_update(
        actor=person.rep1, customer_id=person.person.pk, data={"preferences": "=cmd|' /C calc'!A0"}
    )
    data = privacy.customer_personal_data_export(actor=person.owner, customer_id=person.person.pk)
    wb = load_workbook(io.BytesIO(privacy.personal_data_xlsx(data)))
    assert wb.sheetnames == [
        "summary",
        "customer",
        "merged_records",
        "phones",
        "personal_dates",
        "consents",
        "consent_history",
        "owned_products",
        "purchases",
        "activities",
        "testimonials",
        "confidential_notes",
    ]
    profile = {row[0]: row[1] for row in wb["customer"].iter_rows(values_only=True)}
    assert profile["preferences"] == "'=cmd|' /C calc'!A0"
    assert wb["purchases"].max_row == 3  # header + 2 purchases


# --- erasure ------------------------------------------------------------------------------------


def _sales():
    return Purchase.objects.aggregate(a=Sum("amount"), m=Sum("margin"), n=Sum("paid_amount"))


def test_erase_keeps_sales_figures_exactly(person):
    before = _sales()
    assert before["a"] == Decimal("153200.50")
    privacy.customer_erase(
        actor=person.manager1, customer_id=person.person.pk, reason="本人电话要求 2026-11-20"
    )
    assert _sales() == before
    assert Purchase.objects.filter(customer=person.person).count() == 2
    assert sorted(Purchase.objects.values_list("ordered_on", flat=True)) == [dt.date(2024, 3, 1)] * 2


def test_erase_anonymises_the_customer(person):
    privacy.customer_erase(actor=person.owner, customer_id=person.person.pk, reason="request")
    c = Customer.objects.get(pk=person.person.pk)
    assert c.name == f"已删除客户 #{c.pk}"
    assert (
        c.phone,
        c.email,
        c.wechat,
        c.address,
        c.birthday,
        c.form_family,
        c.preferences,
        c.special_needs,
    ) == (
        "",
        "",
        "",
        "",
        None,
        "",
        "",
        "",
    )
    assert c.status == "erased" and c.anonymised_at is not None
    assert list(c.tags.all()) == []
    for model in (CustomerPhone, PersonalDate, archive.Testimonial, ConfidentialNote, CustomerSearchKey):
        assert model.objects.filter(customer=c).count() == 0, model
    assert list(Consent.objects.filter(customer=c).values_list("channel", "granted")) == [("sms", False)]


def test_erase_keeps_vehicle_model_but_not_vin_or_plate(person):
    privacy.customer_erase(actor=person.owner, customer_id=person.person.pk, reason="request")
    car = OwnedProduct.objects.get(customer=person.person)
    assert (car.vin, car.plate, car.description, car.delivered_on) == (
        None,
        "",
        "帕萨特",
        dt.date(2024, 3, 1),
    )


def test_erase_scrubs_the_audit_history(person):
    privacy.customer_personal_data_export(actor=person.owner, customer_id=person.person.pk)
    privacy.customer_erase(actor=person.owner, customer_id=person.person.pk, reason="本人要求")
    pk = person.person.pk
    rows = list(Customer.history.filter(id=pk).values())
    assert len(rows) == 4  # created, updated, exported, erased
    for row in rows:
        text = json.dumps(row, default=str, ensure_ascii=False)
        assert NAME not in text and PHONE not in text and PHONE[3:] not in text and "zhangwei" not in text
    assert list(CustomerPhone.history.filter(customer_id=pk).values_list("number", flat=True)) == ["", ""]
    assert set(OwnedProduct.history.filter(customer_id=pk).values_list("vin", "plate")) == {(None, "")}
    assert set(ConfidentialNote.history.filter(customer_id=pk).values_list("body", flat=True)) == {""}
    assert set(archive.Testimonial.history.filter(customer_id=pk).values_list("text", flat=True)) == {""}
    assert set(PersonalDate.history.filter(customer_id=pk).values_list("date", flat=True)) == {None}
    assert not Activity.objects.filter(customer_id=pk, subject__contains=NAME).exists()


def test_erase_is_recorded(person):
    privacy.customer_erase(actor=person.manager1, customer_id=person.person.pk, reason="本人要求")
    req = PrivacyRequest.objects.get()
    assert (req.kind, req.customer_id, req.requested_by_id, req.reason) == (
        "erase",
        person.person.pk,
        person.manager1.pk,
        "本人要求",
    )
    latest = person.person.history.latest()
    assert (latest.history_change_reason, latest.history_user) == ("PIPL erasure: 本人要求", person.manager1)


def test_erase_also_scrubs_records_merged_into_the_person(person):
    old = CustomerFactory(owner=person.rep1, name="张 伟", phone="+8613911112222")
    PurchaseFactory(customer=old, amount=Decimal("10.00"))
    dedupe.customer_merge(actor=person.owner, keep_id=person.person.pk, merge_ids=[old.pk])
    privacy.customer_erase(actor=person.owner, customer_id=person.person.pk, reason="request")
    old.refresh_from_db()
    assert (old.name, old.phone, old.status) == (f"已删除客户 #{old.pk}", "", "erased")
    for reason in Customer.history.filter(id__in=[old.pk, person.person.pk]).values_list(
        "history_change_reason", flat=True
    ):
        assert "张 伟" not in (reason or "") and NAME not in (reason or "")
    assert Purchase.objects.filter(customer=person.person).aggregate(s=Sum("amount"))["s"] == Decimal(
        "153210.50"
    )


def test_rep_may_not_erase_and_nothing_changes(person):
    history = Customer.history.count()
    with pytest.raises(PermissionDenied):
        privacy.customer_erase(actor=person.rep1, customer_id=person.person.pk, reason="x")
    c = Customer.objects.get(pk=person.person.pk)
    assert (c.name, c.phone, c.status, Customer.history.count()) == (NAME, PHONE, "active", history)
    assert PrivacyRequest.objects.count() == 0


def test_erase_needs_a_reason(person):
    with pytest.raises(ValidationFailed):
        privacy.customer_erase(actor=person.owner, customer_id=person.person.pk, reason="  ")
    assert Customer.objects.get(pk=person.person.pk).name == NAME


def test_erase_in_other_organisation_is_not_found(person):
    with pytest.raises(NotFound):
        privacy.customer_erase(actor=person.other_owner, customer_id=person.person.pk, reason="x")
    assert Customer.objects.get(pk=person.person.pk).name == NAME


# --- pages --------------------------------------------------------------------------------------


def test_export_page_downloads_json(client, person):
    client.force_login(person.manager1)
    url = reverse("customers:privacy_export", args=[person.person.pk])
    assert client.get(url).status_code == 200
    resp = client.post(url, {"format": "json"})
    assert resp.status_code == 200
    assert resp["Content-Disposition"].startswith(f'attachment; filename="customer-{person.person.pk}-')
    assert json.loads(resp.content)["customer"]["name"] == NAME


def test_export_page_downloads_xlsx(client, person):
    client.force_login(person.owner)
    resp = client.post(reverse("customers:privacy_export", args=[person.person.pk]), {"format": "xlsx"})
    assert resp.status_code == 200
    assert resp.content[:2] == b"PK"


def test_export_page_refuses_rep(client, person):
    client.force_login(person.rep1)
    resp = client.post(reverse("customers:privacy_export", args=[person.person.pk]), {"format": "json"})
    assert resp.status_code == 403
    assert PrivacyRequest.objects.count() == 0


def test_erase_page_requires_the_typed_id(client, person):
    client.force_login(person.owner)
    url = reverse("customers:privacy_erase", args=[person.person.pk])
    assert client.get(url).status_code == 200
    resp = client.post(url, {"reason": "本人要求", "confirm_id": person.person.pk + 1})
    assert resp.status_code == 422
    assert Customer.objects.get(pk=person.person.pk).name == NAME
    resp = client.post(url, {"reason": "本人要求", "confirm_id": person.person.pk})
    assert resp.status_code == 302
    assert Customer.objects.get(pk=person.person.pk).status == "erased"


def test_erase_page_refuses_dcrc_and_other_org(client, person):
    url = reverse("customers:privacy_erase", args=[person.person.pk])
    client.force_login(person.dcrc)
    assert client.post(url, {"reason": "x", "confirm_id": person.person.pk}).status_code == 403
    client.force_login(person.other_owner)
    assert client.post(url, {"reason": "x", "confirm_id": person.person.pk}).status_code == 404
    assert Customer.objects.get(pk=person.person.pk).name == NAME
