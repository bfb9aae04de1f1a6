"""Tickets: opening from any channel, the reply clock, the supervisor reply, closing with its
satisfaction check, escalation, scope, concessions with approval, value-added services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.customers.models import Activity
from huitou.feedback import selectors, services, tickets
from huitou.feedback.models import (
    Concession,
    SupervisorReply,
    SurveyInvitation,
    Ticket,
    TicketEvent,
    ValueAddedService,
)

from .helpers import answers, at, customer_of, invitation_for, sale, template

pytestmark = pytest.mark.django_db


def eod(y, m, d):
    return at(y, m, d, 23, 59).replace(second=59)


def open_ticket(world, customer, *, actor=None, when=None, **kw):
    return tickets.ticket_open(
        actor=actor or world.dcrc,
        customer_id=customer.pk,
        summary=kw.pop("summary", "空调不制冷"),
        channel=kw.pop("channel", "phone"),
        received_at=when or at(2026, 9, 30, 10),
        now=when or at(2026, 9, 30, 10),
        **kw,
    )


def signed(world, ticket, *, actor=None, now=None):
    return tickets.supervisor_reply_save(
        actor=actor or world.manager1,
        ticket_id=ticket.pk,
        answer="已免费更换压缩机",
        measures="加强交车前检查",
        customer_reaction="satisfied",
        sign=True,
        now=now or at(2026, 10, 9, 15),
    )


# --- opening ---------------------------------------------------------------------------------------


def test_a_phoned_complaint_gets_its_deadlines_across_national_day(world):
    customer = customer_of(world.rep1)
    ticket = open_ticket(world, customer, category="product", severity="high")
    assert (ticket.owner_id, ticket.store_id, ticket.status, ticket.created_by_id) == (
        world.rep1.pk,
        world.s1.pk,
        "open",
        world.dcrc.pk,
    )
    assert ticket.first_reply_due_at == eod(2026, 9, 30)
    assert ticket.resolve_due_at == eod(2026, 10, 15)
    assert list(ticket.events.values_list("kind", flat=True)) == ["created"]
    activity = Activity.objects.get(customer=customer, kind="complaint")
    assert (activity.user_id, activity.subject) == (
        world.dcrc.pk,
        f"抱怨 #{ticket.pk} 已受理:产品质量",  # the timeline is written in the site language
    )


def test_an_evening_ticket_is_due_after_the_holiday(world):
    ticket = open_ticket(world, customer_of(world.rep1), when=at(2026, 9, 30, 18))
    assert ticket.first_reply_due_at == eod(2026, 10, 8)


def test_out_of_scope_customers_are_not_found_and_nothing_is_written(world):
    theirs = customer_of(world.rep1)
    with pytest.raises(NotFound):
        open_ticket(world, theirs, actor=world.rep2)
    with pytest.raises(NotFound):
        open_ticket(world, theirs, actor=world.other_owner)
    assert (Ticket.objects.count(), Activity.objects.filter(kind="complaint").count()) == (0, 0)


def test_a_rep_handles_what_they_open_and_cannot_hand_it_to_another(world):
    customer = customer_of(world.rep1)
    mine = open_ticket(world, customer, actor=world.rep1)
    assert mine.owner_id == world.rep1.pk
    with pytest.raises(ValidationFailed) as err:
        open_ticket(world, customer, actor=world.rep1, owner_id=world.rep2.pk)
    assert list(err.value.errors) == ["owner_id"]
    with pytest.raises(ValidationFailed) as err:
        open_ticket(world, customer, channel="survey")
    assert list(err.value.errors) == ["channel"]


# --- working ---------------------------------------------------------------------------------------


def test_the_first_reply_stops_the_clock_once(world):
    ticket = open_ticket(world, customer_of(world.rep1))
    tickets.ticket_reply(
        actor=world.rep1, ticket_id=ticket.pk, text="已安排技师回电", now=at(2026, 9, 30, 11)
    )
    tickets.ticket_reply(actor=world.rep1, ticket_id=ticket.pk, text="技师已回电", now=at(2026, 10, 8, 9))
    ticket.refresh_from_db()
    assert (ticket.status, ticket.first_reply_at, ticket.version) == ("replied", at(2026, 9, 30, 11), 3)


def test_each_reply_is_on_the_customers_timeline(world):
    customer = customer_of(world.rep1)
    ticket = open_ticket(world, customer)
    tickets.ticket_reply(
        actor=world.rep1, ticket_id=ticket.pk, text="已安排技师回电", now=at(2026, 9, 30, 11)
    )
    rows = Activity.objects.filter(customer=customer, kind="complaint").order_by("occurred_at", "pk")
    assert [(r.subject, r.body) for r in rows][1:] == [(f"工单 #{ticket.pk} 已答复客户", "已安排技师回电")]


def test_stale_version_and_outsiders_change_nothing(world):
    from huitou.core.errors import Conflict

    ticket = open_ticket(world, customer_of(world.rep1))
    with pytest.raises(Conflict):
        tickets.ticket_reply(actor=world.rep1, ticket_id=ticket.pk, text="x", version=7)
    with pytest.raises(NotFound):
        tickets.ticket_reply(actor=world.rep2, ticket_id=ticket.pk, text="x")
    with pytest.raises(NotFound):
        tickets.ticket_reply(actor=world.manager2, ticket_id=ticket.pk, text="x")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.first_reply_at, ticket.version) == ("open", None, 1)


def test_supervisor_reply_is_for_managers_and_closing_needs_it_signed(world):
    ticket = open_ticket(world, customer_of(world.rep1))
    with pytest.raises(PermissionDenied):
        signed(world, ticket, actor=world.rep1)
    with pytest.raises(ValidationFailed) as err:
        tickets.ticket_close(actor=world.manager1, ticket_id=ticket.pk, now=at(2026, 10, 9, 16))
    assert list(err.value.errors) == ["supervisor_reply"]
    tickets.supervisor_reply_save(
        actor=world.manager1,
        ticket_id=ticket.pk,
        answer="草稿",
        measures="草稿",
        customer_reaction="accepted",
        sign=False,
    )
    with pytest.raises(ValidationFailed):
        tickets.ticket_close(actor=world.manager1, ticket_id=ticket.pk)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.closed_at) == ("open", None)


def test_closing_schedules_the_satisfaction_check(world):
    customer = customer_of(world.rep1)
    ticket = open_ticket(world, customer)
    reply = signed(world, ticket)
    assert (reply.manager_id, reply.signed_at, reply.customer_reaction) == (
        world.manager1.pk,
        at(2026, 10, 9, 15),
        "satisfied",
    )
    with pytest.raises(PermissionDenied):
        tickets.ticket_close(actor=world.rep1, ticket_id=ticket.pk)
    closed = tickets.ticket_close(actor=world.manager1, ticket_id=ticket.pk, now=at(2026, 10, 9, 16))
    assert (closed.status, closed.closed_at, closed.resolved_at, closed.first_reply_at) == (
        "closed",
        at(2026, 10, 9, 16),
        at(2026, 10, 9, 16),
        at(2026, 10, 9, 16),
    )
    check = SurveyInvitation.objects.get(ticket=ticket)
    assert (check.event, check.template.kind, check.send_on, check.rep_id, check.status) == (
        "ticket",
        "complaint_followup",
        dt.date(2026, 10, 11),
        world.rep1.pk,
        "pending",
    )
    kinds = list(ticket.events.order_by("at", "id").values_list("kind", flat=True))
    assert kinds == ["created", "supervisor", "closed", "survey"]
    assert Activity.objects.filter(customer=customer, kind="complaint").count() == 2
    with pytest.raises(ValidationFailed):
        tickets.ticket_close(actor=world.manager1, ticket_id=ticket.pk)


def test_reopening_withdraws_the_signature(world):
    ticket = open_ticket(world, customer_of(world.rep1))
    signed(world, ticket)
    tickets.ticket_close(actor=world.manager1, ticket_id=ticket.pk, now=at(2026, 10, 9, 16))
    tickets.ticket_reopen(
        actor=world.manager1, ticket_id=ticket.pk, reason="客户仍不满意", now=at(2026, 10, 12, 9)
    )
    ticket.refresh_from_db()
    assert (ticket.status, ticket.closed_at, ticket.resolve_due_at) == ("replied", None, eod(2026, 10, 21))
    assert SupervisorReply.objects.get(ticket=ticket).signed_at is None


# --- escalation ---------------------------------------------------------------------------------------


def test_breaches_escalate_to_the_manager_once_per_deadline(world):
    ticket = open_ticket(world, customer_of(world.rep1))
    later = open_ticket(world, customer_of(world.rep2), when=at(2026, 10, 8, 9))
    assert tickets.tickets_escalate(organisation=world.org, now=at(2026, 9, 30, 20)) == 0
    assert tickets.tickets_escalate(organisation=world.org, now=at(2026, 10, 8, 8)) == 1
    assert tickets.tickets_escalate(organisation=world.org, now=at(2026, 10, 8, 9)) == 0
    ticket.refresh_from_db()
    assert (ticket.escalation_level, ticket.escalated_to_id, ticket.escalated_at) == (
        1,
        world.manager1.pk,
        at(2026, 10, 8, 8),
    )
    tickets.ticket_reply(actor=world.rep1, ticket_id=ticket.pk, text="已回电", now=at(2026, 10, 8, 10))
    # Not resolved by the end of 15 October: escalated again, for the resolution.
    assert tickets.tickets_escalate(organisation=world.org, now=at(2026, 10, 16, 8)) == 2
    ticket.refresh_from_db()
    later.refresh_from_db()
    assert ticket.escalation_level == 2
    # The later ticket was never answered (due 8 October) and is due for resolution on the 16th.
    assert (later.escalation_level, later.escalated_to_id) == (1, world.manager1.pk)
    assert list(
        TicketEvent.objects.filter(ticket=ticket, kind="escalated").values_list("text", flat=True)
    ) == ["未在期限内首次答复", "未在期限内解决"]  # events are written in the site language


def test_a_managers_own_ticket_escalates_to_the_owner(world):
    ticket = open_ticket(world, customer_of(world.rep1), owner_id=world.manager1.pk)
    tickets.tickets_escalate(organisation=world.org, now=at(2026, 10, 8, 8))
    ticket.refresh_from_db()
    assert ticket.escalated_to_id == world.owner.pk


def test_escalation_makes_the_ticket_visible_to_the_manager_escalated_to(world):
    ticket = open_ticket(world, customer_of(world.rep1))
    Ticket.objects.filter(pk=ticket.pk).update(escalated_to=world.manager2)
    assert selectors.ticket_get(world.manager2, ticket.pk).pk == ticket.pk


# --- scope of survey tickets --------------------------------------------------------------------------


def _survey_ticket(world):
    customer = customer_of(world.rep1)
    inv = invitation_for(sale(customer))
    services.response_submit(
        token=services.survey_token(inv.pk),
        answers=answers(template(world.org), overall=1, why={"overall": "很差"}),
        now=at(2026, 3, 23, 9),
    )
    return Ticket.objects.get(channel="survey")


def test_the_rated_rep_does_not_see_the_survey_ticket_unless_policy_allows(world):
    ticket = _survey_ticket(world)
    with pytest.raises(NotFound):
        selectors.ticket_get(world.rep1, ticket.pk)
    assert selectors.ticket_get(world.manager1, ticket.pk).pk == ticket.pk
    assert selectors.ticket_get(world.dcrc, ticket.pk).pk == ticket.pk
    detail = selectors.ticket_detail(world.manager1, ticket.pk)
    assert [a.score for a in detail.answers if a.factor == "overall" and not a.expectation] == [1]
    org = world.org
    org.policy_data = {"feedback": {"rep_sees_own_answers": True}}
    org.save()
    world.rep1.refresh_from_db()
    assert selectors.ticket_get(world.rep1, ticket.pk).pk == ticket.pk


# --- concessions ----------------------------------------------------------------------------------------


def test_a_concession_within_the_reps_limit_is_approved_at_once(world):
    ticket = open_ticket(world, customer_of(world.rep1))
    c = tickets.concession_propose(
        actor=world.rep1, ticket_id=ticket.pk, kind="service", value="300", description="免费精洗"
    )
    assert (c.status, c.approver_role, c.decided_by_id) == ("approved", "", world.rep1.pk)
    c = tickets.concession_offer(actor=world.rep1, concession_id=c.pk)
    assert c.status == "offered"


def test_beyond_the_reps_limit_a_manager_approves_before_it_can_be_offered(world):
    ticket = open_ticket(world, customer_of(world.rep1))
    c = tickets.concession_propose(
        actor=world.rep1, ticket_id=ticket.pk, kind="price", value="800", description="退还差价"
    )
    assert (c.status, c.approver_role) == ("proposed", "manager")
    with pytest.raises(ValidationFailed):
        tickets.concession_offer(actor=world.rep1, concession_id=c.pk)
    with pytest.raises(PermissionDenied):
        tickets.concession_decide(actor=world.rep1, concession_id=c.pk, approve=True)
    with pytest.raises(NotFound):
        tickets.concession_decide(actor=world.manager2, concession_id=c.pk, approve=True)
    c.refresh_from_db()
    assert c.status == "proposed"
    # Closing waits for the decision.
    signed(world, ticket)
    with pytest.raises(ValidationFailed) as err:
        tickets.ticket_close(actor=world.manager1, ticket_id=ticket.pk)
    assert list(err.value.errors) == ["concessions"]
    tickets.concession_decide(actor=world.manager1, concession_id=c.pk, approve=True, note="同意")
    c = tickets.concession_offer(actor=world.rep1, concession_id=c.pk)
    assert (c.status, c.decided_by_id, c.decision_note) == ("offered", world.manager1.pk, "同意")


def test_beyond_the_managers_limit_only_the_owner_approves(world):
    ticket = open_ticket(world, customer_of(world.rep1))
    c = tickets.concession_propose(
        actor=world.rep1, ticket_id=ticket.pk, kind="quality", value=Decimal("8000"), description="更换变速箱"
    )
    assert c.approver_role == "owner"
    with pytest.raises(PermissionDenied):
        tickets.concession_decide(actor=world.manager1, concession_id=c.pk, approve=True)
    done = tickets.concession_decide(actor=world.owner, concession_id=c.pk, approve=False, note="走保修")
    assert (done.status, done.decided_by_id) == ("rejected", world.owner.pk)
    own = tickets.concession_propose(
        actor=world.manager1, ticket_id=ticket.pk, kind="price", value="800", description="x"
    )
    assert own.status == "approved"
    assert Concession.objects.filter(ticket=ticket).count() == 2


# --- value-added services -------------------------------------------------------------------------------


def test_value_added_services_are_recorded_for_customers_in_scope(world):
    customer = customer_of(world.rep1)
    vas = tickets.value_added_service_add(
        actor=world.rep1, customer_id=customer.pk, kind="information", note="寄送冬季用车指南", value="0"
    )
    assert (vas.kind, vas.given_by_id, vas.value) == ("information", world.rep1.pk, Decimal("0"))
    with pytest.raises(NotFound):
        tickets.value_added_service_add(actor=world.rep2, customer_id=customer.pk, kind="extra", note="x")
    with pytest.raises(ValidationFailed) as err:
        tickets.value_added_service_add(actor=world.rep1, customer_id=customer.pk, kind="bogus", note="")
    assert set(err.value.errors) == {"kind", "note"}
    assert ValueAddedService.objects.count() == 1
