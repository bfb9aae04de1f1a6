"""A small hand-built data set whose segments are worked out by hand in the tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from huitou.customers.models import Customer, Purchase
from tests.factories import CustomerFactory, PurchaseFactory

AS_OF = dt.date(2026, 6, 30)


def buy(customer, day, amount, margin, kind=Purchase.Kind.FIRST):
    return PurchaseFactory(
        customer=customer, ordered_on=day, amount=Decimal(amount), margin=Decimal(margin), kind=kind
    )


@pytest.fixture
def seg_world(org_world):
    """A (company, rep1): 500000 sale + a service visit; B (rep1): two sales on one day inside the
    lookback, one before it; C (rep3): 150000, referred F and G; D (rep3): service visits only;
    E (rep1): no purchase but tiered gold by hand; X: another organisation."""
    w = org_world
    K = Purchase.Kind
    a = CustomerFactory(owner=w.rep1, name="A", kind=Customer.Kind.COMPANY)
    b = CustomerFactory(owner=w.rep1, name="B")
    c = CustomerFactory(owner=w.rep3, name="C", customer_type=Customer.Type.VOLUME)
    d = CustomerFactory(owner=w.rep3, name="D")
    e = CustomerFactory(owner=w.rep1, name="E", tier=Customer.Tier.GOLD)
    f = CustomerFactory(owner=w.rep3, name="F", referred_by=c)
    g = CustomerFactory(owner=w.rep3, name="G", referred_by=c)
    x = CustomerFactory(owner=w.other_owner, name="X")
    buy(a, dt.date(2026, 6, 20), "500000", "100000")
    buy(a, dt.date(2026, 1, 10), "2000", "800", K.SERVICE)
    buy(a, dt.date(2026, 7, 5), "100000", "1000", K.EXPANSION)  # after the as-of day
    buy(b, dt.date(2025, 6, 30), "300000", "15000", K.REPLACEMENT)
    buy(b, dt.date(2025, 6, 30), "50000", "2500", K.EXPANSION)
    buy(b, dt.date(2024, 6, 1), "200000", "20000")  # before the 730-day lookback
    buy(c, dt.date(2026, 3, 1), "150000", "30000")
    for day in (dt.date(2026, 6, 29), dt.date(2026, 5, 1), dt.date(2026, 4, 1)):
        buy(d, day, "1000", "400", K.SERVICE)
    buy(x, dt.date(2026, 6, 1), "900000", "90000")
    return SimpleNamespace(w=w, a=a, b=b, c=c, d=d, e=e, f=f, g=g, x=x)


# The retention calculator's hand-built data set, shared by its data, page and API tests.
from .test_retention_data import ret_world  # noqa: E402, F401
