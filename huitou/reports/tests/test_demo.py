"""The reports demo adds wallet estimates and promotions to an organisation, once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from huitou.customers.models import Purchase
from huitou.reports.demo import reports_demo
from huitou.reports.models import Promotion, PromotionPurchase, WalletEstimate
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db


def test_reports_demo(org_world):
    w = org_world
    today = dt.date(2026, 3, 15)
    customers = [CustomerFactory(owner=w.rep1) for _ in range(6)]
    for i, c in enumerate(customers):
        PurchaseFactory(customer=c, ordered_on=dt.date(2025, 12, 5 + i), amount=Decimal("1000"), store=w.s1)
        PurchaseFactory(
            customer=c, ordered_on=dt.date(2025, 4, 3), kind=Purchase.Kind.SERVICE, amount=Decimal("500")
        )
    counts = reports_demo(organisation=w.org, today=today, seed=1)
    assert counts["promotions"] == 3
    names = dict(Promotion.objects.values_list("name", "starts_on"))
    assert names == {
        "春季保养节": dt.date(2025, 4, 1),
        "国庆购车节": dt.date(2025, 10, 1),
        "年末老客户回馈": dt.date(2025, 12, 1),
    }
    assert counts["estimates"] == WalletEstimate.objects.count() == 6  # 2025 buyers; nobody bought in 2026
    for e in WalletEstimate.objects.all():
        assert Decimal("1800") <= e.amount <= Decimal("6000")  # our 1,500 × 1.2–4
    tags = PromotionPurchase.objects.select_related("purchase", "promotion")
    assert counts["tagged"] == tags.count() > 0
    for t in tags:
        assert t.promotion.starts_on <= t.purchase.ordered_on <= t.promotion.ends_on
        assert not t.promotion.purchase_kinds or t.purchase.kind in t.promotion.purchase_kinds
    assert reports_demo(organisation=w.org, today=today, seed=1) == {
        "estimates": 0,
        "promotions": 0,
        "tagged": 0,
        "stock_checks": 0,
    }
