"""Personal dates and testimonials: services, the case-book selector, the 360 page and the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from huitou.accounts.services import api_token_create
from huitou.api.tests.conftest import ApiClient
from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.customers import models as archive
from huitou.customers import selectors, services
from huitou.customers.models import Activity, PersonalDate
from huitou.customers.views import activity_subject
from tests.factories import CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_as():
    def make(user):
        return ApiClient(api_token_create(user=user))

    return make


@pytest.fixture
def zhang(org_world):
    return CustomerFactory(owner=org_world.rep1, name="张伟")


@pytest.fixture
def product(org_world):
    return ProductFactory(organisation=org_world.org, name="帕萨特")


def _system_subjects(customer) -> list[str]:
    return list(
        Activity.objects.filter(customer=customer, kind=Activity.Kind.SYSTEM)
        .order_by("id")
        .values_list("subject", flat=True)
    )


# ---------------------------------------------------------------- personal dates: services


def test_add_solar_date_stores_exact_values(org_world, zhang):
    item = services.personal_date_add(
        actor=org_world.rep1,
        customer_id=zhang.pk,
        kind="wedding",
        label=" 结婚纪念日 ",
        date=dt.date(2015, 10, 1),
    )

    item.refresh_from_db()
    assert (item.customer_id, item.kind, item.label, item.calendar, item.date) == (
        zhang.pk,
        "wedding",
        "结婚纪念日",
        "solar",
        dt.date(2015, 10, 1),
    )
    assert (item.lunar_month, item.lunar_day, item.lunar_leap) == (None, None, False)


def test_add_lunar_date_stores_month_day_and_leap(org_world, zhang):
    item = services.personal_date_add(
        actor=org_world.manager1,
        customer_id=zhang.pk,
        kind="spouse_birthday",
        calendar="lunar",
        lunar_month=8,
        lunar_day=15,
        lunar_leap=True,
    )

    item.refresh_from_db()
    assert (item.calendar, item.date, item.lunar_month, item.lunar_day, item.lunar_leap) == (
        "lunar",
        None,
        8,
        15,
        True,
    )


def test_add_date_logs_a_system_entry_and_writes_history(org_world, zhang):
    item = services.personal_date_add(
        actor=org_world.rep1, customer_id=zhang.pk, kind="child_birthday", date=dt.date(2018, 3, 2)
    )

    assert _system_subjects(zhang) == ["Personal date added: child_birthday"]
    assert list(item.history.values_list("history_type", "history_user_id")) == [("+", org_world.rep1.pk)]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "birthday_of_dog", "date": dt.date(2015, 1, 1)}, "kind"),
        ({"kind": "wedding", "label": "x" * 65, "date": dt.date(2015, 1, 1)}, "label"),
        ({"kind": "wedding", "calendar": "julian", "date": dt.date(2015, 1, 1)}, "calendar"),
        ({"kind": "wedding"}, "date"),
        ({"kind": "wedding", "date": dt.date(2999, 1, 1)}, "date"),
        ({"kind": "wedding", "calendar": "lunar", "lunar_month": 13, "lunar_day": 1}, "lunar_month"),
        ({"kind": "wedding", "calendar": "lunar", "lunar_day": 1}, "lunar_month"),
        ({"kind": "wedding", "calendar": "lunar", "lunar_month": 1, "lunar_day": 31}, "lunar_day"),
        ({"kind": "wedding", "calendar": "lunar", "lunar_month": 1, "lunar_day": 0}, "lunar_day"),
    ],
)
def test_add_date_rejects_bad_values_by_field(org_world, zhang, data, field):
    with pytest.raises(ValidationFailed) as exc:
        services.personal_date_add(actor=org_world.rep1, customer_id=zhang.pk, **data)

    assert list(exc.value.errors) == [field]
    assert PersonalDate.objects.count() == 0


def test_future_date_message(org_world, zhang):
    with pytest.raises(ValidationFailed) as exc:
        services.personal_date_add(
            actor=org_world.rep1,
            customer_id=zhang.pk,
            kind="wedding",
            date=timezone.localdate() + dt.timedelta(1),
        )

    assert exc.value.errors == {"date": ["date is in the future"]}


@pytest.mark.parametrize("role", ["dcrc", "aftersales"])
def test_add_date_refused_for_roles_that_cannot_edit(org_world, zhang, role):
    with pytest.raises(PermissionDenied):
        services.personal_date_add(
            actor=getattr(org_world, role), customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 1, 1)
        )

    assert (PersonalDate.objects.count(), _system_subjects(zhang)) == (0, [])


def test_add_date_for_another_reps_customer_is_not_found(org_world, zhang):
    with pytest.raises(NotFound):
        services.personal_date_add(
            actor=org_world.rep2, customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 1, 1)
        )

    assert (PersonalDate.objects.count(), _system_subjects(zhang)) == (0, [])


def test_remove_date_deletes_it_logs_and_keeps_a_history_row(org_world, zhang):
    item = services.personal_date_add(
        actor=org_world.rep1, customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 10, 1)
    )

    services.personal_date_remove(actor=org_world.manager1, date_id=item.pk)

    assert PersonalDate.objects.count() == 0
    assert _system_subjects(zhang) == ["Personal date added: wedding", "Personal date removed: wedding"]
    assert list(
        PersonalDate.history.filter(id=item.pk)
        .order_by("history_id")
        .values_list("history_type", "history_user_id")
    ) == [("+", org_world.rep1.pk), ("-", org_world.manager1.pk)]


def test_remove_date_refused_for_dcrc_and_not_found_for_other_rep(org_world, zhang):
    item = services.personal_date_add(
        actor=org_world.rep1, customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 10, 1)
    )

    with pytest.raises(PermissionDenied):
        services.personal_date_remove(actor=org_world.dcrc, date_id=item.pk)
    with pytest.raises(NotFound):
        services.personal_date_remove(actor=org_world.rep2, date_id=item.pk)

    assert list(PersonalDate.objects.values_list("pk", flat=True)) == [item.pk]


def test_remove_date_of_a_different_customer_is_not_found(org_world, zhang):
    other = CustomerFactory(owner=org_world.rep1, name="李娜")
    item = services.personal_date_add(
        actor=org_world.rep1, customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 10, 1)
    )

    with pytest.raises(NotFound):
        services.personal_date_remove(actor=org_world.rep1, date_id=item.pk, customer_id=other.pk)

    assert PersonalDate.objects.count() == 1


# ---------------------------------------------------------------- testimonials: services


def test_add_testimonial_with_consent_stores_exact_values(org_world, zhang, product):
    before = timezone.now()
    t = services.testimonial_add(
        actor=org_world.rep1,
        customer_id=zhang.pk,
        text=" 服务很好 ",
        product_id=product.pk,
        consent_given=True,
    )

    t.refresh_from_db()
    assert (t.customer_id, t.product_id, t.text, t.consent_given, t.recorded_by_id) == (
        zhang.pk,
        product.pk,
        "服务很好",
        True,
        org_world.rep1.pk,
    )
    assert t.consent_at is not None and t.consent_at >= before
    assert _system_subjects(zhang) == ["Testimonial recorded"]
    assert list(t.history.values_list("history_type", "history_user_id")) == [("+", org_world.rep1.pk)]


def test_add_testimonial_without_consent_has_no_consent_time(org_world, zhang):
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="还行", consent_given=False)

    assert (t.product_id, t.consent_given, t.consent_at) == (None, False, None)


def test_add_testimonial_requires_text(org_world, zhang):
    with pytest.raises(ValidationFailed) as exc:
        services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="   ", consent_given=True)

    assert exc.value.errors == {"text": ["required"]}
    assert archive.Testimonial.objects.count() == 0


def test_add_testimonial_refuses_another_organisations_product(org_world, zhang):
    foreign = ProductFactory(organisation=org_world.other_org)

    with pytest.raises(ValidationFailed) as exc:
        services.testimonial_add(
            actor=org_world.rep1, customer_id=zhang.pk, text="好", product_id=foreign.pk, consent_given=True
        )

    assert exc.value.errors == {"product_id": ["not in your organisation"]}
    assert archive.Testimonial.objects.count() == 0


@pytest.mark.parametrize("role", ["dcrc", "aftersales"])
def test_add_testimonial_refused_for_roles_that_cannot_edit(org_world, zhang, role):
    with pytest.raises(PermissionDenied):
        services.testimonial_add(
            actor=getattr(org_world, role), customer_id=zhang.pk, text="好", consent_given=True
        )

    assert (archive.Testimonial.objects.count(), _system_subjects(zhang)) == (0, [])


def test_add_testimonial_for_another_reps_customer_is_not_found(org_world, zhang):
    with pytest.raises(NotFound):
        services.testimonial_add(actor=org_world.rep3, customer_id=zhang.pk, text="好", consent_given=True)

    assert archive.Testimonial.objects.count() == 0


def test_withdrawing_consent_clears_it_logs_and_writes_history(org_world, zhang):
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=True)

    services.testimonial_set_consent(actor=org_world.rep1, testimonial_id=t.pk, consent_given=False)

    t.refresh_from_db()
    assert (t.consent_given, t.consent_at) == (False, None)
    assert _system_subjects(zhang) == ["Testimonial recorded", "Testimonial consent withdrawn"]
    assert list(t.history.order_by("history_id").values_list("consent_given", flat=True)) == [True, False]


def test_dcrc_may_withdraw_consent_but_not_give_it(org_world, zhang):
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=True)

    services.testimonial_set_consent(actor=org_world.dcrc, testimonial_id=t.pk, consent_given=False)
    with pytest.raises(PermissionDenied):
        services.testimonial_set_consent(actor=org_world.dcrc, testimonial_id=t.pk, consent_given=True)

    t.refresh_from_db()
    assert t.consent_given is False


def test_consent_change_for_another_reps_customer_is_not_found(org_world, zhang):
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=True)

    with pytest.raises(NotFound):
        services.testimonial_set_consent(actor=org_world.rep2, testimonial_id=t.pk, consent_given=False)

    t.refresh_from_db()
    assert t.consent_given is True


def test_giving_consent_again_sets_the_time(org_world, zhang):
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=False)

    services.testimonial_set_consent(actor=org_world.rep1, testimonial_id=t.pk, consent_given=True)

    t.refresh_from_db()
    assert t.consent_given is True and t.consent_at is not None


# ---------------------------------------------------------------- selectors


def test_testimonials_for_product_shows_only_consented_by_default(org_world, zhang, product):
    kept = services.testimonial_add(
        actor=org_world.rep1, customer_id=zhang.pk, text="推荐", product_id=product.pk, consent_given=True
    )
    withdrawn = services.testimonial_add(
        actor=org_world.rep1, customer_id=zhang.pk, text="不错", product_id=product.pk, consent_given=True
    )
    services.testimonial_set_consent(actor=org_world.rep1, testimonial_id=withdrawn.pk, consent_given=False)

    shown = selectors.testimonials_for_product(org_world.manager1, product.pk)
    everything = selectors.testimonials_for_product(org_world.manager1, product.pk, consented_only=False)

    assert [t.pk for t in shown] == [kept.pk]
    assert sorted(t.pk for t in everything) == sorted([kept.pk, withdrawn.pk])


def test_testimonials_for_product_applies_the_viewers_scope(org_world, zhang, product):
    services.testimonial_add(
        actor=org_world.rep1, customer_id=zhang.pk, text="推荐", product_id=product.pk, consent_given=True
    )

    assert selectors.testimonials_for_product(org_world.rep2, product.pk) == []
    assert selectors.testimonials_for_product(org_world.other_owner, product.pk) == []


def test_products_for_org_lists_active_products_of_the_org_by_name(org_world):
    ProductFactory(organisation=org_world.org, name="途观")
    ProductFactory(organisation=org_world.org, name="帕萨特")
    ProductFactory(organisation=org_world.org, name="停产车", active=False)
    ProductFactory(organisation=org_world.other_org, name="别家车")

    names = [p.name for p in selectors.products_for_org(org_world.rep1)]

    assert names == sorted(["途观", "帕萨特"])


def test_customer_360_includes_dates_and_testimonials(org_world, zhang):
    d = services.personal_date_add(
        actor=org_world.rep1, customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 1, 1)
    )
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=False)

    data = selectors.customer_360(org_world.rep1, zhang.pk)

    assert ([x.pk for x in data.personal_dates], [x.pk for x in data.testimonials]) == ([d.pk], [t.pk])


def test_system_subjects_are_translated(org_world, zhang):
    services.personal_date_add(
        actor=org_world.rep1, customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 1, 1)
    )
    services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=True)

    with override("zh-hans"):
        subjects = [activity_subject(a) for a in Activity.objects.filter(customer=zhang).order_by("id")]

    assert subjects == ["新增纪念日：结婚纪念日", "记录客户见证"]


# ---------------------------------------------------------------- pages


def test_rep_adds_a_date_through_the_page_and_sees_it(client, org_world, zhang):
    client.force_login(org_world.rep1)

    response = client.post(
        reverse("customers:date_add", args=[zhang.pk]),
        {
            "date-kind": "wedding",
            "date-label": "结婚十周年",
            "date-calendar": "solar",
            "date-date": "2015-10-01",
        },
    )

    assert response.status_code == 302
    html = client.get(reverse("customers:detail", args=[zhang.pk])).content.decode()
    assert "结婚十周年" in html and "2015-10-01" in html


def test_page_shows_a_field_error_for_a_lunar_date_without_month(client, org_world, zhang):
    client.force_login(org_world.rep1)

    response = client.post(
        reverse("customers:date_add", args=[zhang.pk]),
        {"date-kind": "wedding", "date-calendar": "lunar", "date-lunar_day": "5"},
    )

    assert response.status_code == 422
    assert list(response.context["date_form"].errors) == ["lunar_month"]
    assert PersonalDate.objects.count() == 0


def test_rep_removes_a_date_through_the_page(client, org_world, zhang):
    item = services.personal_date_add(
        actor=org_world.rep1, customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 10, 1)
    )
    client.force_login(org_world.rep1)

    response = client.post(reverse("customers:date_remove", args=[zhang.pk, item.pk]))

    assert response.status_code == 302
    assert PersonalDate.objects.count() == 0


def test_rep_records_a_testimonial_through_the_page(client, org_world, zhang, product):
    client.force_login(org_world.rep1)

    response = client.post(
        reverse("customers:testimonial_add", args=[zhang.pk]),
        {
            "testimonial-text": "提车很顺利",
            "testimonial-product_id": str(product.pk),
            "testimonial-consent_given": "on",
        },
    )

    assert response.status_code == 302
    t = archive.Testimonial.objects.get()
    assert (t.text, t.product_id, t.consent_given) == ("提车很顺利", product.pk, True)
    html = client.get(reverse("customers:detail", args=[zhang.pk])).content.decode()
    assert "提车很顺利" in html and "帕萨特" in html


def test_rep_withdraws_testimonial_consent_through_the_page(client, org_world, zhang):
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=True)
    client.force_login(org_world.rep1)

    response = client.post(
        reverse("customers:testimonial_consent", args=[zhang.pk, t.pk]), {"consent_given": "0"}
    )

    assert response.status_code == 302
    t.refresh_from_db()
    assert t.consent_given is False


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("customers:date_add", {"date-kind": "wedding", "date-calendar": "solar", "date-date": "2015-10-01"}),
        ("customers:testimonial_add", {"testimonial-text": "好", "testimonial-consent_given": "on"}),
    ],
)
def test_dcrc_gets_403_and_nothing_is_saved(client, org_world, zhang, name, data):
    client.force_login(org_world.dcrc)

    response = client.post(reverse(name, args=[zhang.pk]), data)

    assert response.status_code == 403
    assert (PersonalDate.objects.count(), archive.Testimonial.objects.count()) == (0, 0)


def test_dcrc_sees_no_add_forms(client, org_world, zhang):
    client.force_login(org_world.dcrc)

    html = client.get(reverse("customers:detail", args=[zhang.pk])).content.decode()

    assert 'id="date-form"' not in html and 'id="testimonial-form"' not in html
    assert 'id="personal-dates"' in html and 'id="testimonials"' in html


def test_rep_sees_the_add_forms(client, org_world, zhang):
    client.force_login(org_world.rep1)

    html = client.get(reverse("customers:detail", args=[zhang.pk])).content.decode()

    assert 'id="date-form"' in html and 'id="testimonial-form"' in html


# ---------------------------------------------------------------- API


def test_api_adds_a_personal_date(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/personal-dates", {"kind": "wedding", "date": "2015-10-01"}
    )

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "kind": "wedding",
        "label": "",
        "calendar": "solar",
        "date": "2015-10-01",
        "lunar_month": None,
        "lunar_day": None,
        "lunar_leap": False,
    }


def test_api_personal_date_errors_name_the_field(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/personal-dates", {"kind": "wedding", "calendar": "lunar", "lunar_month": 2}
    )

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["lunar_day"]


def test_api_personal_date_for_another_reps_customer_is_404(org_world, api_as, zhang):
    response = api_as(org_world.rep2).post(
        f"/customers/{zhang.pk}/personal-dates", {"kind": "wedding", "date": "2015-10-01"}
    )

    assert response.status_code == 404
    assert PersonalDate.objects.count() == 0


def test_api_deletes_a_personal_date(org_world, api_as, zhang):
    item = services.personal_date_add(
        actor=org_world.rep1, customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 10, 1)
    )
    api = api_as(org_world.rep1)

    response = api.client.delete(
        f"/api/v1/customers/{zhang.pk}/personal-dates/{item.pk}", headers=api.headers
    )

    assert response.status_code == 204
    assert PersonalDate.objects.count() == 0


def test_api_delete_of_an_unknown_date_is_404(org_world, api_as, zhang):
    api = api_as(org_world.rep1)

    response = api.client.delete(f"/api/v1/customers/{zhang.pk}/personal-dates/999999", headers=api.headers)

    assert response.status_code == 404


def test_api_records_a_testimonial(org_world, api_as, zhang, product):
    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/testimonials",
        {"text": "服务很好", "product_id": product.pk, "consent_given": True},
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["text"], body["product_id"], body["product_name"], body["consent_given"]) == (
        "服务很好",
        product.pk,
        "帕萨特",
        True,
    )
    assert body["consent_at"] is not None


def test_api_testimonial_with_a_foreign_product_is_422(org_world, api_as, zhang):
    foreign = ProductFactory(organisation=org_world.other_org)

    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/testimonials", {"text": "好", "product_id": foreign.pk, "consent_given": True}
    )

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["product_id"]
    assert archive.Testimonial.objects.count() == 0


def test_api_testimonial_by_dcrc_is_403(org_world, api_as, zhang):
    response = api_as(org_world.dcrc).post(
        f"/customers/{zhang.pk}/testimonials", {"text": "好", "consent_given": True}
    )

    assert response.status_code == 403
    assert archive.Testimonial.objects.count() == 0


def test_api_withdraws_testimonial_consent(org_world, api_as, zhang):
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=True)

    response = api_as(org_world.rep1).post(
        f"/customers/{zhang.pk}/testimonials/{t.pk}/consent", {"consent_given": False}
    )

    assert response.status_code == 200
    assert (response.json()["consent_given"], response.json()["consent_at"]) == (False, None)


def test_api_consent_for_a_testimonial_of_another_customer_is_404(org_world, api_as, zhang):
    other = CustomerFactory(owner=org_world.rep1, name="李娜")
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=True)

    response = api_as(org_world.rep1).post(
        f"/customers/{other.pk}/testimonials/{t.pk}/consent", {"consent_given": False}
    )

    assert response.status_code == 404
    t.refresh_from_db()
    assert t.consent_given is True


def test_api_detail_includes_dates_and_testimonials(org_world, api_as, zhang):
    services.personal_date_add(
        actor=org_world.rep1,
        customer_id=zhang.pk,
        kind="child_birthday",
        calendar="lunar",
        lunar_month=1,
        lunar_day=2,
    )
    services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=False)

    body = api_as(org_world.rep1).get(f"/customers/{zhang.pk}").json()

    assert [(d["kind"], d["lunar_month"], d["lunar_day"]) for d in body["personal_dates"]] == [
        ("child_birthday", 1, 2)
    ]
    assert [(t["text"], t["consent_given"]) for t in body["testimonials"]] == [("好", False)]


def test_api_testimonial_without_text_is_422(org_world, api_as, zhang):
    response = api_as(org_world.rep1).post(f"/customers/{zhang.pk}/testimonials", {"consent_given": True})

    assert response.status_code == 422
    assert response.json()["errors"] == {"text": ["Field required"]}


def test_removing_a_date_on_someone_elses_customer_page_is_404_and_keeps_it(client, org_world, zhang):
    item = services.personal_date_add(
        actor=org_world.rep1, customer_id=zhang.pk, kind="wedding", date=dt.date(2015, 10, 1)
    )
    client.force_login(org_world.rep2)

    response = client.post(reverse("customers:date_remove", args=[zhang.pk, item.pk]))

    assert response.status_code == 404
    assert PersonalDate.objects.filter(pk=item.pk).exists()


def test_dcrc_may_not_give_testimonial_consent_on_the_page(client, org_world, zhang):
    t = services.testimonial_add(actor=org_world.rep1, customer_id=zhang.pk, text="好", consent_given=False)
    client.force_login(org_world.dcrc)

    response = client.post(
        reverse("customers:testimonial_consent", args=[zhang.pk, t.pk]), {"consent_given": "1"}
    )

    assert response.status_code == 403
    t.refresh_from_db()
    assert t.consent_given is False
