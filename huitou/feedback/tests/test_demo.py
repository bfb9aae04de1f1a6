"""The demo's satisfaction and complaint data: consistent with the rules, and every page has content.

The demo is loaded once for the module inside a transaction rolled back at its end."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.db.models import Count, F

from huitou.accounts.models import Organisation, User
from huitou.demo import DEMO_SLUG, demo_load
from huitou.feedback import measures
from huitou.feedback.demo import feedback_demo
from huitou.feedback.models import (
    Answer,
    Concession,
    SupervisorReply,
    SurveyInvitation,
    SurveyResponse,
    Ticket,
    ValueAddedService,
)

SIZE = 400
TODAY = dt.date(2026, 6, 1)
START = dt.date(2025, 6, 1)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def org(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        demo_load(customers=SIZE, seed=5, progress=False, today=TODAY)
        org = Organisation.objects.get(slug=DEMO_SLUG)
        feedback_demo(organisation=org, today=TODAY, seed=5)
        yield org
        transaction.set_rollback(True)


def test_answers_every_month_for_the_charts(org):
    months = set(
        SurveyResponse.objects.filter(organisation=org, kind="sales", audit=False).values_list(
            "period", flat=True
        )
    )
    assert {measures.add_months(START, i) for i in range(12)} <= months | {START}
    assert SurveyResponse.objects.filter(organisation=org, kind="service").count() > 50


def test_one_response_per_invitation_and_answers_carry_their_copies(org):
    dup = (
        SurveyResponse.objects.filter(organisation=org, audit=False)
        .values("invitation_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not dup.exists()
    assert (
        not SurveyResponse.objects.filter(organisation=org, audit=False)
        .exclude(invitation__status="answered")
        .exists()
    )
    assert not Answer.objects.filter(organisation=org).exclude(period=F("response__period")).exists()
    with_rep = Answer.objects.filter(organisation=org, response__rep_id__isnull=False)
    assert not with_rep.exclude(rep_id=F("response__rep_id")).exists()


def test_the_suspicious_rep_is_flagged_and_earns_the_award(org):
    owner = User.objects.get(username="owner")
    rows = measures.gaming_check(owner, start=START, end=TODAY)
    flagged = [r for r in rows if r.flagged]
    assert len(flagged) == 1
    assert flagged[0].top == flagged[0].answers
    assert flagged[0].audits >= 2
    others = [r for r in rows if not r.flagged and r.answers >= 8]
    assert others
    assert all(0.4 < r.top / r.answers < 1 for r in others), [(r.name, r.answers, r.top) for r in rows]
    award = {r.rep_id: r for r in measures.cvp_award(owner, month=dt.date(2026, 3, 1))}
    gamer = award.get(flagged[0].rep_id)
    assert gamer is None or gamer.answers == 0 or gamer.eligible


def test_quadrants_have_an_urgent_and_an_over_served_factor(org):
    owner = User.objects.get(username="owner")
    result = measures.quadrant_analysis(owner, start=START, end=TODAY)
    placed = {p.quadrant for p in result.points}
    assert {"urgent", "over_served"} <= placed
    trend = measures.satisfaction_trend(owner, start=START, end=TODAY)
    assert sum(1 for p in trend if p.ratio is not None) >= 11


def test_tickets_in_every_state_with_breaches_and_escalations(org):
    tickets = Ticket.objects.filter(organisation=org)
    assert set(tickets.values_list("status", flat=True)) == {"open", "replied", "resolved", "closed"}
    assert tickets.filter(channel="survey").exists()
    assert tickets.filter(escalation_level__gt=0, escalated_to__isnull=False).exists()
    closed = tickets.filter(status="closed")
    assert (
        closed.count() == SupervisorReply.objects.filter(ticket__in=closed, signed_at__isnull=False).count()
    )
    assert SurveyInvitation.objects.filter(organisation=org, ticket__in=closed).count() == closed.count()
    assert {"offered", "proposed"} <= set(
        Concession.objects.filter(ticket__organisation=org).values_list("status", flat=True)
    )
    assert ValueAddedService.objects.filter(organisation=org).count() > 50


def test_running_it_again_adds_nothing(org):
    before = SurveyResponse.objects.filter(organisation=org).count()
    assert feedback_demo(organisation=org, today=TODAY)["responses"] == 0
    assert SurveyResponse.objects.filter(organisation=org).count() == before
