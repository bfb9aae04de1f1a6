"""The periodic jobs: the morning run (seed, invite, send, expire) and escalation, safe to run twice;
and the list pages' query counts stay flat."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from huitou.feedback import services, tasks
from huitou.feedback.models import SurveyInvitation, SurveyTemplate, Ticket
from huitou.followups.models import Message

from .helpers import answers, at, customer_of, invitation_for, sale, template

pytestmark = pytest.mark.django_db


def test_morning_run_seeds_invites_and_sends_once(org_world):
    now = at(2026, 3, 20, 6, 15)
    sale(customer_of(org_world.rep1), day=dt.date(2026, 3, 17))
    sale(customer_of(org_world.rep2, phone=""), day=dt.date(2026, 3, 16))
    first = tasks.feedback_morning(now=now)
    # Both organisations get their three surveys.
    assert (first["seeded"], first["invited"], first["queued"]) == (6, 2, 2)
    assert SurveyTemplate.objects.filter(organisation=org_world.other_org).count() == 3
    statuses = sorted(SurveyInvitation.objects.values_list("status", "channel"))
    assert statuses == [("pending", "phone"), ("sent", "sms")]
    # No mobile number: no failed SMS in the outbox, the DCRC phones.
    assert list(Message.objects.values_list("purpose", "status")) == [("service", "queued")]
    again = tasks.feedback_morning(now=now)
    assert again == {"seeded": 0, "invited": 0, "queued": 0, "expired": 0}
    assert Message.objects.count() == 1


def test_escalation_job_runs_every_organisation(world):
    from huitou.feedback import tickets

    tickets.ticket_open(
        actor=world.dcrc,
        customer_id=customer_of(world.rep1).pk,
        summary="x",
        channel="phone",
        received_at=at(2026, 3, 2, 10),
        now=at(2026, 3, 2, 10),
    )
    assert tasks.tickets_escalate_all(now=at(2026, 3, 20)) == 1
    assert tasks.tickets_escalate_all(now=at(2026, 3, 20)) == 0
    assert Ticket.objects.get().escalation_level == 2


def test_the_jobs_are_periodic_huey_tasks():
    from huey.api import PeriodicTask

    morning = tasks.feedback_morning_task.task_class()
    assert isinstance(morning, PeriodicTask)
    # 06:15 in Asia/Shanghai is 22:15 UTC, the clock Huey's schedule runs on.
    assert morning.validate_datetime(dt.datetime(2026, 3, 10, 22, 15)) is True
    assert morning.validate_datetime(dt.datetime(2026, 3, 10, 6, 15)) is False
    escalate = tasks.tickets_escalate_task.task_class()
    assert escalate.validate_datetime(dt.datetime(2026, 3, 10, 9, 30)) is True


def test_phone_and_answer_lists_pin_their_query_counts(client, world, django_assert_max_num_queries):
    t = template(world.org)
    for i in range(25):
        customer = customer_of(world.rep1 if i % 2 else world.rep2)
        inv = invitation_for(sale(customer, day=timezone.localdate()), status="pending")
        SurveyInvitation.objects.filter(pk=inv.pk).update(send_on=timezone.localdate())
        if i % 3 == 0:
            services.response_submit(token=services.survey_token(inv.pk), answers=answers(t))
    client.force_login(world.dcrc)
    with django_assert_max_num_queries(10):
        page = client.get(reverse("feedback:phone"))
    assert page.content.decode().count('data-invitation="') == 16
    client.force_login(world.owner)
    with django_assert_max_num_queries(10):
        page = client.get(reverse("feedback:responses"))
    assert page.content.decode().count('data-response="') == 9
    with django_assert_max_num_queries(16):
        assert client.get(reverse("feedback:cvp")).status_code == 200
