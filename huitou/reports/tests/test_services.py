"""Writes: wallet estimates, promotions and promotion tags, with their refusals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.customers.models import Purchase
from huitou.reports import services
from huitou.reports.models import Promotion, PromotionPurchase, WalletEstimate

from .conftest import buy

pytestmark = pytest.mark.django_db


def test_wallet_estimate_replaces_the_years_figure(data):
    e = services.wallet_estimate_set(
        actor=data.w.rep1, customer_id=data.a.pk, year=2025, amount=Decimal("20000")
    )
    assert WalletEstimate.objects.filter(customer=data.a).count() == 1
    assert (e.amount, e.source, e.entered_by) == (Decimal("20000.00"), "rep", data.w.rep1)
    services.wallet_estimate_set(
        actor=data.w.owner, customer_id=data.a.pk, year=2024, amount=Decimal("9000"), source="import"
    )
    assert dict(WalletEstimate.objects.filter(customer=data.a).values_list("year", "amount")) == {
        2024: Decimal("9000.00"), 2025: Decimal("20000.00"),
    }  # fmt: skip


def test_wallet_estimate_refusals_change_nothing(data):
    with pytest.raises(NotFound):
        services.wallet_estimate_set(actor=data.w.rep2, customer_id=data.a.pk, year=2025, amount=Decimal("1"))
    with pytest.raises(ValidationFailed):
        services.wallet_estimate_set(
            actor=data.w.rep1, customer_id=data.a.pk, year=2025, amount=Decimal("-1")
        )
    with pytest.raises(PermissionDenied):
        services.wallet_estimate_set(actor=data.w.dcrc, customer_id=data.a.pk, year=2025, amount=Decimal("1"))
    assert WalletEstimate.objects.get(customer=data.a).amount == Decimal("14000.00")


def test_promotion_create_limits(data):
    p = services.promotion_create(
        actor=data.w.manager1,
        name="国庆保养节",
        starts_on=dt.date(2025, 10, 1),
        ends_on=dt.date(2025, 10, 7),
        store_ids=[data.w.s1.pk],
        purchase_kinds=["service"],
    )
    assert list(p.stores.all()) == [data.w.s1] and p.purchase_kinds == ["service"]
    with pytest.raises(PermissionDenied):
        services.promotion_create(
            actor=data.w.rep1, name="x", starts_on=dt.date(2025, 1, 1), ends_on=dt.date(2025, 1, 2)
        )
    with pytest.raises(ValidationFailed) as exc:
        services.promotion_create(
            actor=data.w.owner, name="x", starts_on=dt.date(2025, 2, 1), ends_on=dt.date(2025, 1, 2),
            store_ids=[data.w.other_store.pk], purchase_kinds=["gift"],
        )  # fmt: skip
    assert set(exc.value.errors) == {"ends_on", "store_ids", "purchase_kinds"}
    assert Promotion.objects.count() == 2  # the conftest's one and 国庆保养节


def test_tag_checks_days_kind_and_store(data):
    p = services.promotion_create(
        actor=data.w.owner, name="国庆保养节", starts_on=dt.date(2025, 10, 1), ends_on=dt.date(2025, 10, 7),
        store_ids=[data.w.s1.pk], purchase_kinds=["service"],
    )  # fmt: skip
    ok = buy(data.a, dt.date(2025, 10, 3), "300.00", kind=Purchase.Kind.SERVICE)
    late = buy(data.a, dt.date(2025, 10, 9), "300.00", kind=Purchase.Kind.SERVICE)
    wrong_kind = buy(data.a, dt.date(2025, 10, 3), "300.00")
    other_store = buy(data.a, dt.date(2025, 10, 3), "300.00", kind=Purchase.Kind.SERVICE, store=data.w.s2)
    tag = services.promotion_purchase_tag(actor=data.w.rep1, promotion_id=p.pk, purchase_id=ok.pk)
    assert (tag.customer_id, tag.tagged_by) == (data.a.pk, data.w.rep1)
    for purchase in (late, wrong_kind, other_store):
        with pytest.raises(ValidationFailed):
            services.promotion_purchase_tag(actor=data.w.rep1, promotion_id=p.pk, purchase_id=purchase.pk)
    assert list(PromotionPurchase.objects.filter(promotion=p).values_list("purchase_id", flat=True)) == [
        ok.pk
    ]


def test_a_purchase_counts_for_one_promotion(data):
    other = services.promotion_create(
        actor=data.w.owner, name="三月团购", starts_on=dt.date(2025, 3, 1), ends_on=dt.date(2025, 3, 31)
    )
    with pytest.raises(Conflict):
        services.promotion_purchase_tag(actor=data.w.rep1, promotion_id=other.pk, purchase_id=data.p2.pk)
    assert PromotionPurchase.objects.get(purchase=data.p2).promotion == data.promo


def test_tag_of_another_reps_purchase_is_not_found(data):
    b_purchase = Purchase.objects.get(customer=data.b)
    with pytest.raises(NotFound):
        services.promotion_purchase_tag(
            actor=data.w.rep1, promotion_id=data.promo.pk, purchase_id=b_purchase.pk
        )
    with pytest.raises(NotFound):
        services.promotion_purchase_untag(actor=data.w.rep2, purchase_id=data.p2.pk)
    assert PromotionPurchase.objects.filter(purchase=data.p2).exists()
    services.promotion_purchase_untag(actor=data.w.rep1, purchase_id=data.p2.pk)
    assert not PromotionPurchase.objects.filter(purchase=data.p2).exists()
