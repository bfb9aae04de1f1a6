"""Tickets, invitations and survey answers belong to the store on the row (the store that sold,
serviced or took the complaint), not to the customer's current store; every row carries one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from huitou.core.errors import NotFound
from huitou.customers.models import Customer
from huitou.feedback import selectors, services, tickets
from huitou.feedback.models import SurveyInvitation, SurveyResponse, Ticket
from tests.factories import CustomerFactory, PurchaseFactory, UserFactory

from .helpers import answers, at, customer_of, invitation_for, sale, template

pytestmark = pytest.mark.django_db


def _people(world):
    """Reps outside every team (so no manager sees their customers through a team) and an
    after-sales user of the second store."""
    return {
        "rep_a": UserFactory(username="rep_a", role="rep", organisation=world.org, store=world.s1),
        "rep_b": UserFactory(username="rep_b", role="rep", organisation=world.org, store=world.s2),
        "as_b": UserFactory(username="as_b", role="aftersales", organisation=world.org, store=world.s2),
    }


def _moves(customer, *, owner, store):
    Customer.objects.filter(pk=customer.pk).update(owner=owner, store=store)


def _ticket_at(world, customer):
    return tickets.ticket_open(
        actor=world.owner,
        customer_id=customer.pk,
        summary="空调不制冷",
        channel="phone",
        received_at=at(2026, 9, 30, 10),
        now=at(2026, 9, 30, 10),
    )


def _visible(user, ticket):
    try:
        selectors.ticket_get(user, ticket.pk)
    except NotFound:
        return False
    assert ticket.pk in set(selectors.ticket_queryset(user).values_list("pk", flat=True))
    return True


def test_a_ticket_stays_with_the_store_that_took_it_when_the_customer_moves(world):
    p = _people(world)
    # Raised at store A (s1) for a customer who now belongs to store B (s2).
    moved_to_b = CustomerFactory(owner=p["rep_a"], store=world.s1, organisation=world.org)
    at_a = _ticket_at(world, moved_to_b)
    _moves(moved_to_b, owner=p["rep_b"], store=world.s2)
    # Raised at store B for a customer who now belongs to store A.
    moved_to_a = CustomerFactory(owner=p["rep_b"], store=world.s2, organisation=world.org)
    at_b = _ticket_at(world, moved_to_a)
    _moves(moved_to_a, owner=p["rep_a"], store=world.s1)
    assert (at_a.store_id, at_b.store_id) == (world.s1.pk, world.s2.pk)

    # Manager and after-sales of store A: the ticket raised at A, not the one raised at B.
    for user in (world.manager1, world.aftersales):
        assert _visible(user, at_a), user.username
        assert not _visible(user, at_b), user.username
    # And the other way round for store B.
    for user in (world.manager2, p["as_b"]):
        assert _visible(user, at_b), user.username
        assert not _visible(user, at_a), user.username
    # The owner sees both; the customers' new reps see their customers' tickets, as before.
    assert _visible(world.owner, at_a) and _visible(world.owner, at_b)
    assert _visible(p["rep_b"], at_a) and _visible(p["rep_a"], at_b)


def test_a_manager_sees_the_tickets_their_team_handles_raised_elsewhere(world):
    customer = CustomerFactory(owner=world.rep3, store=world.s1, organisation=world.org)  # rep3: team 2
    ticket = _ticket_at(world, customer)
    assert (ticket.store_id, ticket.owner_id) == (world.s1.pk, world.rep3.pk)
    assert _visible(world.manager2, ticket)
    world.org.policy_data = {"people": {"manager_sees_whole_store": False}}
    world.org.save()
    world.manager1.refresh_from_db()
    world.manager2.refresh_from_db()
    assert not _visible(world.manager1, ticket)  # store A, but not handled by their team
    assert _visible(world.manager2, ticket)
    Ticket.objects.filter(pk=ticket.pk).update(owner=world.rep1)
    assert _visible(world.manager1, ticket) and not _visible(world.manager2, ticket)


def test_a_rep_cannot_open_another_reps_customers_ticket_by_id(world, client):
    ticket = _ticket_at(world, customer_of(world.rep1))
    url = reverse("feedback:ticket_detail", args=[ticket.pk])
    client.force_login(world.rep1)
    assert client.get(url).status_code == 200
    client.force_login(world.rep2)  # same store, same team
    assert client.get(url).status_code == 404
    api = client.get(f"/api/v1/feedback/tickets/{ticket.pk}")
    assert api.status_code == 404


def _answered(world, customer, *, overall=5):
    inv = invitation_for(sale(customer))
    why = {"overall": "很差"} if overall < 3 else None
    services.response_submit(
        token=services.survey_token(inv.pk),
        answers=answers(template(world.org), overall=overall, why=why),
        now=at(2026, 3, 23, 9),
    )
    return SurveyResponse.objects.get(invitation=inv)


def test_answers_and_invitations_stay_with_the_store_that_sold(world):
    p = _people(world)
    customer = CustomerFactory(owner=p["rep_a"], store=world.s1, organisation=world.org)
    response = _answered(world, customer)
    _moves(customer, owner=p["rep_b"], store=world.s2)
    assert response.store_id == world.s1.pk
    for user in (world.manager1, world.aftersales):
        assert selectors.response_get(user, response.pk).pk == response.pk
        assert selectors.invitation_get(user, response.invitation_id).pk == response.invitation_id
    for user in (world.manager2, p["as_b"]):
        with pytest.raises(NotFound):
            selectors.response_get(user, response.pk)
        with pytest.raises(NotFound):
            selectors.invitation_get(user, response.invitation_id)
    assert not selectors.response_queryset(world.manager2).filter(pk=response.pk).exists()


def test_a_manager_reads_the_answers_crediting_their_team_sold_at_another_store(world):
    customer = CustomerFactory(owner=world.rep3, store=world.s1, organisation=world.org)
    response = _answered(world, customer)  # rep3 (team 2) sold at store 1
    assert (response.rep_id, response.store_id) == (world.rep3.pk, world.s1.pk)
    assert selectors.response_get(world.manager2, response.pk).pk == response.pk
    assert selectors.response_get(world.manager1, response.pk).pk == response.pk


def test_rows_of_a_sale_without_a_store_take_the_customers_store(world):
    customer = customer_of(world.rep1, store=world.s2)
    purchase = PurchaseFactory(
        customer=customer,
        rep=world.rep1,
        store=None,
        ordered_on=dt.date(2026, 3, 1),
        promised_on=dt.date(2026, 3, 17),
        kind="first",
        amount=Decimal("150000.00"),
    )
    purchase.refresh_from_db()
    assert purchase.store_id is None
    assert services.invitations_create(organisation=world.org, today=dt.date(2026, 3, 20)) == 1
    inv = SurveyInvitation.objects.get(purchase=purchase)
    assert inv.store_id == world.s2.pk
    # An invitation written without a store (an import, an older row): the response, its
    # answers and the complaint it opens take the customer's store.
    SurveyInvitation.objects.filter(pk=inv.pk).update(store=None, status="sent")
    services.response_submit(
        token=services.survey_token(inv.pk),
        answers=answers(template(world.org), overall=1, why={"overall": "很差"}),
        now=at(2026, 3, 21, 9),
    )
    response = SurveyResponse.objects.get(invitation=inv)
    assert response.store_id == world.s2.pk
    assert set(response.answers.values_list("store_id", flat=True)) == {world.s2.pk}
    ticket = Ticket.objects.get(channel="survey", customer=customer)
    assert ticket.store_id == world.s2.pk
    assert selectors.ticket_get(world.manager2, ticket.pk).pk == ticket.pk


def test_the_migration_gives_rows_without_a_store_the_customers_store(world):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("huitou.feedback.migrations.0004_store_scope_indexes")
    customer = customer_of(world.rep3)  # store 2
    response = _answered(world, customer, overall=1)
    ticket = Ticket.objects.get(channel="survey", customer=customer)
    moved = customer_of(world.rep3)
    kept = _ticket_at(world, moved)  # raised at store 2; the customer moves to store 1 below
    _moves(moved, owner=world.rep1, store=world.s1)
    for model, pk in ((SurveyResponse, response.pk), (SurveyInvitation, response.invitation_id)):
        model.objects.filter(pk=pk).update(store=None)
    Ticket.objects.filter(pk=ticket.pk).update(store=None)
    _moves(customer, owner=world.rep3, store=world.s1)  # where the customer is now
    migration.backfill_store(apps, None)
    assert SurveyResponse.objects.get(pk=response.pk).store_id == world.s1.pk
    assert SurveyInvitation.objects.get(pk=response.invitation_id).store_id == world.s1.pk
    assert Ticket.objects.get(pk=ticket.pk).store_id == world.s1.pk
    assert Ticket.objects.get(pk=kept.pk).store_id == world.s2.pk  # a row with a store keeps it
    assert SurveyResponse.objects.exclude(pk=response.pk).filter(store__isnull=True).count() == 0
