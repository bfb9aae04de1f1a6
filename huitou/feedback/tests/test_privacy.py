"""A PIPL request reaches the feedback data: export lists it, erasure blanks the free texts."""

from __future__ import annotations

import pytest

from huitou.feedback import services, tickets
from huitou.feedback.models import Answer, SurveyResponse, Ticket, TicketEvent
from huitou.feedback.privacy import feedback_erase, feedback_personal_data

from .helpers import answers, at, customer_of, invitation_for, sale, template

pytestmark = pytest.mark.django_db


def test_export_and_erase(world):
    customer = customer_of(world.rep1)
    other = customer_of(world.rep1)
    inv = invitation_for(sale(customer))
    services.response_submit(
        token=services.survey_token(inv.pk),
        answers=answers(template(world.org), overall=1, why={"overall": "张先生说等了三小时"}),
        now=at(2026, 3, 21),
    )
    kept = tickets.ticket_open(actor=world.dcrc, customer_id=other.pk, summary="别人的投诉", channel="phone")
    data = feedback_personal_data([customer.pk])
    assert len(data["survey_responses"]) == 1 and len(data["tickets"]) == 1
    assert any(a["text"] == "张先生说等了三小时" for a in data["survey_answers"])
    feedback_erase([customer.pk])
    assert not Answer.objects.filter(response__customer=customer).exclude(text="").exists()
    ticket = Ticket.objects.get(customer=customer)
    assert (ticket.summary, ticket.detail, ticket.status) == ("—", "", "open")
    assert not TicketEvent.objects.filter(ticket=ticket).exclude(text="").exists()
    assert SurveyResponse.objects.get(customer=customer).overall == 1  # the figures stay
    kept.refresh_from_db()
    assert kept.summary == "别人的投诉"


def test_the_demo_wipe_deletes_feedback_rows_along_their_keys(world):
    """``huitou.demo`` wipes an organisation by following foreign keys a few levels deep: the
    feedback tables must form no cycle (response → ticket → follow-up invitation → response)."""
    from huitou.demo import _purge_archive
    from huitou.feedback.models import SurveyInvitation, ValueAddedService

    customer = customer_of(world.rep1)
    inv = invitation_for(sale(customer))
    services.response_submit(
        token=services.survey_token(inv.pk),
        answers=answers(template(world.org), overall=1, why={"overall": "差"}),
        now=at(2026, 3, 21),
    )
    ticket = Ticket.objects.get()
    tickets.supervisor_reply_save(
        actor=world.manager1,
        ticket_id=ticket.pk,
        answer="a",
        measures="m",
        customer_reaction="satisfied",
        sign=True,
    )
    tickets.ticket_close(actor=world.manager1, ticket_id=ticket.pk)
    follow = SurveyInvitation.objects.get(ticket=ticket)
    services.response_submit(
        token=services.survey_token(follow.pk), answers=answers(template(world.org, "complaint_followup"))
    )
    tickets.value_added_service_add(
        actor=world.manager1, customer_id=customer.pk, kind="extra", note="x", ticket_id=ticket.pk
    )
    _purge_archive(world.org.pk)
    assert (Ticket.objects.count(), SurveyResponse.objects.count(), SurveyInvitation.objects.count()) == (
        0,
        0,
        0,
    )
    assert ValueAddedService.objects.count() == 0
