import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.customers import dedupe, services
from huitou.customers.models import (
    Activity,
    Consent,
    Customer,
    CustomerPhone,
    CustomerSearchKey,
    Purchase,
    Tag,
)
from huitou.customers.selectors import customer_queryset
from tests.factories import CustomerFactory, OwnedProductFactory, PurchaseFactory

SH = dt.timezone(dt.timedelta(hours=8))


def groups(viewer, reasons=dedupe.REASONS):
    return [
        (g.reason, g.key, g.day, [m.id for m in g.members])
        for reason in reasons
        for g in dedupe.duplicate_groups(viewer, reason=reason).items
    ]


def add_activities(customer, n):
    Activity.objects.bulk_create(
        [
            Activity(
                organisation=customer.organisation,
                customer=customer,
                kind=Activity.Kind.CALL,
                occurred_at=dt.datetime(2025, 6, 1, 10, i, tzinfo=SH),
                subject=f"call {i}",
            )
            for i in range(n)
        ]
    )


# --- finding duplicates -------------------------------------------------------------------------


def test_same_primary_phone_forms_a_group(org_world):
    a = CustomerFactory(owner=org_world.rep1, phone="+8613800000001")
    b = CustomerFactory(owner=org_world.rep2, phone="+8613800000001")
    CustomerFactory(owner=org_world.rep1, phone="+8613800000002")
    # the owner sees masked numbers by default policy
    assert groups(org_world.owner) == [("phone", "138****0001", None, [a.pk, b.pk])]


def test_further_number_matching_a_primary_forms_a_group(org_world):
    a = CustomerFactory(owner=org_world.rep1, phone="+8613800000001")
    b = CustomerFactory(owner=org_world.rep1, phone="+8613800000009")
    CustomerPhone.objects.create(customer=b, number="+8613800000001")
    result = dedupe.duplicate_groups(org_world.owner).items
    assert [(g.reason, [m.id for m in g.members]) for g in result] == [("phone", [a.pk, b.pk])]


def test_same_plate_forms_a_group(org_world):
    a = CustomerFactory(owner=org_world.rep1)
    b = CustomerFactory(owner=org_world.rep3)
    OwnedProductFactory(customer=a, plate="粤B12345", vin=None)
    OwnedProductFactory(customer=b, plate="粤B12345", vin=None)
    OwnedProductFactory(customer=b, plate="粤B99999", vin=None)
    assert groups(org_world.owner) == [("plate", "粤B12345", None, [a.pk, b.pk])]


def test_sold_vehicle_plate_is_not_a_duplicate(org_world):
    a = CustomerFactory(owner=org_world.rep1)
    b = CustomerFactory(owner=org_world.rep1)
    OwnedProductFactory(customer=a, plate="粤B12345", vin=None, active=False)
    OwnedProductFactory(customer=b, plate="粤B12345", vin=None)
    assert groups(org_world.owner) == []


def test_same_name_and_birthday_forms_a_group(org_world):
    a = CustomerFactory(owner=org_world.rep1, name="王小明", birthday=dt.date(1985, 3, 8))
    b = CustomerFactory(owner=org_world.rep3, name="王小明", birthday=dt.date(1985, 3, 8))
    CustomerFactory(owner=org_world.rep1, name="王小明", birthday=dt.date(1990, 1, 1))
    CustomerFactory(owner=org_world.rep1, name="王小明")
    assert groups(org_world.owner) == [("name_birthday", "王小明", dt.date(1985, 3, 8), [a.pk, b.pk])]


def test_name_birthday_rule_follows_policy(org_world):
    org_world.org.policy_data = {"archive": {"duplicate_match_name_birthday": False}}
    org_world.org.save()
    CustomerFactory(owner=org_world.rep1, name="王小明", birthday=dt.date(1985, 3, 8))
    CustomerFactory(owner=org_world.rep1, name="王小明", birthday=dt.date(1985, 3, 8))
    org_world.owner.refresh_from_db()
    assert groups(org_world.owner) == []


def test_phone_groups_are_paginated_in_number_order(org_world):
    w = org_world
    for number in ("+8613800000003", "+8613800000001"):
        CustomerFactory(owner=w.rep1, phone=number)
        CustomerFactory(owner=w.rep1, phone=number)
    # a further number shared with another customer's further number sorts between them
    x = CustomerFactory(owner=w.rep1, phone="+8613900000001")
    y = CustomerFactory(owner=w.rep1, phone="+8613900000002")
    CustomerPhone.objects.create(customer=x, number="+8613800000002")
    CustomerPhone.objects.create(customer=y, number="+8613800000002")
    page1 = dedupe.duplicate_groups(w.owner, reason="phone", page=1, size=2)
    page2 = dedupe.duplicate_groups(w.owner, reason="phone", page=2, size=2)
    assert ([g.key for g in page1.items], page1.has_next) == (["138****0001", "138****0002"], True)
    assert ([g.key for g in page2.items], page2.has_next) == (["138****0003"], False)
    assert [m.id for m in page1.items[1].members] == [x.pk, y.pk]


def test_one_customer_pair_shows_under_each_reason(org_world):
    a = CustomerFactory(owner=org_world.rep1, phone="+8613800000001", name="甲", birthday=dt.date(1980, 1, 1))
    b = CustomerFactory(owner=org_world.rep1, phone="+8613800000001", name="甲", birthday=dt.date(1980, 1, 1))
    OwnedProductFactory(customer=a, plate="粤A00001", vin=None)
    OwnedProductFactory(customer=b, plate="粤A00001", vin=None)
    assert [(g[0], g[3]) for g in groups(org_world.owner)] == [
        ("phone", [a.pk, b.pk]),
        ("plate", [a.pk, b.pk]),
        ("name_birthday", [a.pk, b.pk]),
    ]


def test_groups_limited_to_viewer_scope_and_skip_merged(org_world):
    a = CustomerFactory(owner=org_world.rep1, phone="+8613800000001")
    twin = CustomerFactory(owner=org_world.rep3, phone="+8613800000001")
    c = CustomerFactory(owner=org_world.rep1, phone="+8613800000002")
    CustomerFactory(owner=org_world.rep1, phone="+8613800000002", merged_into=c)
    CustomerFactory(owner=org_world.other_owner, phone="+8613800000002")
    # manager1 sees store 1 only: a's twin is in store 2, c's twin is merged or in another org
    assert groups(org_world.manager1) == []
    assert [g[3] for g in groups(org_world.owner)] == [[a.pk, twin.pk]]


def test_rep_gets_no_groups(org_world):
    CustomerFactory(owner=org_world.rep1, phone="+8613800000001")
    CustomerFactory(owner=org_world.rep1, phone="+8613800000001")
    assert groups(org_world.rep1) == []


# --- merging ------------------------------------------------------------------------------------


@pytest.fixture
def pair(org_world):
    w = org_world
    w.keep = CustomerFactory(owner=w.rep1, name="王小明", phone="+8613800000001", email="")
    w.dup = CustomerFactory(
        owner=w.rep2,
        name="王晓明",
        phone="+8613800000002",
        email="wang@example.com",
        wechat="wxm",
        birthday=dt.date(1985, 3, 8),
    )
    for c, amounts in ((w.keep, ["100.00", "200.50"]), (w.dup, ["1000.00", "2000.25", "3000.00"])):
        for amount in amounts:
            PurchaseFactory(customer=c, amount=Decimal(amount))
    add_activities(w.keep, 2)
    add_activities(w.dup, 4)
    return w


def test_merge_moves_purchases_and_activities(pair):
    dedupe.customer_merge(actor=pair.manager1, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    assert Purchase.objects.filter(customer=pair.keep).count() == 5
    assert Purchase.objects.filter(customer=pair.dup).count() == 0
    total = sum(Purchase.objects.filter(customer=pair.keep).values_list("amount", flat=True), Decimal(0))
    assert total == Decimal("6300.75")
    # 2 + 4 moved calls, plus the system note of the merge on each timeline
    assert Activity.objects.filter(customer=pair.keep, kind="call").count() == 6
    assert Activity.objects.filter(customer=pair.keep, kind="system").count() == 1
    assert list(Activity.objects.filter(customer=pair.dup).values_list("subject", flat=True)) == [
        f"Merged into customer #{pair.keep.pk} (王小明)"
    ]


def test_merge_marks_merged_and_hides_it(pair):
    dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    pair.dup.refresh_from_db()
    assert pair.dup.merged_into_id == pair.keep.pk
    assert set(customer_queryset(pair.owner).values_list("pk", flat=True)) == {pair.keep.pk}
    assert CustomerSearchKey.objects.filter(customer=pair.dup).count() == 0


def test_merge_keeps_every_history_row_of_both(pair):
    keep_before = set(pair.keep.history.values_list("history_id", flat=True))
    dup_before = set(pair.dup.history.values_list("history_id", flat=True))
    dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    keep_after = set(pair.keep.history.values_list("history_id", flat=True))
    dup_after = set(pair.dup.history.values_list("history_id", flat=True))
    assert keep_before < keep_after and len(keep_after) == len(keep_before) + 1
    assert dup_before < dup_after and len(dup_after) == len(dup_before) + 1
    assert pair.keep.history.latest().history_change_reason == f"merged customer #{pair.dup.pk} (王晓明)"
    assert pair.keep.history.latest().history_user == pair.owner


def test_merge_fills_empty_fields_and_keeps_set_ones(pair):
    keep = dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    assert (keep.name, keep.phone, keep.email, keep.wechat, keep.birthday) == (
        "王小明",
        "+8613800000001",
        "wang@example.com",
        "wxm",
        dt.date(1985, 3, 8),
    )
    assert keep.version == 2
    assert list(CustomerPhone.objects.filter(customer=keep).values_list("number", flat=True)) == [
        "+8613800000002"
    ]


def test_merge_skips_phone_numbers_already_held(pair):
    CustomerPhone.objects.create(customer=pair.keep, number="+8613800000002")
    CustomerPhone.objects.create(customer=pair.dup, number="+8613800000001")
    CustomerPhone.objects.create(customer=pair.dup, number="+8613800000003")
    dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    assert sorted(CustomerPhone.objects.filter(customer=pair.keep).values_list("number", flat=True)) == [
        "+8613800000002",
        "+8613800000003",
    ]
    assert CustomerPhone.objects.filter(customer=pair.dup).count() == 0


def test_merge_unions_tags(pair):
    services.customer_set_tags(actor=pair.owner, customer=pair.keep, names=["VIP", "钓鱼"])
    services.customer_set_tags(actor=pair.owner, customer=pair.dup, names=["钓鱼", "车队"])
    dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    assert sorted(pair.keep.tags.values_list("name", flat=True)) == ["VIP", "车队", "钓鱼"]
    assert Tag.objects.count() == 3


def test_merge_repoints_referrals(pair):
    referrer = CustomerFactory(owner=pair.rep1, name="介绍人")
    pair.dup.referred_by = referrer
    pair.dup.save()
    friends = [CustomerFactory(owner=pair.rep1, referred_by=pair.dup) for _ in range(3)]
    keep = dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    assert keep.referred_by_id == referrer.pk
    assert sorted(Customer.objects.filter(referred_by=keep).values_list("pk", flat=True)) == [
        f.pk for f in friends
    ]
    assert Customer.objects.filter(referred_by=pair.dup).count() == 0


def test_merge_never_makes_a_customer_refer_itself(pair):
    pair.keep.referred_by = pair.dup
    pair.keep.save()
    pair.dup.referred_by = pair.keep
    pair.dup.save()
    keep = dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    assert keep.referred_by_id is None


def test_merge_keeps_later_opt_out(pair):
    services.consent_set(
        actor=pair.rep1,
        customer=pair.keep,
        channel="sms",
        granted=True,
        source="form",
        at=dt.datetime(2025, 1, 1, 9, 0, tzinfo=SH),
    )
    services.consent_set(
        actor=pair.rep2,
        customer=pair.dup,
        channel="sms",
        granted=False,
        source="sms_reply",
        at=dt.datetime(2025, 2, 1, 9, 0, tzinfo=SH),
    )
    dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    consent = Consent.objects.get(customer=pair.keep, channel="sms")
    assert (consent.granted, consent.source, consent.recorded_at) == (
        False,
        "sms_reply",
        dt.datetime(2025, 2, 1, 9, 0, tzinfo=SH),
    )
    assert Consent.objects.filter(customer=pair.dup).count() == 0


def test_merge_keeps_later_grant_over_earlier_opt_out(pair):
    services.consent_set(
        actor=pair.rep1,
        customer=pair.keep,
        channel="phone",
        granted=False,
        source="verbal",
        at=dt.datetime(2025, 1, 1, 9, 0, tzinfo=SH),
    )
    services.consent_set(
        actor=pair.rep2,
        customer=pair.dup,
        channel="phone",
        granted=True,
        source="form",
        at=dt.datetime(2025, 3, 1, 9, 0, tzinfo=SH),
    )
    services.consent_set(
        actor=pair.rep2,
        customer=pair.dup,
        channel="email",
        granted=True,
        source="form",
        at=dt.datetime(2025, 3, 1, 9, 0, tzinfo=SH),
    )
    dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    assert dict(Consent.objects.filter(customer=pair.keep).values_list("channel", "granted")) == {
        "phone": True,
        "email": True,
    }


def test_merge_moves_owned_products_with_history(pair):
    car = OwnedProductFactory(customer=pair.dup, plate="粤B12345")
    dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    car.refresh_from_db()
    assert car.customer_id == pair.keep.pk
    assert list(car.history.order_by("history_id").values_list("customer_id", flat=True)) == [
        pair.dup.pk,
        pair.keep.pk,
    ]
    assert CustomerSearchKey.objects.filter(customer=pair.keep, key="c:粤B12345").exists()


def _snapshot():
    return (
        sorted(Purchase.objects.values_list("pk", "customer_id")),
        sorted(Activity.objects.values_list("pk", "customer_id")),
        sorted(Customer.objects.values_list("pk", "merged_into_id", "version", "email")),
        Customer.history.count(),
    )


def test_rep_may_not_merge_and_nothing_changes(pair):
    before = _snapshot()
    with pytest.raises(PermissionDenied):
        dedupe.customer_merge(actor=pair.rep1, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    assert _snapshot() == before


def test_merge_with_other_organisation_is_not_found_and_nothing_changes(pair):
    stranger = CustomerFactory(owner=pair.other_owner)
    before = _snapshot()
    with pytest.raises(NotFound):
        dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[stranger.pk])
    assert _snapshot() == before


def test_manager_cannot_merge_out_of_scope_customer(pair):
    far = CustomerFactory(owner=pair.rep3)
    before = _snapshot()
    with pytest.raises(NotFound):
        dedupe.customer_merge(actor=pair.manager1, keep_id=pair.keep.pk, merge_ids=[far.pk])
    assert _snapshot() == before


def test_self_merge_is_refused_and_nothing_changes(pair):
    before = _snapshot()
    with pytest.raises(ValidationFailed):
        dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.keep.pk])
    assert _snapshot() == before


def test_stale_version_is_a_conflict_and_nothing_changes(pair):
    services.customer_update(actor=pair.owner, customer_id=pair.keep.pk, data={"title": "经理"})
    before = _snapshot()
    with pytest.raises(Conflict):
        dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk], version=1)
    assert _snapshot() == before


def test_already_merged_is_refused(pair):
    third = CustomerFactory(owner=pair.rep1)
    dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    before = _snapshot()
    with pytest.raises(ValidationFailed) as exc:
        dedupe.customer_merge(actor=pair.owner, keep_id=third.pk, merge_ids=[pair.dup.pk])
    assert exc.value.errors == {"merge": ["one of these customers has already been merged"]}
    assert _snapshot() == before


def test_merge_of_several_customers_at_once(pair):
    third = CustomerFactory(owner=pair.rep1, phone="+8613800000003")
    PurchaseFactory(customer=third, amount=Decimal("5.00"))
    keep = dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk, third.pk])
    assert Purchase.objects.filter(customer=keep).count() == 6
    assert keep.version == 3
    assert set(Customer.objects.filter(merged_into=keep).values_list("pk", flat=True)) == {
        pair.dup.pk,
        third.pk,
    }


def test_merge_moves_unique_external_id(pair):
    pair.dup.external_id = "DMS-7"
    pair.dup.save()
    keep = dedupe.customer_merge(actor=pair.owner, keep_id=pair.keep.pk, merge_ids=[pair.dup.pk])
    pair.dup.refresh_from_db()
    assert (keep.external_id, pair.dup.external_id) == ("DMS-7", None)


# --- pages --------------------------------------------------------------------------------------


def test_rep_gets_403_on_duplicates_page(client, org_world):
    client.force_login(org_world.rep1)
    assert client.get(reverse("customers:duplicates")).status_code == 403


def test_manager_sees_duplicates_page_with_merge_link(client, org_world):
    a = CustomerFactory(owner=org_world.rep1, phone="+8613800000001")
    b = CustomerFactory(owner=org_world.rep2, phone="+8613800000001")
    client.force_login(org_world.manager1)
    resp = client.get(reverse("customers:duplicates"))
    assert resp.status_code == 200
    assert f"{reverse('customers:merge')}?keep={a.pk}&amp;merge={b.pk}" in resp.content.decode()


def test_merge_page_shows_both_and_post_merges(client, pair):
    client.force_login(pair.owner)
    url = f"{reverse('customers:merge')}?keep={pair.keep.pk}&merge={pair.dup.pk}"
    resp = client.get(url)
    assert resp.status_code == 200
    assert resp.context["preview"].keep.purchases == 2
    assert [s.purchases for s in resp.context["preview"].merge] == [3]
    resp = client.post(url, {"keep": pair.keep.pk, "merge": [pair.dup.pk], "version": 1})
    assert resp.status_code == 302
    assert resp["Location"] == reverse("customers:detail", args=[pair.keep.pk])
    assert Purchase.objects.filter(customer=pair.keep).count() == 5


def test_merge_page_refuses_rep(client, pair):
    client.force_login(pair.rep1)
    url = f"{reverse('customers:merge')}?keep={pair.keep.pk}&merge={pair.dup.pk}"
    assert client.get(url).status_code == 403
    assert client.post(url, {"keep": pair.keep.pk, "merge": [pair.dup.pk]}).status_code == 403
    assert Purchase.objects.filter(customer=pair.keep).count() == 2


def test_admin_pages_of_the_archive_load_for_a_superuser(client, pair):
    from huitou.accounts.models import User

    root = User.objects.create_superuser("root", "root@example.com", "pw-12345678")
    client.force_login(root)
    OwnedProductFactory(customer=pair.keep)
    for url in (
        "/admin/customers/customer/",
        f"/admin/customers/customer/{pair.keep.pk}/change/",
        f"/admin/customers/customer/{pair.keep.pk}/history/",
        "/admin/customers/purchase/",
        "/admin/customers/ownedproduct/",
        "/admin/customers/privacyrequest/",
        "/admin/accounts/user/",
        f"/admin/accounts/organisation/{pair.org.pk}/change/",
    ):
        assert client.get(url).status_code == 200, url


def test_duplicates_page_query_count_does_not_grow_with_groups(org_world, django_assert_num_queries):
    def make_groups(start, n):
        for i in range(start, start + n):
            CustomerFactory(owner=org_world.rep1, phone=f"+86138000000{i:02d}")
            CustomerFactory(owner=org_world.rep1, phone=f"+86138000000{i:02d}")

    make_groups(0, 1)
    # keys (primary, further), further-number holders, customers, their further numbers
    with django_assert_num_queries(5):
        assert len(dedupe.duplicate_groups(org_world.owner).items) == 1
    make_groups(1, 6)
    with django_assert_num_queries(5):
        assert len(dedupe.duplicate_groups(org_world.owner).items) == 7
