"""Helpers of the feedback tests: sales and visits, invitations, answers."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from huitou.feedback.models import Question, SurveyInvitation, SurveyKind, SurveyTemplate
from huitou.feedback.services import AnswerIn
from tests.factories import CustomerFactory, PurchaseFactory

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=TZ)


def template(org, kind=SurveyKind.SALES) -> SurveyTemplate:
    return SurveyTemplate.objects.get(organisation=org, kind=kind, active=True)


def sale(customer, *, rep=None, day=dt.date(2026, 3, 10), kind="first", **kw):
    return PurchaseFactory(
        customer=customer,
        rep=rep if rep is not None else customer.owner,
        store=customer.store,
        ordered_on=day,
        kind=kind,
        amount=kw.pop("amount", Decimal("150000.00")),
        **kw,
    )


def invitation_for(purchase, *, kind=SurveyKind.SALES, expires=None, status="sent") -> SurveyInvitation:
    t = template(purchase.customer.organisation, kind)
    day = purchase.promised_on or purchase.ordered_on
    return SurveyInvitation.objects.create(
        organisation_id=purchase.organisation_id,
        template=t,
        customer=purchase.customer,
        event="service" if kind == SurveyKind.SERVICE else "sale",
        purchase=purchase,
        rep=purchase.rep,
        store=purchase.store,
        event_on=day,
        send_on=day,
        channel="sms",
        status=status,
        expires_at=expires or at(2099, 1, 1),
    )


def answers(t: SurveyTemplate, *, overall=5, default=5, nps=9, expected=4, why=None, **by_factor) -> dict:
    """Answers to every active question: ``overall`` for the overall question, ``by_factor`` per
    factor, ``default`` for the other 5-level ones; ``why`` maps a factor to its reason."""
    why = why or {}
    out = {}
    for q in t.questions.filter(active=True):
        if q.kind == "text":
            out[q.pk] = AnswerIn(text="")
        elif q.kind == "nps":
            out[q.pk] = AnswerIn(score=nps, text=why.get(q.factor, ""))
        elif q.kind == "yes_no":
            out[q.pk] = AnswerIn(score=by_factor.get(q.factor, 1), text=why.get(q.factor, ""))
        elif q.kind == "importance":
            out[q.pk] = AnswerIn(score=by_factor.get(f"{q.factor}_importance", 4))
        elif q.expectation:
            out[q.pk] = AnswerIn(score=expected)
        elif q.factor == "overall":
            out[q.pk] = AnswerIn(score=overall, text=why.get("overall", ""))
        else:
            out[q.pk] = AnswerIn(score=by_factor.get(q.factor, default), text=why.get(q.factor, ""))
    return out


def question(t: SurveyTemplate, factor: str, kind: str = "scale5", expectation: bool = False) -> Question:
    return t.questions.get(factor=factor, kind=kind, expectation=expectation)


def customer_of(rep, **kw):
    return CustomerFactory(owner=rep, **kw)
