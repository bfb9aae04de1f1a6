"""Surveys: seeding, invitations (set-based, once per event), links, answers, phone surveys."""

from __future__ import annotations

import datetime as dt

import pytest

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.customers.models import Activity, Customer
from huitou.feedback import services
from huitou.feedback.models import (
    Answer,
    Question,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
    SurveyTemplate,
    Ticket,
)
from huitou.feedback.services import AnswerIn
from huitou.followups.models import Message

from .helpers import answers, at, customer_of, invitation_for, question, sale, template

pytestmark = pytest.mark.django_db


# --- seeding ------------------------------------------------------------------------------------


def test_seed_creates_the_three_default_surveys_once(org_world):
    assert services.surveys_seed(organisation=org_world.org) == 3
    assert services.surveys_seed(organisation=org_world.org) == 0
    kinds = dict(SurveyTemplate.objects.filter(organisation=org_world.org).values_list("code", "kind"))
    assert kinds == {
        "sales-delivery": "sales",
        "service-visit": "service",
        "complaint-followup": "complaint_followup",
    }
    sales = template(org_world.org)
    factors = list(sales.questions.filter(kind="scale5", expectation=False).values_list("factor", flat=True))
    assert factors == [
        "overall",
        "delivery_process",
        "salesperson",
        "deal_terms",
        "delivery_time",
        "vehicle_condition",
        "features_explained",
    ]
    assert sales.questions.filter(expectation=True).count() == 1
    assert sales.questions.get(kind="nps").factor == "recommend"


def test_seed_leaves_an_own_active_survey_active(org_world):
    own = SurveyTemplate.objects.create(organisation=org_world.org, code="mine", name="Mine", kind="sales")
    services.surveys_seed(organisation=org_world.org)
    default = SurveyTemplate.objects.get(organisation=org_world.org, code="sales-delivery")
    own.refresh_from_db()
    assert (own.active, default.active) == (True, False)


# --- invitations ----------------------------------------------------------------------------------


def test_daily_invitations_follow_the_delay_and_run_once(world):
    today = dt.date(2026, 3, 20)
    c1 = customer_of(world.rep1)
    c2 = customer_of(world.rep2)
    delivered = sale(c1, day=dt.date(2026, 3, 1), promised_on=dt.date(2026, 3, 17))  # sales delay 3 days
    not_yet = sale(c2, day=dt.date(2026, 3, 15), promised_on=dt.date(2026, 3, 18))
    visit = sale(c2, day=dt.date(2026, 3, 19), kind="service")  # service delay 1 day
    too_old = sale(c1, day=dt.date(2026, 1, 10))  # beyond 30 catch-up days
    erased = customer_of(world.rep1, status=Customer.Status.ERASED)
    sale(erased, day=dt.date(2026, 3, 17))

    assert services.invitations_create(organisation=world.org, today=today) == 2
    assert services.invitations_create(organisation=world.org, today=today) == 0
    rows = {i.purchase_id: i for i in SurveyInvitation.objects.all()}
    assert set(rows) == {delivered.pk, visit.pk}
    inv = rows[delivered.pk]
    assert (inv.event, inv.event_on, inv.send_on, inv.rep_id, inv.store_id, inv.status) == (
        "sale",
        dt.date(2026, 3, 17),
        dt.date(2026, 3, 20),
        world.rep1.pk,
        world.s1.pk,
        "pending",
    )
    assert inv.template.kind == "sales"
    assert rows[visit.pk].template.kind == "service"
    assert rows[visit.pk].event == "service"
    # Valid 14 days after the send day, to the end of that day.
    assert inv.expires_at == at(2026, 4, 3, 23, 59).replace(second=59)
    assert not SurveyInvitation.objects.filter(purchase__in=[not_yet, too_old]).exists()

    # The next day the sale delivered on the 18th is due too.
    assert services.invitations_create(organisation=world.org, today=today + dt.timedelta(days=1)) == 1


def test_sending_queues_a_service_sms_with_the_link(world):
    customer = customer_of(world.rep1, phone="+8613800001111")
    no_phone = customer_of(world.rep1, phone="")
    a = invitation_for(sale(customer), status="pending")
    b = invitation_for(sale(no_phone), status="pending")
    now = at(2026, 3, 20, 10)
    assert services.invitations_send(organisation=world.org, now=now) == 2
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, a.sent_at) == ("sent", now)
    message = Message.objects.get(pk=a.message_id)
    assert (message.purpose, message.channel, message.to, message.idempotency_key) == (
        "service",
        "sms",
        "+8613800001111",
        f"survey:{a.pk}",
    )
    assert services.survey_token(a.pk) in message.body
    # No mobile number: the DCRC phones instead.
    assert (b.status, b.channel) == ("pending", "phone")
    assert services.invitations_send(organisation=world.org, now=now) == 0


def test_expiry_marks_stale_links(world):
    inv = invitation_for(sale(customer_of(world.rep1)), expires=at(2026, 3, 1))
    fresh = invitation_for(sale(customer_of(world.rep1)), expires=at(2026, 4, 1))
    assert services.invitations_expire(organisation=world.org, now=at(2026, 3, 2)) == 1
    inv.refresh_from_db()
    fresh.refresh_from_db()
    assert (inv.status, fresh.status) == ("expired", "sent")


# --- links ----------------------------------------------------------------------------------------


def test_link_states_valid_expired_tampered_answered(world):
    inv = invitation_for(sale(customer_of(world.rep1)), expires=at(2026, 3, 31, 23, 59))
    token = services.survey_token(inv.pk)
    assert services.survey_link(token, now=at(2026, 3, 20)).state == "ok"
    assert services.survey_link(token, now=at(2026, 4, 1)).state == "expired"
    assert services.survey_link(token[:-2] + "xx", now=at(2026, 3, 20)).state == "invalid"
    other_id = services.survey_token(inv.pk).replace(":", ";", 1)
    assert services.survey_link(other_id, now=at(2026, 3, 20)).state == "invalid"
    SurveyInvitation.objects.filter(pk=inv.pk).update(status="answered")
    assert services.survey_link(token, now=at(2026, 3, 20)).state == "answered"


def test_expired_link_refuses_answers_and_saves_nothing(world):
    inv = invitation_for(sale(customer_of(world.rep1)), expires=at(2026, 3, 31))
    t = template(world.org)
    with pytest.raises(ValidationFailed) as err:
        services.response_submit(token=services.survey_token(inv.pk), answers=answers(t), now=at(2026, 4, 2))
    assert err.value.errors == {"token": ["this survey link has expired"]}
    assert SurveyResponse.objects.count() == 0


# --- answers ----------------------------------------------------------------------------------------


def test_all_top_box_answer_is_recorded_without_a_ticket(world):
    customer = customer_of(world.rep1)
    inv = invitation_for(sale(customer, promised_on=dt.date(2026, 3, 17)))
    t = template(world.org)
    response = services.response_submit(
        token=services.survey_token(inv.pk), answers=answers(t), now=at(2026, 3, 21)
    )
    inv.refresh_from_db()
    assert (response.overall, response.top_box, response.low, response.channel) == (5, True, False, "web")
    assert (response.rep_id, response.store_id, response.period, response.customer_id) == (
        world.rep1.pk,
        world.s1.pk,
        dt.date(2026, 3, 1),
        customer.pk,
    )
    assert inv.status == "answered"
    assert Answer.objects.filter(response=response).count() == 9  # the empty free text is not stored
    assert Ticket.objects.count() == 0
    activity = Activity.objects.get(customer=customer, kind="survey")
    assert activity.subject.startswith("完成满意度调查")  # written in the site language
    assert activity.user_id is None


def test_a_low_score_needs_a_reason_and_nothing_is_saved_without_it(world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    salesperson = question(t, "salesperson")
    with pytest.raises(ValidationFailed) as err:
        services.response_submit(
            token=services.survey_token(inv.pk), answers=answers(t, salesperson=2), now=at(2026, 3, 21)
        )
    assert err.value.errors == {f"q{salesperson.pk}_why": ["please tell us why, so we can put it right"]}
    inv.refresh_from_db()
    assert (inv.status, SurveyResponse.objects.count(), Ticket.objects.count()) == ("sent", 0, 0)


def test_a_low_score_opens_a_complaint_for_the_manager(world):
    customer = customer_of(world.rep1)
    purchase = sale(customer)
    inv = invitation_for(purchase)
    t = template(world.org)
    response = services.response_submit(
        token=services.survey_token(inv.pk),
        answers=answers(t, overall=4, salesperson=2, why={"salesperson": "销售顾问态度冷淡"}),
        now=at(2026, 3, 23, 9),
    )
    ticket = Ticket.objects.get()
    assert (response.low, response.top_box) == (True, False)
    assert (ticket.channel, ticket.kind, ticket.category, ticket.severity, ticket.status) == (
        "survey",
        "complaint",
        "staff",
        "high",
        "open",
    )
    # rep1 served and is rated: the complaint goes to rep1's team manager.
    assert ticket.owner_id == world.manager1.pk
    assert (ticket.customer_id, ticket.store_id) == (customer.pk, world.s1.pk)
    assert ticket.purchase_id == purchase.pk
    response.refresh_from_db()
    assert response.ticket_id == ticket.pk
    assert "销售顾问态度冷淡" in ticket.detail
    assert ticket.summary.startswith("调查低分:")
    # Monday 23 March 2026, 09:00: reply today, resolve by Wednesday 1 April (7 working days).
    assert ticket.first_reply_due_at == at(2026, 3, 23, 23, 59).replace(second=59)
    assert ticket.resolve_due_at == at(2026, 4, 1, 23, 59).replace(second=59)
    assert Activity.objects.filter(customer=customer, kind="complaint").count() == 1


def test_nps_of_six_is_low(world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    services.response_submit(
        token=services.survey_token(inv.pk),
        answers=answers(t, nps=6, why={"recommend": "价格偏高"}),
        now=at(2026, 3, 21),
    )
    assert Ticket.objects.get().category == "other"


def test_an_answered_link_cannot_be_answered_twice(world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    token = services.survey_token(inv.pk)
    services.response_submit(token=token, answers=answers(t), now=at(2026, 3, 21))
    with pytest.raises(Conflict):
        services.response_submit(token=token, answers=answers(t, overall=1), now=at(2026, 3, 21))
    assert SurveyResponse.objects.count() == 1


def test_scores_out_of_range_and_missing_answers_are_refused(world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    overall = question(t, "overall")
    given = answers(t)
    given[overall.pk] = AnswerIn(score=7)
    salesperson = question(t, "salesperson")
    del given[salesperson.pk]
    with pytest.raises(ValidationFailed) as err:
        services.response_submit(token=services.survey_token(inv.pk), answers=given, now=at(2026, 3, 21))
    assert err.value.errors == {
        f"q{overall.pk}": ["choose one of the answers offered"],
        f"q{salesperson.pk}": ["please answer this question"],
    }


# --- phone surveys ------------------------------------------------------------------------------------


def test_dcrc_takes_a_survey_on_the_phone(world):
    inv = invitation_for(sale(customer_of(world.rep1)), status="pending")
    t = template(world.org)
    response = services.response_record_phone(
        actor=world.dcrc, invitation_id=inv.pk, answers=answers(t), now=at(2026, 3, 21)
    )
    inv.refresh_from_db()
    assert (response.channel, response.taken_by_id, response.audit, inv.status) == (
        "phone",
        world.dcrc.pk,
        False,
        "answered",
    )


def test_the_person_who_served_may_not_take_the_survey(world):
    customer = customer_of(world.rep1)
    inv = invitation_for(sale(customer, rep=world.manager1))
    t = template(world.org)
    with pytest.raises(ValidationFailed) as err:
        services.response_record_phone(
            actor=world.manager1, invitation_id=inv.pk, answers=answers(t), now=at(2026, 3, 21)
        )
    assert list(err.value.errors) == ["taken_by"]
    assert "you served this customer" in err.value.errors["taken_by"][0]
    inv.refresh_from_db()
    assert (inv.status, SurveyResponse.objects.count()) == ("sent", 0)


def test_reps_do_not_take_phone_surveys_and_other_orgs_are_not_found(world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    with pytest.raises(PermissionDenied):
        services.response_record_phone(actor=world.rep2, invitation_id=inv.pk, answers=answers(t))
    with pytest.raises(NotFound):
        services.response_record_phone(actor=world.other_owner, invitation_id=inv.pk, answers=answers(t))
    assert SurveyResponse.objects.count() == 0


def test_a_call_on_an_answered_event_is_an_audit(world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    services.response_submit(token=services.survey_token(inv.pk), answers=answers(t), now=at(2026, 3, 21))
    audit = services.response_record_phone(
        actor=world.dcrc, invitation_id=inv.pk, answers=answers(t, overall=3), now=at(2026, 3, 25)
    )
    assert (audit.audit, audit.top_box, audit.overall) == (True, False, 3)
    assert SurveyResponse.objects.filter(invitation=inv, audit=False).count() == 1
    assert set(Answer.objects.filter(response=audit).values_list("audit", flat=True)) == {True}


def test_a_sale_ordered_long_before_its_delivery_is_invited_after_the_delivery(world):
    """The daily run finds sales by their delivery day (``Purchase.sale_day``), not by an order
    window: a car ordered a year ahead is still surveyed three days after it is delivered."""
    late_delivery = sale(customer_of(world.rep1), day=dt.date(2025, 3, 1), promised_on=dt.date(2026, 3, 17))
    assert services.invitations_create(organisation=world.org, today=dt.date(2026, 3, 19)) == 0
    assert services.invitations_create(organisation=world.org, today=dt.date(2026, 3, 20)) == 1
    inv = SurveyInvitation.objects.get(purchase=late_delivery)
    assert (inv.event_on, inv.send_on, inv.rep_id) == (
        dt.date(2026, 3, 17),
        dt.date(2026, 3, 20),
        world.rep1.pk,
    )


def test_an_invitation_can_be_made_for_a_call_before_the_daily_run(world):
    purchase = sale(customer_of(world.rep1), kind="service")
    inv = services.invitation_create_for_purchase(
        actor=world.dcrc, purchase_id=purchase.pk, today=dt.date(2026, 3, 11)
    )
    again = services.invitation_create_for_purchase(actor=world.dcrc, purchase_id=purchase.pk)
    assert inv.pk == again.pk
    assert (inv.template.kind, inv.channel, inv.event) == (SurveyKind.SERVICE, "phone", "service")


# --- templates ----------------------------------------------------------------------------------------


def test_owner_edits_questions_managers_may_not(world):
    t = template(world.org)
    q = services.question_add(
        actor=world.owner,
        template_id=t.pk,
        data={"factor": "test_drive", "text": "The test drive", "weight": 4},
    )
    assert (q.kind, q.order, float(q.weight)) == ("scale5", 110, 4.0)
    with pytest.raises(PermissionDenied):
        services.question_add(actor=world.manager1, template_id=t.pk, data={"factor": "x", "text": "X"})
    with pytest.raises(NotFound):
        services.question_add(actor=world.other_owner, template_id=t.pk, data={"factor": "x", "text": "X"})
    with pytest.raises(ValidationFailed) as err:
        services.question_add(
            actor=world.owner, template_id=t.pk, data={"factor": "test_drive", "text": "Again"}
        )
    assert err.value.errors == {"factor": ["this survey already asks this factor this way"]}
    assert Question.objects.filter(template=t, factor__in=["x"]).count() == 0


def test_an_answered_question_is_deactivated_not_deleted(world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    services.response_submit(token=services.survey_token(inv.pk), answers=answers(t), now=at(2026, 3, 21))
    answered = (
        question(t, "facility")
        if t.questions.filter(factor="facility").exists()
        else question(t, "salesperson")
    )
    assert services.question_remove(actor=world.owner, question_id=answered.pk) is False
    answered.refresh_from_db()
    assert answered.active is False
    with pytest.raises(ValidationFailed):
        services.question_update(actor=world.owner, question_id=answered.pk, data={"kind": "nps"})


def test_only_one_active_survey_per_kind(world):
    t = template(world.org)
    other = SurveyTemplate.objects.create(
        organisation=world.org, code="new", name="New", kind="sales", active=False
    )
    with pytest.raises(ValidationFailed):
        services.template_update(actor=world.owner, template_id=other.pk, name="New", intro="", active=True)
    services.template_update(actor=world.owner, template_id=t.pk, name=t.name, intro="", active=False)
    done = services.template_update(
        actor=world.owner, template_id=other.pk, name="New", intro="", active=True
    )
    assert done.active is True
