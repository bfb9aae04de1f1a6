"""Running the plan's people and news: absences (who covers a rep's tasks) and product notices.

Owner and managers only. A manager records absences for the people they review (the teams they
manage, and their store by policy: ``compliance.people_scope``); the owner for anyone in the
organisation. Product notices are organisation-wide: the daily plan turns each one into a message
to every customer who owns the product.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from huitou.accounts import permissions
from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed

from .compliance import people_scope
from .models import Absence, PlanRun, ProductNotice

if TYPE_CHECKING:
    from huitou.accounts.models import User

MANAGE_ROLES = {permissions.OWNER, permissions.MANAGER}
MAX_ABSENCE_DAYS = 366
REASON_MAX = 120
TITLE_MAX = 200


def can_manage_plan(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in MANAGE_ROLES


def _require_manager(actor: User, what: str) -> None:
    if not can_manage_plan(actor):
        raise PermissionDenied(f"only the owner and managers manage {what}")


# ---------------------------------------------------------------------------------------------
# Absences


@transaction.atomic
def absence_create(
    *,
    actor: User,
    user_id: int,
    starts_on: dt.date,
    ends_on: dt.date,
    delegate_id: int | None = None,
    reason: str = "",
) -> Absence:
    from huitou.accounts.models import User as UserModel

    _require_manager(actor, "absences")
    # Someone the actor may not manage is reported like someone who does not exist.
    # Locking the person serialises two absences recorded for them at once (the overlap check).
    person = UserModel.objects.select_for_update(of=("self",)).filter(people_scope(actor), pk=user_id).first()
    if person is None:
        raise NotFound("user")
    errors: dict[str, list[str]] = {}
    if ends_on < starts_on:
        errors["ends_on"] = ["must not be before the first day"]
    elif (ends_on - starts_on).days >= MAX_ABSENCE_DAYS:
        errors["ends_on"] = [f"an absence lasts at most {MAX_ABSENCE_DAYS} days"]
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        errors["reason"] = [f"at most {REASON_MAX} characters"]
    delegate = None
    if delegate_id is not None:
        delegate = UserModel.objects.filter(
            pk=delegate_id,
            organisation_id=permissions.org_id(actor),
            is_active=True,
            left_at__isnull=True,
        ).first()
        if delegate is None:
            errors["delegate_id"] = ["not a current member of your organisation"]
        elif delegate.pk == person.pk:
            errors["delegate_id"] = ["someone cannot cover for themselves"]
        elif Absence.objects.filter(user=delegate, starts_on__lte=ends_on, ends_on__gte=starts_on).exists():
            errors["delegate_id"] = ["is away during this time too"]
    if (
        "ends_on" not in errors
        and Absence.objects.filter(user=person, starts_on__lte=ends_on, ends_on__gte=starts_on).exists()
    ):
        errors["starts_on"] = ["overlaps an absence already recorded for this person"]
    if errors:
        raise ValidationFailed(errors)
    return Absence.objects.create(
        organisation_id=permissions.org_id(actor),
        user=person,
        starts_on=starts_on,
        ends_on=ends_on,
        delegate=delegate,
        reason=reason,
    )


@transaction.atomic
def absence_delete(*, actor: User, absence_id: int) -> None:
    _require_manager(actor, "absences")
    absence = absence_queryset(actor).select_for_update(of=("self",)).filter(pk=absence_id).first()
    if absence is None:
        raise NotFound("absence")
    absence.delete()


def absence_queryset(viewer: User) -> QuerySet[Absence]:
    if not permissions.is_active_member(viewer):
        return Absence.objects.none()
    return Absence.objects.filter(people_scope(viewer, "user__"), organisation_id=permissions.org_id(viewer))


def absence_list(viewer: User, *, today: dt.date | None = None) -> QuerySet[Absence]:
    """Current and upcoming absences of the people the viewer manages, soonest first."""
    _require_manager(viewer, "absences")
    today = today or timezone.localdate()
    return (
        absence_queryset(viewer)
        .filter(ends_on__gte=today)
        .select_related("user", "delegate")
        .order_by("starts_on", "user__username", "id")
    )


# ---------------------------------------------------------------------------------------------
# Product notices


@transaction.atomic
def notice_create(
    *,
    actor: User,
    product_id: int,
    kind: str,
    title: str,
    body: str = "",
    effective_on: dt.date | None = None,
) -> ProductNotice:
    from huitou.customers.models import Product

    _require_manager(actor, "product notices")
    org = permissions.org_id(actor)
    errors: dict[str, list[str]] = {}
    product = Product.objects.filter(pk=product_id, organisation_id=org).first()
    if product is None:
        errors["product_id"] = ["no such product in your organisation"]
    if kind not in ProductNotice.Kind.values:
        errors["kind"] = ["not a valid choice"]
    title = (title or "").strip()
    if not title:
        errors["title"] = ["required"]
    elif len(title) > TITLE_MAX:
        errors["title"] = [f"at most {TITLE_MAX} characters"]
    today = timezone.localdate()
    effective_on = effective_on or today
    if effective_on < today:
        # The daily plan sends a notice on its effective day; a past day would be skipped.
        errors["effective_on"] = ["cannot be in the past"]
    elif PlanRun.objects.filter(organisation_id=org, day=effective_on, status=PlanRun.Status.DONE).exists():
        errors["effective_on"] = ["the plan of this day has already run; choose a later day"]
    if errors or product is None:
        raise ValidationFailed(errors)
    return ProductNotice.objects.create(
        organisation_id=org,
        product=product,
        kind=kind,
        title=title,
        body=(body or "").strip(),
        effective_on=effective_on,
        created_by=actor,
    )


@dataclass(frozen=True)
class NoticeRow:
    id: int
    product_id: int
    product_name: str
    kind: str
    title: str
    body: str
    effective_on: dt.date
    created_by: str
    created_at: dt.datetime
    owners: int


def notice_queryset(viewer: User) -> QuerySet[ProductNotice]:
    _require_manager(viewer, "product notices")
    return ProductNotice.objects.filter(organisation_id=permissions.org_id(viewer))


def notice_list(viewer: User, *, limit: int = 200) -> list[NoticeRow]:
    """Newest notices first, each with the number of customers who own its product now.

    One query: the owner count is a correlated subquery along the (product, customer) index.
    The count is organisation-wide, as the notice is; it names nobody.
    """
    return _notice_rows(viewer, notice_queryset(viewer).order_by("-effective_on", "-id")[:limit])


def notice_get(viewer: User, notice_id: int) -> NoticeRow:
    rows = _notice_rows(viewer, notice_queryset(viewer).filter(pk=notice_id))
    if not rows:
        raise NotFound("notice")
    return rows[0]


def _notice_rows(viewer: User, qs: QuerySet[ProductNotice]) -> list[NoticeRow]:
    from huitou.customers.models import Customer, OwnedProduct

    owners = (
        OwnedProduct.objects.filter(
            product_id=OuterRef("product_id"),
            active=True,
            customer__organisation_id=permissions.org_id(viewer),
            customer__merged_into__isnull=True,
        )
        .exclude(customer__status__in=[Customer.Status.ERASED, Customer.Status.LOST])
        .order_by()
        .values("product_id")
        .annotate(n=Count("customer_id", distinct=True))
        .values("n")
    )
    rows = qs.annotate(owners=Coalesce(Subquery(owners, output_field=IntegerField()), 0)).values(
        "id",
        "product_id",
        "product__name",
        "kind",
        "title",
        "body",
        "effective_on",
        "created_by__username",
        "created_by__display_name",
        "created_at",
        "owners",
    )
    return [
        NoticeRow(
            id=r["id"],
            product_id=r["product_id"],
            product_name=r["product__name"],
            kind=r["kind"],
            title=r["title"],
            body=r["body"],
            effective_on=r["effective_on"],
            created_by=r["created_by__display_name"] or r["created_by__username"] or "",
            created_at=r["created_at"],
            owners=r["owners"],
        )
        for r in rows
    ]


def products_for_notices(viewer: User) -> QuerySet:
    from huitou.customers.models import Product

    _require_manager(viewer, "product notices")
    return Product.objects.filter(organisation_id=permissions.org_id(viewer), active=True).order_by("name")


def absence_people(viewer: User) -> QuerySet:
    """People the viewer may record an absence for (and choose as a delegate: anyone current)."""
    from huitou.accounts.models import User as UserModel

    return UserModel.objects.filter(people_scope(viewer), is_active=True, left_at__isnull=True).order_by(
        "username"
    )


def delegates_for(viewer: User) -> QuerySet:
    from huitou.accounts.models import User as UserModel

    if not permissions.is_active_member(viewer):
        return UserModel.objects.none()
    return UserModel.objects.filter(
        organisation_id=permissions.org_id(viewer), is_active=True, left_at__isnull=True
    ).order_by("username")
