import datetime as dt
from decimal import Decimal

import pytest

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.customers import services
from huitou.customers.models import Activity, Consent, Customer, CustomerSearchKey
from huitou.customers.selectors import CustomerFilters, customer_history, customer_list
from tests.factories import CustomerFactory


def test_create_normalises_phone_and_builds_search_keys(org_world):
    c = services.customer_create(actor=org_world.rep1, data={"name": "张伟明", "phone": "138 1234 5678"})
    assert c.phone == "+8613812345678"
    assert c.owner == org_world.rep1 and c.store == org_world.s1
    keys = set(CustomerSearchKey.objects.filter(customer=c).values_list("key", flat=True))
    assert keys == {"n:张", "n:张伟", "n:伟明", "p:5678"}
    assert c.history.count() == 1 and c.history.first().history_user == org_world.rep1


def test_create_rejects_bad_input_field_by_field(org_world):
    with pytest.raises(ValidationFailed) as exc:
        services.customer_create(
            actor=org_world.rep1,
            data={"name": " ", "phone": "12345", "birthday_calendar": "lunar", "birthday_lunar_month": 13},
        )
    assert set(exc.value.errors) == {"name", "phone", "birthday_lunar_month", "birthday_lunar_day"}
    assert Customer.objects.count() == 0


def test_create_rejects_future_birthday(org_world):
    with pytest.raises(ValidationFailed) as exc:
        services.customer_create(actor=org_world.rep1, data={"name": "李四", "birthday": dt.date(2999, 1, 1)})
    assert list(exc.value.errors) == ["birthday"]


def test_rep_cannot_give_customer_to_another_rep(org_world):
    with pytest.raises(ValidationFailed) as exc:
        services.customer_create(
            actor=org_world.manager1, data={"name": "甲", "owner": org_world.other_owner}
        )
    assert "owner" in exc.value.errors
    c = CustomerFactory(owner=org_world.rep1)
    with pytest.raises(ValidationFailed):
        services.customer_update(actor=org_world.rep1, customer_id=c.pk, data={"owner": org_world.rep2})
    c.refresh_from_db()
    assert c.owner == org_world.rep1


def test_dcrc_cannot_create(org_world):
    with pytest.raises(PermissionDenied):
        services.customer_create(actor=org_world.dcrc, data={"name": "王五"})


def test_update_records_history_before_after_and_timeline(org_world):
    c = services.customer_create(actor=org_world.rep1, data={"name": "张伟", "wechat": "old_id"})
    services.customer_update(actor=org_world.rep1, customer_id=c.pk, data={"wechat": "new_id"}, version=1)
    c.refresh_from_db()
    assert c.wechat == "new_id" and c.version == 2
    history = customer_history(org_world.rep1, c.pk)
    assert history[0]["changes"] == [{"field": "wechat", "old": "old_id", "new": "new_id"}]
    assert history[0]["user"] == "rep1"
    subjects = list(Activity.objects.filter(customer=c).values_list("subject", flat=True))
    assert "Profile updated: wechat" in subjects


def test_update_stale_version_conflicts_and_changes_nothing(org_world):
    c = services.customer_create(actor=org_world.rep1, data={"name": "张伟"})
    services.customer_update(actor=org_world.rep1, customer_id=c.pk, data={"name": "张伟1"}, version=1)
    with pytest.raises(Conflict):
        services.customer_update(actor=org_world.rep1, customer_id=c.pk, data={"name": "张伟2"}, version=1)
    c.refresh_from_db()
    assert c.name == "张伟1" and c.version == 2


def test_update_other_reps_customer_is_not_found_and_unchanged(org_world):
    c = CustomerFactory(owner=org_world.rep2, name="李娜")
    with pytest.raises(NotFound):
        services.customer_update(actor=org_world.rep1, customer_id=c.pk, data={"name": "黑客"})
    c.refresh_from_db()
    assert c.name == "李娜" and c.history.count() == 1


def test_consent_optout_is_recorded_with_history(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    services.consent_set(actor=org_world.rep1, customer=c, channel="sms", granted=True, source="form")
    services.consent_set(actor=None, customer=c, channel="sms", granted=False, source="sms_reply")
    consent = Consent.objects.get(customer=c, channel="sms")
    assert consent.granted is False and consent.source == "sms_reply"
    assert [h.granted for h in consent.history.order_by("history_date")] == [True, False]


def test_gift_requires_a_name(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    with pytest.raises(ValidationFailed):
        services.activity_log(actor=org_world.rep1, customer_id=c.pk, kind="gift", subject="生日礼物")
    a = services.activity_log(
        actor=org_world.rep1, customer_id=c.pk, kind="gift", subject="生日礼物", gift_name="车载香薰"
    )
    assert a.gift_name == "车载香薰"


def test_confidential_note_refused_for_other_rep_and_dcrc(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    with pytest.raises(NotFound):
        services.confidential_note_add(actor=org_world.rep2, customer_id=c.pk, body="x")
    with pytest.raises(PermissionDenied):
        services.confidential_note_add(actor=org_world.dcrc, customer_id=c.pk, body="x")
    services.confidential_note_add(actor=org_world.rep1, customer_id=c.pk, body="只对本人说")
    assert c.confidential_notes.count() == 1


def test_owned_product_vin_checked_and_searchable(org_world):
    c = CustomerFactory(owner=org_world.rep1, name="周杰")
    with pytest.raises(ValidationFailed):
        services.owned_product_add(actor=org_world.rep1, customer_id=c.pk, data={"vin": "SHORT"})
    services.owned_product_add(
        actor=org_world.rep1, customer_id=c.pk, data={"vin": "lsvab2bj012345678", "plate": "粤B·A1234"}
    )
    found = customer_list(org_world.rep1, CustomerFilters(q="A1234"))
    assert [x.pk for x in found.items] == [c.pk]
    found = customer_list(org_world.rep1, CustomerFilters(q="LSVAB2BJ012345678"))
    assert [x.pk for x in found.items] == [c.pk]


def test_purchase_add_logs_timeline(org_world):
    c = CustomerFactory(owner=org_world.rep1)
    p = services.purchase_add(
        actor=org_world.rep1,
        customer_id=c.pk,
        data={"ordered_on": dt.date(2026, 1, 5), "amount": Decimal("158000.00"), "margin": Decimal("8000")},
    )
    assert p.rep == org_world.rep1 and p.store == org_world.s1
    assert Activity.objects.filter(customer=c, kind="purchase", purchase=p).count() == 1


def test_reassign_moves_customers_with_history(org_world):
    a = CustomerFactory(owner=org_world.rep1)
    b = CustomerFactory(owner=org_world.rep1)
    CustomerFactory(owner=org_world.rep3)
    with pytest.raises(PermissionDenied):
        services.customers_reassign(
            actor=org_world.rep1, from_user_id=org_world.rep1.pk, to_user_id=org_world.rep2.pk
        )
    moved = services.customers_reassign(
        actor=org_world.manager1, from_user_id=org_world.rep1.pk, to_user_id=org_world.rep2.pk
    )
    assert moved == 2
    for c in (a, b):
        c.refresh_from_db()
        assert c.owner == org_world.rep2
        latest = c.history.order_by("-history_date", "-history_id").first()
        assert latest.history_user == org_world.manager1 and "reassigned" in latest.history_change_reason
        assert c.history.count() == 2


def test_reassign_refuses_target_outside_scope(org_world):
    CustomerFactory(owner=org_world.rep1)
    with pytest.raises(ValidationFailed):
        services.customers_reassign(
            actor=org_world.manager1, from_user_id=org_world.rep1.pk, to_user_id=org_world.other_owner.pk
        )
    assert Customer.objects.filter(owner=org_world.rep1).count() == 1
