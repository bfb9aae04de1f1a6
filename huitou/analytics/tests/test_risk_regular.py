"""A workshop's regulars come back on a fixed rhythm: the BG/NBD fit then finds nobody leaving and
puts every P(alive) at 1. That signal is left out of the score (its weight would only dilute the
others), so a regular who stopped coming still reaches the at-risk list on the gap and the spend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from huitou.analytics import risk
from huitou.analytics.models import CustomerRisk, RiskFill
from huitou.analytics.risk_services import risk_refresh
from tests.factories import CustomerFactory, PurchaseFactory

AS_OF = dt.date(2026, 6, 30)


def test_dropout_identified_reads_the_mean_chance_of_leaving():
    assert risk.dropout_identified({"params": {"r": 0.2, "alpha": 4.0, "a": 0.8, "b": 2.4}})
    assert not risk.dropout_identified({"params": {"r": 4e5, "alpha": 6e7, "a": 1e-5, "b": 4600.0}})
    assert not risk.dropout_identified({})
    assert not risk.dropout_identified({"params": {"a": float("nan"), "b": 1.0}})


@pytest.mark.django_db
def test_regulars_who_stopped_reach_the_list_when_the_fit_finds_nobody_leaving(org_world):
    w = org_world
    regulars, stopped = [], []
    for i in range(60):
        c = CustomerFactory(owner=w.rep1, name=f"R{i}")
        last = AS_OF - dt.timedelta(days=10 + i % 50) if i >= 3 else AS_OF - dt.timedelta(days=420)
        day = last
        for _ in range(8):  # every 100 days, the newest purchase on ``last``
            PurchaseFactory(customer=c, ordered_on=day, amount=Decimal("800"))
            day -= dt.timedelta(days=100)
        (stopped if i < 3 else regulars).append(c)

    risk_refresh(organisation=w.org, as_of=AS_OF)

    fill = RiskFill.objects.get(organisation=w.org, as_of=AS_OF)
    assert fill.summary["model"]["alive_signal_used"] is False
    assert fill.summary["weights"]["alive"] == 0.0
    scores = dict(CustomerRisk.objects.filter(as_of=AS_OF).values_list("customer_id", "score"))
    threshold = 50
    assert all(scores[c.pk] >= threshold for c in stopped)
    assert all(scores[c.pk] < threshold for c in regulars)
    assert fill.at_risk == len(stopped)
