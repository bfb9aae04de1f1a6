"""Builders of the dashboard tests: tasks, risk snapshots, win-backs, losses, CVP answers."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from django.test import Client
from django.utils import timezone

from huitou.analytics.models import CustomerLoss, CustomerRisk, RiskFill, WinBack
from huitou.followups.models import Task
from tests.factories import CustomerFactory, TaskFactory

SH = ZoneInfo("Asia/Shanghai")


def client_for(user, lang: str = "en") -> Client:
    c = Client(headers={"Accept-Language": lang})
    c.force_login(user)
    return c


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def figure(page: str, key: str) -> tuple[str, str]:
    """(the shown value, the link) of a figure on a dashboard section."""
    m = re.search(rf'<a [^>]*href="([^"]*)" data-figure="{key}">.*?<div [^>]*data-value>([^<]*)<', page, re.S)
    assert m, f"no figure {key}"
    return m.group(2).strip(), m.group(1).replace("&amp;", "&")


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=SH)


def task(rep, due_on: dt.date, status: str = Task.Status.OPEN, done_on: dt.date | None = None, customer=None):
    customer = customer or CustomerFactory(owner=rep)
    return TaskFactory(
        customer=customer,
        assignee=rep,
        due_on=due_on,
        status=status,
        completed_at=at(done_on) if done_on else None,
    )


def snapshot(org, as_of: dt.date, rows: list[tuple[object, int]]) -> None:
    """A finished nightly risk run with ``(customer, score)`` rows."""
    RiskFill.objects.create(
        organisation=org, as_of=as_of, status=RiskFill.Status.DONE, started_at=timezone.now()
    )
    for customer, score in rows:
        CustomerRisk.objects.create(
            organisation=org,
            customer=customer,
            owner=customer.owner,
            store=customer.store,
            as_of=as_of,
            score=score,
            days_since_last=100,
        )


def saved(customer, on: dt.date, score: int = 80) -> WinBack:
    return WinBack.objects.create(
        organisation=customer.organisation,
        customer=customer,
        rep=customer.owner,
        approach=WinBack.Approach.CONCESSION,
        score_at_start=score,
        started_on=on - dt.timedelta(days=10),
        status=WinBack.Status.SAVED,
        saved_on=on,
    )


def lost(customer, on: dt.date) -> CustomerLoss:
    return CustomerLoss.objects.create(
        organisation=customer.organisation,
        customer=customer,
        rep=customer.owner,
        reason=CustomerLoss.Reason.COMPETITION_PRICE,
        lost_on=on,
    )
