"""Writes to the customer archive. Pages, API, import, CLI and admin all come through here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.core.phones import InvalidPhone, normalize_phone
from huitou.core.text import customer_keys, plate_normalise

from .models import (
    Activity,
    Calendar,
    ConfidentialNote,
    Consent,
    Customer,
    CustomerPhone,
    CustomerSearchKey,
    OwnedProduct,
    PersonalDate,
    Product,
    Purchase,
    Testimonial,
)

if TYPE_CHECKING:
    from huitou.accounts.models import User

# Fields a person may set on a customer through the forms and the API.
EDITABLE_FIELDS = (
    "kind",
    "name",
    "gender",
    "company",
    "title",
    "phone",
    "wechat",
    "email",
    "province",
    "city",
    "address",
    "latitude",
    "longitude",
    "birthday",
    "birthday_calendar",
    "birthday_lunar_month",
    "birthday_lunar_day",
    "birthday_lunar_leap",
    "personality",
    "preferences",
    "special_needs",
    "form_family",
    "form_occupation",
    "form_recreation",
    "form_money",
    "source",
    "source_detail",
    "referred_by",
    "owner",
    "store",
    "status",
    "tier",
    "customer_type",
    "lost_reason",
    "external_id",
)


def _region(user: User | None) -> str:
    if user is not None and user.organisation_id:
        return user.organisation.policy.archive.default_region  # type: ignore[union-attr]
    return "CN"


def _clean(data: dict[str, Any], *, actor: User, instance: Customer | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned = dict(data)
    if "name" in cleaned:
        cleaned["name"] = (cleaned["name"] or "").strip()
        if not cleaned["name"]:
            errors.setdefault("name", []).append("required")
    if cleaned.get("phone"):
        try:
            cleaned["phone"] = normalize_phone(str(cleaned["phone"]), _region(actor))
        except InvalidPhone as exc:
            errors.setdefault("phone", []).append(str(exc))
    cal = cleaned.get("birthday_calendar", instance.birthday_calendar if instance else "solar")
    if cal == "lunar":
        month = cleaned.get("birthday_lunar_month", instance.birthday_lunar_month if instance else None)
        day = cleaned.get("birthday_lunar_day", instance.birthday_lunar_day if instance else None)
        if not month or not 1 <= int(month) <= 12:
            errors.setdefault("birthday_lunar_month", []).append("lunar month must be 1–12")
        if not day or not 1 <= int(day) <= 30:
            errors.setdefault("birthday_lunar_day", []).append("lunar day must be 1–30")
    birthday = cleaned.get("birthday")
    if isinstance(birthday, dt.date) and birthday > timezone.localdate():
        errors.setdefault("birthday", []).append("birthday is in the future")
    for fk in ("owner", "store", "referred_by"):
        value = cleaned.get(fk)
        if (
            value is not None
            and getattr(value, "organisation_id", actor.organisation_id) != actor.organisation_id
        ):
            errors.setdefault(fk, []).append("not in your organisation")
    if (
        instance is not None
        and cleaned.get("referred_by") is not None
        and cleaned["referred_by"].pk == instance.pk
    ):
        errors.setdefault("referred_by", []).append("a customer cannot refer themselves")
    owner = cleaned.get("owner")
    if owner is not None and actor.role == permissions.REP and owner.pk != actor.pk:
        errors.setdefault("owner", []).append("a rep can only own their own customers")
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def search_keys_rebuild(*, customer_ids: Iterable[int]) -> None:
    """Recompute the search keys of these customers from their current data."""
    ids = list(customer_ids)
    if not ids:
        return
    phones: dict[int, list[str]] = {i: [] for i in ids}
    plates: dict[int, list[str]] = {i: [] for i in ids}
    vins: dict[int, list[str]] = {i: [] for i in ids}
    names: dict[int, str] = {}
    for cid, name, phone in Customer.objects.filter(pk__in=ids).values_list("pk", "name", "phone"):
        names[cid] = name
        if phone:
            phones[cid].append(phone)
    for cid, number in CustomerPhone.objects.filter(customer_id__in=ids).values_list("customer_id", "number"):
        phones[cid].append(number)
    for cid, plate, vin in OwnedProduct.objects.filter(customer_id__in=ids).values_list(
        "customer_id", "plate", "vin"
    ):
        if plate:
            plates[cid].append(plate)
        if vin:
            vins[cid].append(vin)
    CustomerSearchKey.objects.filter(customer_id__in=ids).delete()
    CustomerSearchKey.objects.bulk_create(
        [
            CustomerSearchKey(customer_id=cid, key=key)
            for cid, name in names.items()
            for key in customer_keys(name=name, phones=phones[cid], plates=plates[cid], vins=vins[cid])
        ],
        batch_size=2000,
    )


def _log(customer: Customer, *, actor: User | None, kind: str, subject: str, body: str = "") -> Activity:
    return Activity.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=kind,
        occurred_at=timezone.now(),
        user=actor,
        subject=subject,
        body=body,
    )


@transaction.atomic
def customer_create(*, actor: User, data: dict[str, Any], tags: list[str] | None = None) -> Customer:
    if actor.role not in permissions.WRITE_ROLES:
        raise PermissionDenied("your role cannot create customers")
    cleaned = _clean(data, actor=actor, instance=None)
    unknown = set(cleaned) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed({f: ["unknown field"] for f in sorted(unknown)})
    if actor.role == permissions.REP:
        cleaned["owner"] = actor
    cleaned.setdefault("store", actor.store)
    customer = Customer(organisation_id=permissions.org_id(actor), **cleaned)
    customer._history_user = actor  # type: ignore[attr-defined]
    customer.save()
    if tags:
        customer_set_tags(actor=actor, customer=customer, names=tags)
    search_keys_rebuild(customer_ids=[customer.pk])
    _log(customer, actor=actor, kind=Activity.Kind.SYSTEM, subject="Customer created")
    return customer


@transaction.atomic
def customer_update(
    *, actor: User, customer_id: int, data: dict[str, Any], version: int | None = None
) -> Customer:
    """Change fields of a customer the actor may edit. ``version`` guards against lost updates."""
    from .selectors import customer_queryset

    try:
        customer = customer_queryset(actor).select_for_update(of=("self",)).get(pk=customer_id)
    except Customer.DoesNotExist as exc:
        raise NotFound("customer") from exc
    if not permissions.can_edit_customer(actor, customer):
        raise PermissionDenied("your role cannot edit customers")
    if version is not None and version != customer.version:
        raise Conflict("this customer was changed by someone else; reload and try again")
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed({f: ["unknown field"] for f in sorted(unknown)})
    cleaned = _clean(data, actor=actor, instance=customer)
    changed = [f for f, v in cleaned.items() if getattr(customer, f) != v]
    if not changed:
        return customer
    for f in changed:
        setattr(customer, f, cleaned[f])
    # The row is locked (select_for_update), so a plain increment is safe; an F() expression
    # would also be copied into the history row, which cannot hold one.
    customer.version += 1
    customer._history_user = actor  # type: ignore[attr-defined]
    customer.save()
    if {"name", "phone"} & set(changed):
        search_keys_rebuild(customer_ids=[customer.pk])
    # Field names, not labels: the timeline shows them in the reader's language, not the editor's.
    _log(customer, actor=actor, kind=Activity.Kind.SYSTEM, subject=f"Profile updated: {', '.join(changed)}")
    return customer


@transaction.atomic
def customer_set_tags(*, actor: User, customer: Customer, names: list[str]) -> None:
    from .models import Tag

    tags = []
    for name in {n.strip() for n in names if n and n.strip()}:
        tag, _ = Tag.objects.get_or_create(organisation_id=permissions.org_id(actor), name=name[:40])
        tags.append(tag)
    customer.tags.set(tags)


@transaction.atomic
def activity_log(
    *,
    actor: User,
    customer_id: int,
    kind: str,
    subject: str,
    body: str = "",
    occurred_at: dt.datetime | None = None,
    gift_name: str = "",
    customer: Customer | None = None,
) -> Activity:
    """Log a touch. ``customer`` is passed by a caller that has already decided access its own way
    (the contact plan lets a rep covering an absent colleague work the tasks routed to them)."""
    from .selectors import customer_get

    if customer is None or customer.pk != customer_id:
        customer = customer_get(actor, customer_id)
    if kind not in Activity.Kind.values:
        raise ValidationFailed({"kind": [f"unknown activity kind {kind!r}"]})
    if not subject.strip():
        raise ValidationFailed({"subject": ["required"]})
    if kind == Activity.Kind.GIFT and not gift_name.strip():
        raise ValidationFailed({"gift_name": ["say which gift was given"]})
    return Activity.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=kind,
        occurred_at=occurred_at or timezone.now(),
        user=actor,
        subject=subject.strip()[:200],
        body=body,
        gift_name=gift_name.strip(),
    )


@transaction.atomic
def consent_set(
    *,
    actor: User | None,
    customer: Customer,
    channel: str,
    granted: bool,
    source: str,
    at: dt.datetime | None = None,
) -> Consent:
    """Record consent or opt-out (退订) for one channel; the history table keeps every change.

    Anyone who may see the customer can record an opt-out (a DCRC agent hears it on the phone);
    only roles that edit customers can record a grant. ``actor`` is None for the customer's own
    actions (unsubscribe link, SMS reply).
    """
    if channel not in Consent.Channel.values:
        raise ValidationFailed({"channel": [f"unknown channel {channel!r}"]})
    if source not in Consent.Source.values:
        raise ValidationFailed({"source": [f"unknown consent source {source!r}"]})
    if actor is not None and granted and actor.role not in permissions.WRITE_ROLES:
        raise PermissionDenied(
            "only the owner rep and managers record a consent; anyone may record an opt-out"
        )
    consent, created = Consent.objects.select_for_update().get_or_create(
        customer=customer,
        channel=channel,
        defaults={
            "granted": granted,
            "source": source,
            "recorded_at": at or timezone.now(),
            "recorded_by": actor,
        },
    )
    changed = created
    if not created and consent.granted != granted:
        consent.granted = granted
        consent.source = source
        consent.recorded_at = at or timezone.now()
        consent.recorded_by = actor
        consent._history_user = actor  # type: ignore[attr-defined]
        consent.save()
        changed = True
    if changed:
        word = "granted" if granted else "withdrawn (opt-out)"
        _log(
            customer,
            actor=actor,
            kind=Activity.Kind.SYSTEM,
            subject=f"Consent {word}: {channel}",
            body=source,
        )
    return consent


def confidential_note_add(*, actor: User, customer_id: int, body: str) -> ConfidentialNote:
    from .selectors import customer_get

    customer = customer_get(actor, customer_id)
    if not permissions.can_read_confidential(actor, customer):
        raise PermissionDenied("only the owner rep and managers keep confidential notes")
    if not body.strip():
        raise ValidationFailed({"body": ["required"]})
    note = ConfidentialNote(customer=customer, author=actor, body=body.strip())
    note._history_user = actor  # type: ignore[attr-defined]
    note.save()
    return note


@transaction.atomic
def owned_product_add(*, actor: User, customer_id: int, data: dict[str, Any]) -> OwnedProduct:
    from .selectors import customer_get

    customer = customer_get(actor, customer_id)
    if not permissions.can_edit_customer(actor, customer):
        raise PermissionDenied("your role cannot edit customers")
    vin = (data.get("vin") or "").strip().upper() or None
    if vin and len(vin) != 17:
        raise ValidationFailed({"vin": ["a VIN has 17 characters"]})
    if vin and OwnedProduct.objects.filter(organisation_id=permissions.org_id(actor), vin=vin).exists():
        raise ValidationFailed({"vin": ["this VIN is already registered"]})
    item = OwnedProduct(organisation_id=permissions.org_id(actor), customer=customer, **{**data, "vin": vin})
    if item.plate:
        item.plate = plate_normalise(item.plate)
    item._history_user = actor  # type: ignore[attr-defined]
    item.save()
    search_keys_rebuild(customer_ids=[customer.pk])
    return item


@transaction.atomic
def purchase_add(*, actor: User, customer_id: int, data: dict[str, Any]) -> Purchase:
    from .selectors import customer_get

    customer = customer_get(actor, customer_id)
    if not permissions.can_edit_customer(actor, customer):
        raise PermissionDenied("your role cannot record purchases")
    amount = Decimal(str(data.get("amount", "")) or "0")
    if amount < 0:
        raise ValidationFailed({"amount": ["must not be negative"]})
    purchase = Purchase(
        organisation_id=permissions.org_id(actor),
        customer=customer,
        store=data.get("store") or customer.store,
        rep=data.get("rep") or customer.owner,
        **{k: v for k, v in data.items() if k not in {"store", "rep"}},
    )
    purchase._history_user = actor  # type: ignore[attr-defined]
    purchase.save()
    Activity.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=Activity.Kind.PURCHASE,
        occurred_at=timezone.now(),
        user=actor,
        subject=f"{purchase.get_kind_display()} ¥{purchase.amount}",
        purchase=purchase,
    )
    return purchase


@transaction.atomic
def customers_reassign(
    *, actor: User, from_user_id: int, to_user_id: int, customer_ids: list[int] | None = None
) -> int:
    """Move customers (all of a leaving rep's, or the given ones) to another rep, keeping all history."""
    from huitou.accounts.models import User as UserModel

    if not permissions.can_reassign(actor):
        raise PermissionDenied("only managers and the owner reassign customers")
    from huitou.referrals.services import referrals_follow_reassignment

    from .selectors import customer_queryset, users_in_scope

    try:
        target = users_in_scope(actor).get(pk=to_user_id)
    except UserModel.DoesNotExist as exc:
        raise ValidationFailed({"to_user": ["not a rep you manage"]}) from exc
    qs = customer_queryset(actor).filter(owner_id=from_user_id)
    if customer_ids is not None:
        qs = qs.filter(pk__in=customer_ids)
    ids = list(qs.values_list("pk", flat=True))
    if not ids:
        return 0
    now = timezone.now()
    for chunk_start in range(0, len(ids), 5000):
        chunk = ids[chunk_start : chunk_start + 5000]
        # bulk_update_with_history writes one audit row per customer in bulk.
        from simple_history.utils import bulk_update_with_history

        objs = list(Customer.objects.filter(pk__in=chunk))
        for c in objs:
            c.owner_id = target.pk
            c.store_id = target.store_id or c.store_id
            c.version += 1
        bulk_update_with_history(
            objs,
            Customer,
            ["owner", "store", "version"],
            batch_size=1000,
            default_user=actor,
            default_change_reason=f"reassigned from user {from_user_id} to {target.label}",
        )
        # Open referrals follow the customer; closed ones keep the rep who earned them.
        referrals_follow_reassignment(
            organisation_id=int(actor.organisation_id or 0),
            customer_ids=chunk,
            rep_id=target.pk,
            store_id=target.store_id,
        )
        Activity.objects.bulk_create(
            [
                Activity(
                    organisation_id=c.organisation_id,
                    customer_id=c.pk,
                    kind=Activity.Kind.SYSTEM,
                    occurred_at=now,
                    user=actor,
                    subject=f"Reassigned to {target.label}",
                )
                for c in objs
            ],
            batch_size=1000,
        )
    return len(ids)


__all__ = [
    "activity_log",
    "confidential_note_add",
    "consent_set",
    "customer_create",
    "customer_set_tags",
    "customer_update",
    "customers_reassign",
    "owned_product_add",
    "personal_date_add",
    "personal_date_remove",
    "purchase_add",
    "search_keys_rebuild",
    "testimonial_add",
    "testimonial_set_consent",
]


def _editable_customer(actor: User, customer_id: int) -> Customer:
    from .selectors import customer_get

    customer = customer_get(actor, customer_id)
    if not permissions.can_edit_customer(actor, customer):
        raise PermissionDenied("your role cannot edit customers")
    return customer


@transaction.atomic
def personal_date_add(
    *,
    actor: User,
    customer_id: int,
    kind: str,
    label: str = "",
    calendar: str = "solar",
    date: dt.date | None = None,
    lunar_month: int | None = None,
    lunar_day: int | None = None,
    lunar_leap: bool = False,
) -> PersonalDate:
    """A date in the customer's life worth a greeting (wedding, a child's birthday, …)."""
    customer = _editable_customer(actor, customer_id)
    errors: dict[str, list[str]] = {}
    if kind not in PersonalDate.Kind.values:
        errors.setdefault("kind", []).append(f"unknown kind {kind!r}")
    label = (label or "").strip()
    if len(label) > 64:
        errors.setdefault("label", []).append("at most 64 characters")
    if calendar not in Calendar.values:
        errors.setdefault("calendar", []).append(f"unknown calendar {calendar!r}")
    elif calendar == Calendar.LUNAR:
        if lunar_month is None or not 1 <= int(lunar_month) <= 12:
            errors.setdefault("lunar_month", []).append("lunar month must be 1–12")
        if lunar_day is None or not 1 <= int(lunar_day) <= 30:
            errors.setdefault("lunar_day", []).append("lunar day must be 1–30")
    elif date is None:
        errors.setdefault("date", []).append("required")
    # These are anniversaries of things that happened; a future day is a typing mistake.
    if date is not None and date > timezone.localdate():
        errors.setdefault("date", []).append("date is in the future")
    if errors:
        raise ValidationFailed(errors)
    lunar = calendar == Calendar.LUNAR
    item = PersonalDate(
        customer=customer,
        kind=kind,
        label=label,
        calendar=calendar,
        date=date,
        lunar_month=int(lunar_month) if lunar and lunar_month is not None else None,
        lunar_day=int(lunar_day) if lunar and lunar_day is not None else None,
        lunar_leap=bool(lunar_leap) if lunar else False,
    )
    item._history_user = actor  # type: ignore[attr-defined]
    item.save()
    _log(customer, actor=actor, kind=Activity.Kind.SYSTEM, subject=f"Personal date added: {kind}")
    return item


@transaction.atomic
def personal_date_remove(*, actor: User, date_id: int, customer_id: int | None = None) -> None:
    """Delete a personal date; ``customer_id``, when given, must be the customer it belongs to."""
    item = PersonalDate.objects.filter(pk=date_id).first()
    if item is None or (customer_id is not None and item.customer_id != customer_id):
        raise NotFound("personal date")
    # Out of the actor's scope reads as missing, exactly like the customer itself.
    customer = _editable_customer(actor, item.customer_id)
    kind = item.kind
    item._history_user = actor  # type: ignore[attr-defined]
    item.delete()
    _log(customer, actor=actor, kind=Activity.Kind.SYSTEM, subject=f"Personal date removed: {kind}")


@transaction.atomic
def testimonial_add(
    *, actor: User, customer_id: int, text: str, product_id: int | None = None, consent_given: bool
) -> Testimonial:
    """Record the customer's words (客户见证); usable in a case book only while they consent."""
    customer = _editable_customer(actor, customer_id)
    errors: dict[str, list[str]] = {}
    text = (text or "").strip()
    if not text:
        errors.setdefault("text", []).append("required")
    product = None
    if product_id is not None:
        product = Product.objects.filter(organisation_id=permissions.org_id(actor), pk=product_id).first()
        if product is None:
            errors.setdefault("product_id", []).append("not in your organisation")
    if errors:
        raise ValidationFailed(errors)
    testimonial = Testimonial(
        customer=customer,
        product=product,
        text=text,
        consent_given=bool(consent_given),
        consent_at=timezone.now() if consent_given else None,
        recorded_by=actor,
    )
    testimonial._history_user = actor  # type: ignore[attr-defined]
    testimonial.save()
    _log(customer, actor=actor, kind=Activity.Kind.SYSTEM, subject="Testimonial recorded")
    return testimonial


@transaction.atomic
def testimonial_set_consent(
    *, actor: User, testimonial_id: int, consent_given: bool, customer_id: int | None = None
) -> Testimonial:
    """Give or withdraw the customer's consent to use a testimonial.

    ``customer_id``, when given, must be the customer the testimonial belongs to.

    Like a marketing opt-out, anyone who may see the customer can record a withdrawal (the
    customer may say so to a DCRC agent on the phone); only roles that edit customers record
    a consent.
    """
    from .selectors import customer_get

    testimonial = Testimonial.objects.select_for_update().filter(pk=testimonial_id).first()
    if testimonial is None or (customer_id is not None and testimonial.customer_id != customer_id):
        raise NotFound("testimonial")
    customer = customer_get(actor, testimonial.customer_id)
    if consent_given and not permissions.can_edit_customer(actor, customer):
        raise PermissionDenied("only the owner rep and managers record a consent; anyone may withdraw it")
    if testimonial.consent_given == consent_given:
        return testimonial
    testimonial.consent_given = consent_given
    testimonial.consent_at = timezone.now() if consent_given else None
    testimonial._history_user = actor  # type: ignore[attr-defined]
    testimonial.save()
    word = "given" if consent_given else "withdrawn"
    _log(customer, actor=actor, kind=Activity.Kind.SYSTEM, subject=f"Testimonial consent {word}")
    return testimonial
