"""Writes of the account reports: wallet estimates, promotions and the purchases taking part."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from huitou.accounts import permissions
from huitou.accounts.models import Store, User
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.customers.models import Customer, Purchase
from huitou.customers.selectors import customer_queryset

from .models import Promotion, PromotionPurchase, StockCheck, WalletEstimate
from .policy import report_policy

PURCHASE_KINDS = frozenset(Purchase.Kind.values)


def _customer(actor: User, customer_id: int) -> Customer:
    customer = customer_queryset(actor).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("customer")
    if not permissions.can_edit_customer(actor, customer):
        raise PermissionDenied("may not edit this customer")
    return customer


def wallet_estimate_set(
    *,
    actor: User,
    customer_id: int,
    year: int,
    amount: Decimal,
    source: str = WalletEstimate.Source.REP,
    category: str = "",
    estimated_on: dt.date | None = None,
    note: str = "",
) -> WalletEstimate:
    """Record the account's total purchases in the category for ``year``; replaces an earlier one."""
    customer = _customer(actor, customer_id)
    errors: dict[str, list[str]] = {}
    if amount is None or amount < 0:
        errors["amount"] = ["must not be negative"]
    if not 1900 <= year <= 2200:
        errors["year"] = ["not a valid year"]
    if source not in WalletEstimate.Source.values:
        errors["source"] = ["unknown source"]
    if errors:
        raise ValidationFailed(errors)
    values = {
        "organisation_id": customer.organisation_id,
        "amount": Decimal(amount).quantize(Decimal("0.01")),
        "source": source,
        "category": category[:64],
        "estimated_on": estimated_on or timezone.localdate(),
        "entered_by": actor,
        "note": note[:255],
    }
    with transaction.atomic():
        # The unique (customer, year) constraint settles two reps saving at once: last one wins.
        estimate, _created = WalletEstimate.objects.update_or_create(
            customer_id=customer.pk, year=year, defaults=values
        )
    return estimate


def wallet_estimate_delete(*, actor: User, customer_id: int, year: int) -> None:
    customer = _customer(actor, customer_id)
    deleted, _ = WalletEstimate.objects.filter(customer_id=customer.pk, year=year).delete()
    if not deleted:
        raise NotFound("estimate")


def can_manage_promotions(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in {permissions.OWNER, permissions.MANAGER}


def _promotion_input(
    *,
    org_id: int,
    name: str,
    starts_on: dt.date,
    ends_on: dt.date,
    store_ids: list[int] | None,
    purchase_kinds: list[str] | None,
) -> tuple[list[str], list[Store]]:
    """The sorted purchase kinds and the stores (of the organisation only); every field at fault
    is refused at once (``ValidationFailed``)."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["required"]
    if ends_on < starts_on:
        errors["ends_on"] = ["must not be before the start"]
    kinds = sorted(set(purchase_kinds or []))
    if any(k not in PURCHASE_KINDS for k in kinds):
        errors["purchase_kinds"] = ["unknown purchase kind"]
    stores = list(Store.objects.filter(organisation_id=org_id, pk__in=store_ids or []))
    if len(stores) != len(set(store_ids or [])):
        errors["store_ids"] = ["unknown store"]
    if errors:
        raise ValidationFailed(errors)
    return kinds, stores


def promotion_create(
    *,
    actor: User,
    name: str,
    starts_on: dt.date,
    ends_on: dt.date,
    store_ids: list[int] | None = None,
    purchase_kinds: list[str] | None = None,
    note: str = "",
) -> Promotion:
    if not can_manage_promotions(actor):
        raise PermissionDenied("only the owner and managers create promotions")
    org_id = permissions.org_id(actor)
    kinds, stores = _promotion_input(
        org_id=org_id,
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        store_ids=store_ids,
        purchase_kinds=purchase_kinds,
    )
    with transaction.atomic():
        promotion = Promotion.objects.create(
            organisation_id=org_id,
            name=name.strip()[:120],
            starts_on=starts_on,
            ends_on=ends_on,
            purchase_kinds=kinds,
            note=note[:255],
        )
        promotion.stores.set(stores)
    return promotion


def promotion_update(
    *,
    actor: User,
    promotion_id: int,
    name: str,
    starts_on: dt.date,
    ends_on: dt.date,
    store_ids: list[int] | None = None,
    purchase_kinds: list[str] | None = None,
    note: str = "",
) -> Promotion:
    """Change a promotion (every field, as on create). The purchases already tagged must still
    fit its days, stores and kinds: a change that would leave some outside is refused with the
    field at fault, so promotion figures never count a purchase the promotion does not cover."""
    if not permissions.is_active_member(actor):
        raise NotFound("promotion")
    org_id = permissions.org_id(actor)
    if not Promotion.objects.filter(pk=promotion_id, organisation_id=org_id).exists():
        raise NotFound("promotion")
    if not can_manage_promotions(actor):
        raise PermissionDenied("only the owner and managers change promotions")
    kinds, stores = _promotion_input(
        org_id=org_id,
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        store_ids=store_ids,
        purchase_kinds=purchase_kinds,
    )
    with transaction.atomic():
        # Lock the promotion so a tag made meanwhile is checked against the new terms or waits.
        promotion = Promotion.objects.select_for_update().get(pk=promotion_id)
        tags = PromotionPurchase.objects.filter(promotion_id=promotion.pk)
        counts: dict[str, Any] = {
            "early": Count("pk", filter=Q(purchase__ordered_on__lt=starts_on)),
            "late": Count("pk", filter=Q(purchase__ordered_on__gt=ends_on)),
        }
        if kinds:
            counts["kind"] = Count("pk", filter=~Q(purchase__kind__in=kinds))
        if stores:
            counts["store"] = Count(
                "pk",
                filter=Q(purchase__store_id__isnull=True) | ~Q(purchase__store_id__in=[s.pk for s in stores]),
            )
        outside = tags.aggregate(**counts)
        errors: dict[str, list[str]] = {}
        for key, field in (
            ("early", "starts_on"),
            ("late", "ends_on"),
            ("kind", "purchase_kinds"),
            ("store", "store_ids"),
        ):
            if outside.get(key):
                errors[field] = ["some tagged purchases would fall outside the promotion"]
        if errors:
            raise ValidationFailed(errors)
        promotion.name = name.strip()[:120]
        promotion.starts_on = starts_on
        promotion.ends_on = ends_on
        promotion.purchase_kinds = kinds
        promotion.note = note[:255]
        promotion.save(update_fields=["name", "starts_on", "ends_on", "purchase_kinds", "note", "updated_at"])
        promotion.stores.set(stores)
    return promotion


def promotion_purchase_tag(*, actor: User, promotion_id: int, purchase_id: int) -> PromotionPurchase:
    """Tag a purchase as taking part in a promotion: it must fall in the promotion's days, stores
    and purchase kinds. A purchase counts for one promotion only (409 if tagged already)."""
    if not permissions.is_active_member(actor):
        raise NotFound("promotion or purchase")
    promotion = Promotion.objects.filter(pk=promotion_id, organisation_id=permissions.org_id(actor)).first()
    purchase = (
        Purchase.objects.filter(pk=purchase_id, customer__in=customer_queryset(actor))
        .select_related("customer")
        .first()
    )
    if promotion is None or purchase is None:
        raise NotFound("promotion or purchase")
    if not permissions.can_edit_customer(actor, purchase.customer):
        raise PermissionDenied("may not edit this customer")
    errors: list[str] = []
    if not promotion.starts_on <= purchase.ordered_on <= promotion.ends_on:
        errors.append("the purchase is outside the promotion's days")
    if promotion.purchase_kinds and purchase.kind not in promotion.purchase_kinds:
        errors.append("the promotion does not apply to this kind of purchase")
    store_ids = set(promotion.stores.values_list("pk", flat=True))
    if store_ids and purchase.store_id not in store_ids:
        errors.append("the promotion does not apply in this store")
    if errors:
        raise ValidationFailed({"purchase": errors})
    try:
        with transaction.atomic():
            return PromotionPurchase.objects.create(
                organisation_id=promotion.organisation_id,
                promotion=promotion,
                purchase=purchase,
                customer_id=purchase.customer_id,
                tagged_by=actor,
            )
    except IntegrityError as exc:
        raise Conflict("the purchase already takes part in a promotion") from exc


def promotion_purchase_untag(*, actor: User, purchase_id: int) -> None:
    tag = (
        PromotionPurchase.objects.filter(purchase_id=purchase_id, customer__in=customer_queryset(actor))
        .select_related("customer")
        .first()
    )
    if tag is None:
        raise NotFound("tag")
    customer = Customer.objects.get(pk=tag.customer_id)
    if not permissions.can_edit_customer(actor, customer):
        raise PermissionDenied("may not edit this customer")
    tag.delete()


def stock_check_record(
    *,
    actor: User,
    customer_id: int,
    checked_on: dt.date,
    display: str,
    stock: str,
    facings: int | None = None,
    out_of_stock: str = "",
    note: str = "",
) -> StockCheck:
    """Record what the rep saw on the account's shelves. The actor must be able to work the
    account (its rep, their manager, the owner); the policy says which accounts get checks."""
    customer = _customer(actor, customer_id)
    errors: dict[str, list[str]] = {}
    if not report_policy(customer.organisation).stock_checks_apply(customer.kind):
        errors["customer"] = ["display and stock are not checked for this kind of account"]
    if checked_on > timezone.localdate():
        errors["checked_on"] = ["must not be in the future"]
    if display not in StockCheck.Display.values:
        errors["display"] = ["unknown display status"]
    if stock not in StockCheck.Stock.values:
        errors["stock"] = ["unknown stock status"]
    if facings is not None:
        if facings < 1:
            errors["facings"] = ["must be at least 1"]
        elif display == StockCheck.Display.NONE:
            errors["facings"] = ["no facings when the products are not displayed"]
    if stock == StockCheck.Stock.OUT and not out_of_stock.strip():
        errors["out_of_stock"] = ["say which products are out of stock"]
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        # Serialise the account's checks: the latest flag moves under this lock (and the partial
        # unique constraint refuses a second latest row should anything bypass it).
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()
        check = StockCheck.objects.create(
            organisation_id=customer.organisation_id,
            customer_id=customer.pk,
            checked_on=checked_on,
            checked_by=actor,
            display=display,
            facings=facings,
            stock=stock,
            out_of_stock=out_of_stock.strip()[:255],
            note=note.strip()[:255],
        )
        latest = (
            StockCheck.objects.filter(customer_id=customer.pk)
            .order_by("-checked_on", "-id")
            .values_list("pk", flat=True)
            .first()
        )
        assert latest is not None  # the row just created at least
        StockCheck.objects.filter(customer_id=customer.pk, is_latest=True).exclude(pk=latest).update(
            is_latest=False
        )
        StockCheck.objects.filter(pk=latest).update(is_latest=True)
    check.is_latest = check.pk == latest
    return check
