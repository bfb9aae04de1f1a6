"""A complaint from a survey, in a real browser: the customer answers on the phone-sized survey
form with a low score (the reason field appears and is required), a ticket appears for the
manager, who fills in the supervisor reply form and closes the ticket; the satisfaction check is
then scheduled."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from huitou.feedback import services
from huitou.feedback.models import SurveyInvitation, SurveyTemplate, Ticket
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def invitation(org_world):
    w = org_world
    services.surveys_seed(organisation=w.org)
    customer = CustomerFactory(owner=w.rep1, name="李大伟", phone="+8613900001234")
    purchase = PurchaseFactory(customer=customer, rep=w.rep1, store=w.s1, ordered_on=timezone.localdate())
    template = SurveyTemplate.objects.get(organisation=w.org, kind="sales", active=True)
    return SurveyInvitation.objects.create(
        organisation=w.org,
        template=template,
        customer=customer,
        event="sale",
        purchase=purchase,
        rep=w.rep1,
        store=w.s1,
        event_on=purchase.ordered_on,
        send_on=purchase.ordered_on,
        status="sent",
        expires_at=timezone.now() + dt.timedelta(days=14),
    )


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-12345678")
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_low_survey_answer_becomes_a_closed_complaint_with_a_follow_up(
    page, live_server, org_world, invitation
):
    from playwright.sync_api import expect

    template = invitation.template
    questions = {(q.factor, q.kind, q.expectation): q for q in template.questions.all()}

    # The customer, on a phone-sized screen, opens the link from the SMS.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/feedback/s/{services.survey_token(invitation.pk)}/")
    expect(page.locator("#survey-form")).to_be_visible()
    for (factor, kind, expectation), q in questions.items():
        if kind == "text":
            continue
        if kind == "nps":
            value = "8"
        elif kind == "importance" or expectation:
            value = "4"
        elif factor == "salesperson":
            value = "1"
        else:
            value = "5"
        page.locator(f'label[for="q{q.pk}-{value}"]').click()
    salesperson = questions[("salesperson", "scale5", False)]
    why = page.locator(f"#q{salesperson.pk}-why-box")
    expect(why).to_be_visible()  # a low score asks why
    expect(page.locator(f"#q{questions[('overall', 'scale5', False)].pk}-why-box")).to_be_hidden()
    page.fill(f"#q{salesperson.pk}_why", "销售顾问交车时一直看手机")
    page.click("#survey-submit")
    expect(page.locator("#survey-sorry")).to_be_visible()

    ticket = Ticket.objects.get()
    assert (ticket.owner_id, ticket.channel, ticket.status) == (org_world.manager1.pk, "survey", "open")

    # The manager finds it among the tickets and fills in the supervisor reply form.
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "manager1")
    page.goto(f"{live_server.url}/feedback/tickets/")
    row = page.locator(f"#ticket-{ticket.pk}")
    expect(row).to_contain_text("李大伟")
    row.locator(f'a[href="/feedback/tickets/{ticket.pk}/"]').first.click()
    expect(page.locator("#survey-answers")).to_contain_text("销售顾问交车时一直看手机")
    expect(page.locator("#ticket-close")).to_be_disabled()
    page.click("#supervisor-reply-link")
    page.fill("#id_cause", "顾问交车流程不规范")
    page.fill("#id_answer", "已向客户致歉,由主管重新讲解车辆功能")
    page.fill("#id_measures", "交车流程加入主管抽查")
    page.select_option("#id_customer_reaction", "satisfied")
    expect(page.locator("#id_sign")).to_be_checked()
    page.click("#supervisor-save")
    expect(page.locator("#reply-signed")).to_be_visible()

    # Closing schedules the satisfaction check.
    page.click("#ticket-close")
    expect(page.locator("#ticket-status")).to_have_attribute("data-status", "closed")
    expect(page.locator("#followup-surveys .followup")).to_have_attribute("data-status", "pending")

    ticket.refresh_from_db()
    assert ticket.status == "closed"
    check = SurveyInvitation.objects.get(ticket=ticket)
    assert (check.template.kind, check.status, check.send_on) == (
        "complaint_followup",
        "pending",
        timezone.localdate() + dt.timedelta(days=2),
    )
