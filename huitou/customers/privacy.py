"""Personal data under PIPL (个人信息保护法): export on request, erasure by anonymisation.

Export (art. 45, the right to a copy): everything held on the person, with full phone numbers
since the copy is for the person. Confidential notes are included only when the actor may read
them (``permissions.can_read_confidential``): the customer-relations centre can answer a request,
but a complete copy, notes included, needs the owner or a manager; the export says which it is.

Erasure anonymises instead of deleting, so the sales figures (purchases: amounts, margins, dates)
and the vehicles' model and delivery date survive. simple-history keeps every earlier version of a
row, so erasure also scrubs the personal fields of the person's historical rows; without that the
old name and phone would still sit in the audit tables. Who did what and when stays in the audit.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from huitou.accounts import permissions
from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed

from .models import (
    Activity,
    ConfidentialNote,
    Consent,
    Customer,
    CustomerPhone,
    CustomerSearchKey,
    OwnedProduct,
    PersonalDate,
    PrivacyRequest,
    Purchase,
    Testimonial,
)

if TYPE_CHECKING:
    from huitou.accounts.models import User

ERASED_NAME = "已删除客户 #{id}"

# Customer fields that describe the person, with the value they take after erasure. Province and
# city stay: on their own they identify nobody, and regional sales figures need them.
_PERSONAL_CUSTOMER_FIELDS: dict[str, Any] = {
    "gender": "",
    "company": "",
    "title": "",
    "phone": "",
    "wechat": "",
    "email": "",
    "address": "",
    "latitude": None,
    "longitude": None,
    "birthday": None,
    "birthday_calendar": "solar",
    "birthday_lunar_month": None,
    "birthday_lunar_day": None,
    "birthday_lunar_leap": False,
    "personality": "",
    "preferences": "",
    "special_needs": "",
    "form_family": "",
    "form_occupation": "",
    "form_recreation": "",
    "form_money": "",
    "source_detail": "",
    "lost_reason": "",
    "external_id": None,
}
_PROFILE_EXPORT_FIELDS = (
    "id",
    "external_id",
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
    "status",
    "created_at",
)
EXPORT_ROLES = {permissions.OWNER, permissions.MANAGER, permissions.DCRC}


# Later apps (referrals, feedback) hold personal data too. They register here from their
# AppConfig.ready(), so this app never imports them: ``export(ids)`` returns sections to add to the
# person's export, ``erase(ids)`` blanks their free text inside the erasure's transaction.
_PRIVACY_HOOKS: list[tuple[Callable[[list[int]], dict[str, Any]], Callable[[list[int]], None]]] = []


def privacy_hook_register(
    *, export: Callable[[list[int]], dict[str, Any]], erase: Callable[[list[int]], None]
) -> None:
    if (export, erase) not in _PRIVACY_HOOKS:
        _PRIVACY_HOOKS.append((export, erase))


def can_export(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in EXPORT_ROLES


def can_erase(user: User) -> bool:
    return permissions.is_active_member(user) and permissions.can_handle_privacy(user)


def _plain(value: Any) -> Any:
    """JSON-ready value: dates as ISO text, money as exact decimal text."""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _rows(qs: Any, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in qs.values(*fields)]


def _record_history(customer: Customer, *, actor: User, reason: str) -> None:
    """An audit row on the customer without touching the customer (no version bump)."""
    Customer.history.bulk_history_create(  # type: ignore[attr-defined]
        [customer], update=True, default_user=actor, default_change_reason=reason[:100]
    )


@transaction.atomic
def customer_personal_data_export(*, actor: User, customer_id: int) -> dict[str, Any]:
    """Everything held on the person, as JSON-ready sections; recorded as a privacy request."""
    from .selectors import customer_get

    if not can_export(actor):
        raise PermissionDenied(
            "only the owner, managers and the customer-relations centre export personal data"
        )
    customer = customer_get(actor, customer_id)
    ids = [customer.pk, *Customer.objects.filter(merged_into=customer).values_list("pk", flat=True)]
    confidential = permissions.can_read_confidential(actor, customer)
    data: dict[str, Any] = {
        "generated_at": _plain(timezone.now()),
        "organisation": customer.organisation.name,
        "customer": {
            k: _plain(v)
            for k, v in Customer.objects.filter(pk=customer.pk).values(*_PROFILE_EXPORT_FIELDS)[0].items()
        },
        "merged_records": _rows(
            Customer.objects.filter(pk__in=ids[1:]).order_by("pk"), _PROFILE_EXPORT_FIELDS
        ),
        "tags": sorted(customer.tags.values_list("name", flat=True)),
        "phones": _rows(CustomerPhone.objects.filter(customer=customer).order_by("pk"), ("number", "label")),
        "personal_dates": _rows(
            PersonalDate.objects.filter(customer=customer).order_by("pk"),
            ("kind", "label", "calendar", "date", "lunar_month", "lunar_day", "lunar_leap"),
        ),
        "consents": _rows(
            Consent.objects.filter(customer=customer).order_by("channel"),
            ("channel", "granted", "source", "recorded_at"),
        ),
        "consent_history": _rows(
            Consent.history.filter(customer_id__in=ids).order_by("history_date", "history_id"),  # type: ignore[attr-defined]
            ("channel", "granted", "source", "recorded_at", "history_type", "history_date"),
        ),
        "owned_products": _rows(
            OwnedProduct.objects.filter(customer=customer).order_by("pk"),
            (
                "description",
                "product__name",
                "vin",
                "plate",
                "delivered_on",
                "mileage_km",
                "mileage_on",
                "insurance_expires_on",
                "usage",
                "active",
            ),
        ),
        "purchases": _rows(
            Purchase.objects.filter(customer=customer).order_by("ordered_on", "pk"),
            ("ordered_on", "kind", "amount", "margin", "payment_due_on", "paid_amount", "paid_on", "note"),
        ),
        "activities": _rows(
            Activity.objects.filter(customer=customer).order_by("occurred_at", "pk"),
            ("occurred_at", "kind", "subject", "body", "gift_name"),
        ),
        "testimonials": _rows(
            Testimonial.objects.filter(customer=customer).order_by("pk"),
            ("text", "product__name", "consent_given", "consent_at"),
        ),
        "confidential_notes_included": confidential,
        "confidential_notes": (
            _rows(
                ConfidentialNote.objects.filter(customer=customer).order_by("created_at", "pk"),
                ("created_at", "body"),
            )
            if confidential
            else []
        ),
    }
    for export, _erase in _PRIVACY_HOOKS:
        data.update(export(ids))
    PrivacyRequest.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=PrivacyRequest.Kind.EXPORT,
        requested_by=actor,
        reason="",
        done_at=timezone.now(),
    )
    _record_history(customer, actor=actor, reason="PIPL export of personal data")
    Activity.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=Activity.Kind.SYSTEM,
        occurred_at=timezone.now(),
        user=actor,
        subject="Personal data exported (PIPL)",
    )
    return data


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    # A text cell starting like a formula would run in the reader's spreadsheet (=cmd|...).
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if isinstance(value, list | dict):
        return str(value)
    return value


def personal_data_xlsx(data: dict[str, Any]) -> bytes:
    """The export as a workbook: one sheet per section, one row per record."""
    from openpyxl import Workbook

    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = "summary"
    summary.append(["generated_at", data["generated_at"]])
    summary.append(["organisation", _cell(data["organisation"])])
    summary.append(["tags", _cell(", ".join(data["tags"]))])
    summary.append(["confidential_notes_included", data["confidential_notes_included"]])
    profile = wb.create_sheet("customer")
    for key, value in data["customer"].items():
        profile.append([key, _cell(value)])
    for section in (
        "merged_records",
        "phones",
        "personal_dates",
        "consents",
        "consent_history",
        "owned_products",
        "purchases",
        "activities",
        "testimonials",
        "confidential_notes",
    ):
        sheet = wb.create_sheet(section)
        rows: list[dict[str, Any]] = data[section]
        if rows:
            header = list(rows[0])
            sheet.append(header)
            for row in rows:
                sheet.append([_cell(row[k]) for k in header])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _scrub_history(model: type[Model], ids: list[int], values: dict[str, Any]) -> None:
    model.history.filter(customer_id__in=ids).update(**values)  # type: ignore[attr-defined]


@transaction.atomic
def customer_erase(*, actor: User, customer_id: int, reason: str) -> None:
    """Anonymise the person and every record merged into them; keep the sales figures."""
    from .selectors import customer_queryset

    if not can_erase(actor):
        raise PermissionDenied("only managers and the owner erase personal data")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["say why (the person's request, its date and channel)"]})
    try:
        customer = customer_queryset(actor).select_for_update(of=("self",)).get(pk=customer_id)
    except (Customer.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("customer") from exc
    merged = list(Customer.objects.select_for_update().filter(merged_into=customer).order_by("pk"))
    people = [customer, *merged]
    ids = [c.pk for c in people]
    now = timezone.now()
    change_reason = f"PIPL erasure: {reason}"[:100]
    historical = Customer.history.model  # type: ignore[attr-defined]
    old_names = set(historical.objects.filter(id__in=ids).values_list("name", flat=True))
    old_names.update(c.name for c in people)
    old_names.discard("")

    # Contact points, dates, words and notes go entirely; deletion leaves "-" history rows,
    # which the scrub below clears.
    for model in (CustomerPhone, PersonalDate, Testimonial, ConfidentialNote):
        obj: Any
        for obj in model._default_manager.filter(customer_id__in=ids):  # type: ignore[attr-defined]
            obj._history_user = actor
            obj._change_reason = change_reason
            obj.delete()
    CustomerSearchKey.objects.filter(customer_id__in=ids).delete()
    for consent in Consent.objects.select_for_update().filter(customer_id__in=ids, granted=True):
        consent.granted = False
        consent.source = Consent.Source.VERBAL
        consent.recorded_at = now
        consent.recorded_by = actor
        consent._history_user = actor  # type: ignore[attr-defined]
        consent._change_reason = change_reason  # type: ignore[attr-defined]
        consent.save(update_fields=["granted", "source", "recorded_at", "recorded_by"])
    # The VIN and plate identify the person's car; model and delivery date are sales figures.
    for item in OwnedProduct.objects.filter(customer_id__in=ids):
        item.vin = None
        item.plate = ""
        item.usage = ""
        item.external_id = None
        item._history_user = actor  # type: ignore[attr-defined]
        item._change_reason = change_reason  # type: ignore[attr-defined]
        item.save(update_fields=["vin", "plate", "usage", "external_id", "updated_at"])
    Purchase.objects.filter(customer_id__in=ids).exclude(note="").update(note="")
    timeline = Activity.objects.filter(customer_id__in=ids)
    for kind in set(timeline.values_list("kind", flat=True)):
        # Timeline free text is about the person; the touch itself (kind, when, who) still counts.
        timeline.filter(kind=kind).update(subject=f"[{kind}]", body="", gift_name="")
    for person in people:
        person.tags.clear()
        anonymous = {**_PERSONAL_CUSTOMER_FIELDS, "name": ERASED_NAME.format(id=person.pk)}
        for fname, value in anonymous.items():
            setattr(person, fname, value)
        person.status = Customer.Status.ERASED
        person.anonymised_at = now
        person.version += 1  # the row is locked: a plain increment is safe and history can copy it
        person._history_user = actor  # type: ignore[attr-defined]
        person._change_reason = change_reason  # type: ignore[attr-defined]
        person.save()

    # The audit tables: same scrub on every earlier version of these rows.
    for person in people:
        historical.objects.filter(id=person.pk).update(
            **_PERSONAL_CUSTOMER_FIELDS, name=ERASED_NAME.format(id=person.pk)
        )
    for row in historical.objects.filter(id__in=ids).exclude(history_change_reason=None):
        text = row.history_change_reason or ""
        for name in old_names:
            text = text.replace(name, "***")
        if text != row.history_change_reason:
            historical.objects.filter(pk=row.pk).update(history_change_reason=text)
    _scrub_history(CustomerPhone, ids, {"number": "", "label": ""})
    _scrub_history(PersonalDate, ids, {"label": "", "date": None, "lunar_month": None, "lunar_day": None})
    _scrub_history(Testimonial, ids, {"text": ""})
    _scrub_history(ConfidentialNote, ids, {"body": ""})
    _scrub_history(OwnedProduct, ids, {"vin": None, "plate": "", "usage": "", "external_id": None})
    _scrub_history(Purchase, ids, {"note": ""})
    for _export, erase in _PRIVACY_HOOKS:
        erase(ids)

    PrivacyRequest.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=PrivacyRequest.Kind.ERASE,
        requested_by=actor,
        reason=reason[:255],
        done_at=now,
    )
    Activity.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        kind=Activity.Kind.SYSTEM,
        occurred_at=now,
        user=actor,
        subject="Personal data erased (PIPL)",
    )


__all__ = [
    "can_erase",
    "can_export",
    "customer_erase",
    "customer_personal_data_export",
    "personal_data_xlsx",
]
