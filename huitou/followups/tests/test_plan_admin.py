"""Absences (who covers a rep) and product notices (how many owners each reaches)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.customers.models import Customer
from huitou.followups import plan_admin
from huitou.followups.models import Absence, PlanRun, ProductNotice
from tests.factories import CustomerFactory, OwnedProductFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

D = dt.date


# --- absences -----------------------------------------------------------------------------------


def test_manager_records_an_absence_for_their_rep(org_world):
    w = org_world
    a = plan_admin.absence_create(
        actor=w.manager1,
        user_id=w.rep1.pk,
        starts_on=D(2026, 12, 1),
        ends_on=D(2026, 12, 5),
        delegate_id=w.rep2.pk,
        reason=" 年假 ",
    )
    a.refresh_from_db()
    assert (a.user_id, a.delegate_id, a.reason, a.organisation_id) == (w.rep1.pk, w.rep2.pk, "年假", w.org.pk)


def test_manager_cannot_record_for_another_team_and_nothing_is_stored(org_world):
    w = org_world
    for target in (w.rep3, w.other_owner):
        with pytest.raises(NotFound):
            plan_admin.absence_create(
                actor=w.manager1, user_id=target.pk, starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 2)
            )
    assert not Absence.objects.exists()


@pytest.mark.parametrize("who", ["rep1", "dcrc", "aftersales"])
def test_other_roles_cannot_record_absences(org_world, who):
    with pytest.raises(PermissionDenied):
        plan_admin.absence_create(
            actor=getattr(org_world, who),
            user_id=org_world.rep1.pk,
            starts_on=D(2026, 12, 1),
            ends_on=D(2026, 12, 2),
        )
    assert not Absence.objects.exists()


def test_absence_validation_names_fields(org_world):
    w = org_world
    with pytest.raises(ValidationFailed) as exc:
        plan_admin.absence_create(
            actor=w.owner,
            user_id=w.rep1.pk,
            starts_on=D(2026, 12, 5),
            ends_on=D(2026, 12, 1),
            delegate_id=w.other_owner.pk,
            reason="x" * 121,
        )
    assert exc.value.errors == {
        "ends_on": ["must not be before the first day"],
        "reason": ["at most 120 characters"],
        "delegate_id": ["not a current member of your organisation"],
    }
    with pytest.raises(ValidationFailed) as exc:
        plan_admin.absence_create(
            actor=w.owner,
            user_id=w.rep1.pk,
            starts_on=D(2026, 12, 1),
            ends_on=D(2026, 12, 1),
            delegate_id=w.rep1.pk,
        )
    assert exc.value.errors == {"delegate_id": ["someone cannot cover for themselves"]}
    assert not Absence.objects.exists()


def test_overlapping_absences_are_refused(org_world):
    w = org_world
    plan_admin.absence_create(
        actor=w.owner, user_id=w.rep1.pk, starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 5)
    )
    with pytest.raises(ValidationFailed) as exc:
        plan_admin.absence_create(
            actor=w.owner, user_id=w.rep1.pk, starts_on=D(2026, 12, 5), ends_on=D(2026, 12, 9)
        )
    assert exc.value.errors == {"starts_on": ["overlaps an absence already recorded for this person"]}
    with pytest.raises(ValidationFailed) as exc:
        plan_admin.absence_create(
            actor=w.owner,
            user_id=w.rep2.pk,
            starts_on=D(2026, 12, 3),
            ends_on=D(2026, 12, 4),
            delegate_id=w.rep1.pk,
        )
    assert exc.value.errors == {"delegate_id": ["is away during this time too"]}
    # The day after is free.
    plan_admin.absence_create(
        actor=w.owner, user_id=w.rep1.pk, starts_on=D(2026, 12, 6), ends_on=D(2026, 12, 6)
    )
    assert Absence.objects.count() == 2


def test_absence_list_shows_current_and_upcoming_in_scope(org_world):
    w = org_world
    past = Absence.objects.create(
        organisation=w.org, user=w.rep1, starts_on=D(2026, 11, 1), ends_on=D(2026, 11, 5)
    )
    now = Absence.objects.create(
        organisation=w.org, user=w.rep2, starts_on=D(2026, 11, 18), ends_on=D(2026, 11, 22)
    )
    soon = Absence.objects.create(
        organisation=w.org, user=w.rep1, starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 2)
    )
    other = Absence.objects.create(
        organisation=w.org, user=w.rep3, starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 2)
    )
    today = D(2026, 11, 20)
    assert [a.pk for a in plan_admin.absence_list(w.manager1, today=today)] == [now.pk, soon.pk]
    assert [a.pk for a in plan_admin.absence_list(w.owner, today=today)] == [now.pk, soon.pk, other.pk]
    assert past.pk not in [a.pk for a in plan_admin.absence_list(w.owner, today=today)]
    with pytest.raises(PermissionDenied):
        plan_admin.absence_list(w.rep1)


def test_absence_delete_is_scoped(org_world):
    w = org_world
    theirs = Absence.objects.create(
        organisation=w.org, user=w.rep3, starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 2)
    )
    with pytest.raises(NotFound):
        plan_admin.absence_delete(actor=w.manager1, absence_id=theirs.pk)
    assert Absence.objects.filter(pk=theirs.pk).exists()
    plan_admin.absence_delete(actor=w.manager2, absence_id=theirs.pk)
    assert not Absence.objects.exists()


# --- product notices ----------------------------------------------------------------------------


def test_notice_create_and_owner_counts(org_world):
    w = org_world
    product = ProductFactory(organisation=w.org, name="凯美瑞")
    unowned = ProductFactory(organisation=w.org, name="汉兰达")
    c1, c3 = CustomerFactory(owner=w.rep1), CustomerFactory(owner=w.rep3)
    OwnedProductFactory(customer=c1, product=product)
    OwnedProductFactory(customer=c1, product=product)  # two cars, one owner
    OwnedProductFactory(customer=c3, product=product)
    OwnedProductFactory(customer=CustomerFactory(owner=w.rep2), product=product, active=False)  # sold it
    OwnedProductFactory(
        customer=CustomerFactory(owner=w.rep2, status=Customer.Status.ERASED), product=product
    )
    today = timezone.localdate()
    first = plan_admin.notice_create(
        actor=w.manager1,
        product_id=product.pk,
        kind="price",
        title=" 保养降价 ",
        body="工时费八折",
        effective_on=today,
    )
    second = plan_admin.notice_create(
        actor=w.owner,
        product_id=unowned.pk,
        kind="recall",
        title="召回",
        effective_on=today + dt.timedelta(days=3),
    )
    assert (first.title, first.created_by_id, first.organisation_id) == ("保养降价", w.manager1.pk, w.org.pk)
    rows = plan_admin.notice_list(w.owner)
    assert [(r.id, r.product_name, r.owners) for r in rows] == [
        (second.pk, "汉兰达", 0),
        (first.pk, "凯美瑞", 2),
    ]


def test_notice_list_is_one_query(org_world, django_assert_num_queries):
    w = org_world
    for _ in range(3):
        product = ProductFactory(organisation=w.org)
        OwnedProductFactory(customer=CustomerFactory(owner=w.rep1), product=product)
        ProductNotice.objects.create(
            organisation=w.org, product=product, kind="news", title="t", effective_on=D(2026, 12, 1)
        )
    with django_assert_num_queries(1):
        rows = plan_admin.notice_list(w.owner)
    assert [r.owners for r in rows] == [1, 1, 1]


def test_notice_validation_and_refusals(org_world):
    w = org_world
    theirs = ProductFactory(organisation=w.other_org)
    with pytest.raises(ValidationFailed) as exc:
        plan_admin.notice_create(
            actor=w.owner,
            product_id=theirs.pk,
            kind="gossip",
            title="",
            effective_on=timezone.localdate() - dt.timedelta(days=1),
        )
    assert exc.value.errors == {
        "product_id": ["no such product in your organisation"],
        "kind": ["not a valid choice"],
        "title": ["required"],
        "effective_on": ["cannot be in the past"],
    }
    mine = ProductFactory(organisation=w.org)
    with pytest.raises(PermissionDenied):
        plan_admin.notice_create(actor=w.rep1, product_id=mine.pk, kind="news", title="t")
    assert not ProductNotice.objects.exists()


def test_users_who_left_are_not_delegates(org_world):
    w = org_world
    gone = UserFactory(
        username="gone", role="rep", organisation=w.org, store=w.s1, team=w.t1, left_at=timezone.now()
    )
    with pytest.raises(ValidationFailed) as exc:
        plan_admin.absence_create(
            actor=w.owner,
            user_id=w.rep1.pk,
            starts_on=D(2026, 12, 1),
            ends_on=D(2026, 12, 2),
            delegate_id=gone.pk,
        )
    assert exc.value.errors == {"delegate_id": ["not a current member of your organisation"]}


def test_notice_for_a_day_whose_plan_already_ran_is_refused(org_world):
    w = org_world
    product = ProductFactory(organisation=w.org)
    today = timezone.localdate()
    PlanRun.objects.create(
        organisation=w.org, day=today, status=PlanRun.Status.DONE, started_at=timezone.now()
    )
    with pytest.raises(ValidationFailed) as exc:
        plan_admin.notice_create(
            actor=w.owner, product_id=product.pk, kind="news", title="t", effective_on=today
        )
    assert exc.value.errors == {"effective_on": ["the plan of this day has already run; choose a later day"]}
    tomorrow = today + dt.timedelta(days=1)
    notice = plan_admin.notice_create(
        actor=w.owner, product_id=product.pk, kind="news", title="t", effective_on=tomorrow
    )
    assert notice.effective_on == tomorrow
