"""The demo organisation: logins work, data is valid, reproducible and searchable."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from huitou.accounts.models import Organisation, User
from huitou.core.phones import normalize_phone
from huitou.customers import selectors
from huitou.customers.models import Customer, CustomerSearchKey, OwnedProduct, Purchase
from huitou.demo import DEMO_SLUG, demo_load, vin_check_digit

SIZE = 60
TODAY = dt.date(2026, 6, 1)
ROLES = ("owner", "manager", "rep", "dcrc", "aftersales")

pytestmark = pytest.mark.django_db


@pytest.fixture
def logins():
    return demo_load(customers=SIZE, seed=7, progress=False, today=TODAY)


def _demo_customers():
    return Customer.objects.filter(organisation__slug=DEMO_SLUG)


def test_every_role_has_a_login_that_authenticates(logins):
    request = RequestFactory().post("/accounts/login/")
    roles = set()
    for row in logins:
        user = authenticate(request, username=row["username"], password=row["password"])
        assert user is not None, row["username"]
        assert user.role == row["role"]
        roles.add(user.role)
    assert roles == set(ROLES)


def test_the_group_has_three_stores_twenty_reps_and_the_staff(logins):
    org = Organisation.objects.get(slug=DEMO_SLUG)
    assert sorted(org.stores.values_list("code", flat=True)) == ["FSCC", "GZPY", "GZTH"]
    assert org.teams.count() == 6
    counts = {role: User.objects.filter(organisation=org, role=role).count() for role in ROLES}
    assert counts == {"owner": 1, "manager": 3, "rep": 20, "dcrc": 2, "aftersales": 2}


def test_loads_the_requested_number_of_customers(logins):
    assert _demo_customers().count() == SIZE


def test_every_phone_is_valid_e164(logins):
    phones = list(_demo_customers().values_list("phone", flat=True))
    assert len(phones) == SIZE
    assert all(normalize_phone(p) == p for p in phones)


def test_same_seed_gives_the_same_customers(logins):
    first = list(_demo_customers().order_by("pk").values_list("name", "phone", "birthday", "status"))
    demo_load(customers=SIZE - 20, seed=7, progress=False, today=TODAY)  # different size: wiped
    demo_load(customers=SIZE, seed=7, progress=False, today=TODAY)
    again = list(_demo_customers().order_by("pk").values_list("name", "phone", "birthday", "status"))
    assert again == first


def test_another_seed_gives_other_customers(logins):
    first = list(_demo_customers().order_by("pk").values_list("name", "phone"))
    demo_load(customers=SIZE - 1, seed=8, progress=False, today=TODAY)
    other = list(_demo_customers().order_by("pk").values_list("name", "phone"))
    assert other[:10] != first[:10]


def test_same_size_again_keeps_the_data(logins):
    ids = list(_demo_customers().order_by("pk").values_list("pk", flat=True))
    demo_load(customers=SIZE, seed=7, progress=False, today=TODAY)
    assert list(_demo_customers().order_by("pk").values_list("pk", flat=True)) == ids


def test_reload_leaves_no_orphans_of_the_old_archive(logins):
    demo_load(customers=SIZE - 20, seed=7, progress=False, today=TODAY)
    assert _demo_customers().count() == SIZE - 20
    org = Organisation.objects.get(slug=DEMO_SLUG)
    assert not Purchase.objects.filter(organisation=org).exclude(customer__organisation=org).exists()
    assert (
        CustomerSearchKey.objects.count()
        == CustomerSearchKey.objects.filter(customer__organisation=org).count()
    )


def test_referrals_point_to_earlier_customers_of_the_same_org(logins):
    referred = list(_demo_customers().filter(referred_by__isnull=False).select_related("referred_by"))
    assert referred
    for c in referred:
        assert c.source == "referral"
        assert c.referred_by.organisation_id == c.organisation_id
        assert c.referred_by_id < c.pk


def test_every_customer_has_search_keys(logins):
    without = _demo_customers().exclude(pk__in=CustomerSearchKey.objects.values("customer_id"))
    assert without.count() == 0


def test_a_customer_is_found_by_plate_and_phone_suffix(logins):
    car = OwnedProduct.objects.filter(organisation__slug=DEMO_SLUG).select_related("customer").first()
    owner = User.objects.get(username="owner")
    by_plate = selectors.customer_list(owner, selectors.CustomerFilters(q=car.plate))
    assert car.customer in by_plate.items
    by_phone = selectors.customer_list(owner, selectors.CustomerFilters(q=car.customer.phone[-4:]))
    assert car.customer in by_phone.items


def test_vins_are_unique_17_chars_with_a_valid_check_digit(logins):
    vins = list(OwnedProduct.objects.filter(organisation__slug=DEMO_SLUG).values_list("vin", flat=True))
    assert len(vins) == len(set(vins)) > SIZE // 2
    assert all(len(v) == 17 and v[8] == vin_check_digit(v) for v in vins)


def test_active_customers_own_a_vehicle_and_bought_it(logins):
    active = _demo_customers().filter(status="active")
    assert active.exclude(owned_products__isnull=False).count() == 0
    assert active.exclude(purchases__kind="first").count() == 0


def test_each_rep_sees_only_own_customers(logins):
    rep = User.objects.get(username="rep_th1")
    page = selectors.customer_list(rep, selectors.CustomerFilters(), size=200)
    assert page.items
    assert {c.owner_id for c in page.items} == {rep.pk}


def test_known_vin_check_digit():
    # The worked example of the North American standard: 1M8GDM9A_KP042788 has check digit X.
    assert vin_check_digit("1M8GDM9A0KP042788") == "X"
