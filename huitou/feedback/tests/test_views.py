"""Feedback pages: the public survey form, tickets with their clocks and the supervisor reply,
phone surveys, measures (with the xlsx), the customer card; refusals and query counts."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from huitou.feedback import services, tickets
from huitou.feedback.models import SupervisorReply, SurveyInvitation, Ticket, ValueAddedService
from tests.factories import CustomerFactory

from .helpers import answers, at, customer_of, invitation_for, question, sale, template

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return client


def html(response) -> str:
    return response.content.decode()


def open_ticket(world, customer, **kw):
    return tickets.ticket_open(
        actor=kw.pop("actor", world.dcrc),
        customer_id=customer.pk,
        summary=kw.pop("summary", "空调不制冷"),
        channel="phone",
        **kw,
    )


# --- the public survey form ------------------------------------------------------------------------


def test_the_survey_form_shows_the_questions(client, world):
    inv = invitation_for(sale(customer_of(world.rep1, name="王小明")))
    page = html(client.get(reverse("feedback:survey_public", args=[services.survey_token(inv.pk)])))
    t = template(world.org)
    assert 'id="survey-form"' in page
    assert "王小明" in page
    assert page.count('class="card mb-3 survey-q') == t.questions.filter(active=True).count()
    overall = question(t, "overall")
    assert f'name="q{overall.pk}" id="q{overall.pk}-5" value="5"' in page
    assert f'name="q{overall.pk}_why"' in page


def test_tampered_and_expired_links_show_a_closed_page(client, world):
    inv = invitation_for(sale(customer_of(world.rep1)), expires=timezone.now() - dt.timedelta(days=1))
    token = services.survey_token(inv.pk)
    response = client.get(reverse("feedback:survey_public", args=[token[:-3] + "abc"]))
    assert response.status_code == 404
    assert 'data-state="invalid"' in html(response)
    response = client.get(reverse("feedback:survey_public", args=[token]))
    assert response.status_code == 410
    assert 'data-state="expired"' in html(response)


def _post_data(t, given):
    data = {}
    for qid, a in given.items():
        if a.score is not None:
            data[f"q{qid}"] = str(a.score)
        elif a.text:
            data[f"q{qid}"] = a.text
        if a.text and a.score is not None:
            data[f"q{qid}_why"] = a.text
    return data


def test_a_low_answer_without_a_reason_is_sent_back_with_the_question_marked(client, world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    url = reverse("feedback:survey_public", args=[services.survey_token(inv.pk)])
    data = _post_data(t, answers(t, salesperson=1))
    response = client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")
    salesperson = question(t, "salesperson")
    assert response.status_code == 422
    page = html(response)
    assert 'id="survey-errors"' in page
    assert re.search(rf'id="q{salesperson.pk}-box"', page)
    assert "please tell us why" in page.lower() or "tell us why" in page
    assert f'id="q{salesperson.pk}-1" value="1" autocomplete="off" checked' in page
    assert Ticket.objects.count() == 0


def test_a_low_answer_with_a_reason_thanks_and_opens_a_ticket(client, world):
    inv = invitation_for(sale(customer_of(world.rep1)))
    t = template(world.org)
    url = reverse("feedback:survey_public", args=[services.survey_token(inv.pk)])
    data = _post_data(t, answers(t, salesperson=1, why={"salesperson": "没人理我"}))
    response = client.post(url, data)
    assert response.status_code == 200
    assert 'id="survey-sorry"' in html(response)
    ticket = Ticket.objects.get()
    assert (ticket.owner_id, ticket.channel) == (world.manager1.pk, "survey")
    # The link now says it was answered.
    assert 'data-state="answered"' in html(client.get(url))


# --- tickets ---------------------------------------------------------------------------------------


def test_ticket_list_pins_its_query_count(client, world, django_assert_max_num_queries):
    for i in range(30):
        open_ticket(world, customer_of(world.rep1 if i % 2 else world.rep2), summary=f"投诉 {i}")
    client = login(client, world.owner)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("feedback:tickets"))
    assert response.status_code == 200
    assert html(response).count('data-ticket="') == 30


def test_ticket_list_labels_and_clocks_are_translated_once_per_page(client, world):
    """The list builds its labels and clock badges in the view (not per cell in the template):
    the same texts and classes as the include, in either language."""
    late = open_ticket(
        world,
        customer_of(world.rep1),
        category="staff",
        severity="high",
        received_at=timezone.now() - dt.timedelta(days=20),
        now=timezone.now(),
    )
    tickets.ticket_reply(actor=world.dcrc, ticket_id=late.pk, text="已致电")
    page = html(login(client, world.owner).get(reverse("feedback:tickets")))
    row = re.search(rf'<tr id="ticket-{late.pk}".*?</tr>', page, re.S).group(0)
    assert "Phone · Staff attitude" in row
    assert ">High</span>" in row
    assert ">Replied</span>" in row
    assert 'sla-late">late</span>' in row  # replied after the deadline
    assert 'sla-overdue">overdue</span> <span class="small js-clock" data-due="' in row
    with translation.override("zh-hans"):
        expected = f"{Ticket.Channel.PHONE.label} · {Ticket.Category.STAFF.label}"
        overdue = translation.gettext("overdue")
    client.cookies["django_language"] = "zh-hans"
    page = html(client.get(reverse("feedback:tickets")))
    assert expected in page
    assert f'sla-overdue">{overdue}</span>' in page


def test_reps_see_their_customers_tickets_only(client, world):
    mine = open_ticket(world, customer_of(world.rep1))
    theirs = open_ticket(world, customer_of(world.rep2))
    page = html(login(client, world.rep1).get(reverse("feedback:tickets")))
    assert f'data-ticket="{mine.pk}"' in page
    assert f'data-ticket="{theirs.pk}"' not in page
    assert client.get(reverse("feedback:ticket_detail", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("feedback:ticket_detail", args=[mine.pk])).status_code == 200


def test_other_organisations_get_404(client, world):
    ticket = open_ticket(world, customer_of(world.rep1))
    client = login(client, world.other_owner)
    assert client.get(reverse("feedback:ticket_detail", args=[ticket.pk])).status_code == 404
    assert client.post(reverse("feedback:ticket_reply", args=[ticket.pk]), {"text": "x"}).status_code == 404
    ticket.refresh_from_db()
    assert ticket.first_reply_at is None


def test_overdue_filter_and_clock_badges(client, world):
    late = open_ticket(
        world, customer_of(world.rep1), received_at=timezone.now() - dt.timedelta(days=20), now=timezone.now()
    )
    fresh = open_ticket(world, customer_of(world.rep1))
    page = html(login(client, world.owner).get(reverse("feedback:tickets") + "?overdue=on"))
    assert f'data-ticket="{late.pk}"' in page
    assert f'data-ticket="{fresh.pk}"' not in page
    assert "sla-overdue" in page


def test_create_a_ticket_from_the_form(client, world):
    customer = customer_of(world.rep1)
    response = login(client, world.dcrc).post(
        reverse("feedback:ticket_new"),
        {
            "customer_id": customer.pk,
            "kind": "complaint",
            "channel": "walk_in",
            "category": "repair",
            "severity": "high",
            "summary": "保养后异响",
        },
    )
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("feedback:ticket_detail", args=[ticket.pk])
    assert (ticket.owner_id, ticket.channel, ticket.category) == (world.rep1.pk, "walk_in", "repair")


def test_reply_supervisor_reply_and_close_from_the_pages(client, world):
    ticket = open_ticket(world, customer_of(world.rep1))
    client = login(client, world.rep1)
    assert (
        client.post(reverse("feedback:ticket_reply", args=[ticket.pk]), {"text": "已联系"}).status_code == 302
    )
    assert client.get(reverse("feedback:ticket_supervisor", args=[ticket.pk])).status_code == 403
    assert client.post(reverse("feedback:ticket_close", args=[ticket.pk])).status_code == 403
    client = login(client, world.manager1)
    page = html(client.get(reverse("feedback:ticket_detail", args=[ticket.pk])))
    assert 'id="ticket-close" disabled' in page
    response = client.post(
        reverse("feedback:ticket_supervisor", args=[ticket.pk]),
        {"answer": "已更换部件", "measures": "加强检查", "customer_reaction": "satisfied", "sign": "on"},
    )
    assert response.status_code == 302
    assert SupervisorReply.objects.get(ticket=ticket).signed_at is not None
    assert client.post(reverse("feedback:ticket_close", args=[ticket.pk])).status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == "closed"
    page = html(client.get(reverse("feedback:ticket_detail", args=[ticket.pk])))
    assert 'id="followup-surveys"' in page
    assert 'id="reopen-form"' in page


def test_the_supervisor_form_names_missing_fields(client, world):
    ticket = open_ticket(world, customer_of(world.rep1))
    response = login(client, world.manager1).post(
        reverse("feedback:ticket_supervisor", args=[ticket.pk]), {"customer_reaction": "satisfied"}
    )
    assert response.status_code == 422
    assert set(response.context["form"].errors) == {"answer", "measures"}
    assert not SupervisorReply.objects.exists()


def test_a_concession_beyond_the_limit_shows_for_approval(client, world):
    ticket = open_ticket(world, customer_of(world.rep1))
    login(client, world.rep1).post(
        reverse("feedback:concession_add", args=[ticket.pk]),
        {"kind": "price", "value": "900", "description": "退差价"},
    )
    concession = ticket.concessions.get()
    assert concession.status == "proposed"
    page = html(login(client, world.manager1).get(reverse("feedback:tickets")))
    assert 'id="approvals"' in page
    client.post(reverse("feedback:concession_decide", args=[concession.pk]), {"action": "approve"})
    concession.refresh_from_db()
    assert concession.status == "approved"


# --- phone surveys ----------------------------------------------------------------------------------


def test_the_server_is_warned_and_refused_on_the_phone_page(client, world):
    inv = invitation_for(sale(customer_of(world.rep1), rep=world.manager1))
    client = login(client, world.manager1)
    page = html(client.get(reverse("feedback:phone_entry", args=[inv.pk])))
    assert 'id="served-by-me"' in page
    t = template(world.org)
    response = client.post(reverse("feedback:phone_entry", args=[inv.pk]), _post_data(t, answers(t)))
    assert response.status_code == 422
    assert "you served this customer" in html(response)
    inv.refresh_from_db()
    assert inv.status == "sent"


def test_dcrc_records_a_phone_survey(client, world):
    inv = invitation_for(sale(customer_of(world.rep1)), status="pending")
    SurveyInvitation.objects.filter(pk=inv.pk).update(send_on=timezone.localdate())
    client = login(client, world.dcrc)
    assert f'data-invitation="{inv.pk}"' in html(client.get(reverse("feedback:phone")))
    t = template(world.org)
    response = client.post(reverse("feedback:phone_entry", args=[inv.pk]), _post_data(t, answers(t)))
    assert response.status_code == 302
    inv.refresh_from_db()
    assert inv.status == "answered"
    assert login(client, world.rep1).get(reverse("feedback:phone")).status_code == 403


# --- measures ---------------------------------------------------------------------------------------


@pytest.fixture
def answered(world):
    for rep, score in ((world.rep1, 5), (world.rep1, 4), (world.rep2, 5)):
        inv = invitation_for(sale(customer_of(rep), day=dt.date(2026, 3, 10)))
        services.response_submit(
            token=services.survey_token(inv.pk),
            answers=answers(template(world.org), overall=score),
            now=at(2026, 3, 20),
        )
    return world


def test_cvp_page_shows_reps_stores_and_the_award(client, answered):
    page = html(
        login(client, answered.owner).get(
            reverse("feedback:cvp") + "?start=2026-03&end=2026-03&month=2026-03"
        )
    )
    assert re.search(r'data-key="rep1">.*?data-col="total">50%', page, re.S)
    assert re.search(r'<tr data-rep="rep2" class="table-success">.*?data-col="amount">30', page, re.S)
    assert 'id="award-xlsx"' in page


def test_award_xlsx_for_payroll(client, answered):
    response = login(client, answered.owner).get(reverse("feedback:cvp") + "?format=xlsx&month=2026-03")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("Payroll month", "Sales month", "Store", "Rep")
    by_rep = {r[3]: r for r in rows[1:]}
    assert by_rep["rep2"][0:2] == ("2026-04", "2026-03")
    assert (by_rep["rep2"][4], by_rep["rep2"][5], by_rep["rep2"][9], by_rep["rep2"][11]) == (1, 1, 1, 30)
    assert by_rep["rep1"][11] == 0


def test_quadrant_trend_and_gaming_pages(client, answered):
    client = login(client, answered.manager1)
    page = html(client.get(reverse("feedback:quadrants") + "?start=2026-03&end=2026-03"))
    assert 'id="quadrant-chart"' in page
    assert 'data-factor="salesperson"' in page
    page = html(client.get(reverse("feedback:trend") + "?start=2026-02&end=2026-03"))
    assert re.search(r'data-month="2026-03">.*?data-col="ratio">1\.167', page, re.S)
    assert client.get(reverse("feedback:gaming")).status_code == 200
    rep = login(client, answered.rep1)
    assert rep.get(reverse("feedback:quadrants")).status_code == 403
    assert rep.get(reverse("feedback:gaming")).status_code == 403
    assert rep.get(reverse("feedback:responses")).status_code == 403
    assert rep.get(reverse("feedback:cvp")).status_code == 200


# --- templates ---------------------------------------------------------------------------------------


def test_survey_templates_for_the_owner(client, world):
    t = template(world.org)
    client = login(client, world.owner)
    assert 'data-template="sales-delivery"' in html(client.get(reverse("feedback:templates")))
    response = client.post(
        reverse("feedback:question_add", args=[t.pk]),
        {"factor": "test_drive", "text": "试驾体验", "kind": "scale5", "weight": "4", "required": "on"},
    )
    assert response.status_code == 302
    assert t.questions.filter(factor="test_drive").exists()
    assert (
        login(client, world.manager1).post(reverse("feedback:question_add", args=[t.pk]), {}).status_code
        == 403
    )
    assert login(client, world.rep1).get(reverse("feedback:templates")).status_code == 403


# --- the customer card --------------------------------------------------------------------------------


def test_customer_card_and_value_added_service(client, world):
    customer = customer_of(world.rep1)
    open_ticket(world, customer)
    client = login(client, world.rep1)
    page = html(client.get(reverse("feedback:customer_card", args=[customer.pk])))
    assert 'class="list-group-item customer-ticket"' in page
    response = client.post(
        reverse("feedback:value_added_add", args=[customer.pk]),
        {
            "kind": "convenience",
            "note": "代办年检",
            "value": "200",
            "given_on": timezone.localdate().isoformat(),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "代办年检" in html(response)
    assert ValueAddedService.objects.get().value == 200
    other = CustomerFactory(owner=world.rep2)
    assert client.get(reverse("feedback:customer_card", args=[other.pk])).status_code == 404
    assert 'id="customer-feedback"' in html(client.get(reverse("customers:detail", args=[customer.pk])))


def test_followup_invitation_link_is_answerable(client, world):
    ticket = open_ticket(world, customer_of(world.rep1))
    tickets.supervisor_reply_save(
        actor=world.manager1,
        ticket_id=ticket.pk,
        answer="a",
        measures="m",
        customer_reaction="satisfied",
        sign=True,
    )
    tickets.ticket_close(actor=world.manager1, ticket_id=ticket.pk)
    inv = SurveyInvitation.objects.get(ticket=ticket)
    page = html(client.get(reverse("feedback:survey_public", args=[services.survey_token(inv.pk)])))
    assert 'id="survey-form"' in page


def test_owner_edits_a_question_inline(client, world):
    t = template(world.org)
    q = (
        question(t, "facility")
        if t.questions.filter(factor="facility").exists()
        else question(t, "salesperson")
    )
    client = login(client, world.owner)
    response = client.post(
        reverse("feedback:question_update", args=[t.pk, q.pk]),
        {"text": "销售顾问的专业程度", "weight": "4.5", "order": "15"},
    )
    assert response.status_code == 302
    q.refresh_from_db()
    assert (q.text, float(q.weight), q.order) == ("销售顾问的专业程度", 4.5, 15)
    response = client.post(reverse("feedback:question_update", args=[t.pk, q.pk]), {"weight": "9"})
    q.refresh_from_db()
    assert float(q.weight) == 4.5


def test_a_phone_survey_can_start_from_a_sale(client, world):
    purchase = sale(customer_of(world.rep1), day=timezone.localdate())
    response = login(client, world.dcrc).post(reverse("feedback:phone_purchase", args=[purchase.pk]))
    inv = SurveyInvitation.objects.get(purchase=purchase)
    assert response["Location"] == reverse("feedback:phone_entry", args=[inv.pk])
    assert (
        login(client, world.rep1).post(reverse("feedback:phone_purchase", args=[purchase.pk])).status_code
        == 403
    )
    assert (
        login(client, world.other_owner)
        .post(reverse("feedback:phone_purchase", args=[purchase.pk]))
        .status_code
        == 404
    )


def test_reps_read_their_customers_answers_only_when_the_policy_allows(client, world):
    customer = customer_of(world.rep1)
    inv = invitation_for(sale(customer))
    response = services.response_submit(
        token=services.survey_token(inv.pk), answers=answers(template(world.org))
    )
    client = login(client, world.rep1)
    assert client.get(reverse("feedback:response_detail", args=[response.pk])).status_code == 404
    assert 'class="list-group-item d-flex gap-2 customer-response"' not in html(
        client.get(reverse("feedback:customer_card", args=[customer.pk]))
    )
    world.org.policy_data = {"feedback": {"rep_sees_own_answers": True}}
    world.org.save()
    assert client.get(reverse("feedback:response_detail", args=[response.pk])).status_code == 200
    assert (
        login(client, world.rep2).get(reverse("feedback:response_detail", args=[response.pk])).status_code
        == 404
    )
