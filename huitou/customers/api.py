"""JSON endpoints of the customer archive. Thin: shape input and output, call services and selectors.

Phones leave the server only through ``permissions.phone_for``; confidential notes only when
``permissions.can_read_confidential`` allows. References to other rows travel as ids
(``owner_id``, ``store_id``, ``referred_by_id``) and are resolved through the viewer's selectors, so
an id outside the viewer's scope is reported like one that does not exist.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from huitou.accounts import permissions
from huitou.accounts.models import User
from huitou.api.schemas import ERROR_RESPONSES, page_out
from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.core.http import AuthedRequest
from huitou.core.pagination import MAX_PAGE_SIZE
from huitou.core.phones import mask_phone

from . import selectors, services
from .models import Activity, Calendar, Consent, Customer, PersonalDate, Purchase, Testimonial

router = Router(tags=["customers"])

# API field name → service field name, for references passed as ids.
_REFS = {"owner_id": "owner", "store_id": "store", "referred_by_id": "referred_by"}


def _shown_phone(context: dict[str, Any] | None, e164: str) -> str:
    """The phone as the requesting viewer may see it; masked when there is no viewer."""
    if not e164:
        return ""
    request = (context or {}).get("request")
    user = getattr(request, "user", None)
    if user is None:
        return mask_phone(e164)
    # Reading the policy once per response, not once per phone on a 200-row page.
    full = getattr(request, "_huitou_full_phone", None)
    if full is None:
        full = permissions.sees_full_phone(user)
        request._huitou_full_phone = full  # type: ignore[union-attr]
    return permissions.phone_for(user, e164, full=full)


# ---------------------------------------------------------------- input schemas


class _In(Schema):
    model_config = ConfigDict(use_enum_values=True, extra="forbid")


class _CustomerFields(_In):
    kind: Customer.Kind = Customer.Kind.PERSON
    name: str = Field("", max_length=120)
    gender: Customer.Gender = Customer.Gender.UNKNOWN
    company: str = Field("", max_length=120)
    title: str = Field("", max_length=64)
    phone: str = Field("", max_length=32, description="Any common form; stored in E.164")
    wechat: str = Field("", max_length=64)
    email: str = Field("", max_length=254)
    province: str = Field("", max_length=32)
    city: str = Field("", max_length=32)
    address: str = Field("", max_length=255)
    latitude: Decimal | None = Field(None, max_digits=9, decimal_places=6, ge=-90, le=90)
    longitude: Decimal | None = Field(None, max_digits=9, decimal_places=6, ge=-180, le=180)
    birthday: dt.date | None = None
    birthday_calendar: Calendar = Calendar.SOLAR
    birthday_lunar_month: int | None = Field(None, ge=1, le=12)
    birthday_lunar_day: int | None = Field(None, ge=1, le=30)
    birthday_lunar_leap: bool = False
    personality: str = ""
    preferences: str = ""
    special_needs: str = ""
    form_family: str = ""
    form_occupation: str = ""
    form_recreation: str = ""
    form_money: str = ""
    source: Customer.Source = Customer.Source.WALK_IN
    source_detail: str = Field("", max_length=120)
    referred_by_id: int | None = None
    owner_id: int | None = None
    store_id: int | None = None
    status: Customer.Status = Customer.Status.ACTIVE
    tier: Customer.Tier = Customer.Tier.NONE
    customer_type: Customer.Type = Customer.Type.NONE
    lost_reason: str = Field("", max_length=255)
    external_id: str | None = Field(None, max_length=64)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                validate_email(value)
            except DjangoValidationError as exc:
                raise PydanticCustomError("email", "enter a valid e-mail address") from exc
        return value


class CustomerCreateIn(_CustomerFields):
    name: str = Field(..., min_length=1, max_length=120)
    tags: list[str] = Field(default_factory=list)


class CustomerPatchIn(_CustomerFields):
    """Only the fields sent are changed. ``version`` is the one read; a newer one on the server → 409."""

    version: int = Field(..., ge=1)


class CustomerListQuery(Schema):
    q: str = Field("", description="Name (2+ characters), phone, last 4 digits of a phone, plate or VIN")
    owner_id: int | None = None
    store_id: int | None = None
    status: Customer.Status | None = None
    tier: Customer.Tier | None = None
    customer_type: Customer.Type | None = None
    source: Customer.Source | None = None
    kind: Customer.Kind | None = None
    sort: str = Field("-id", pattern="^(-?id|-?name|-updated_at)$")
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class TimelineQuery(Schema):
    kind: Activity.Kind | None = None
    page: int = Field(1, ge=1)
    size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class ActivityIn(_In):
    kind: Activity.Kind
    subject: str = Field(..., min_length=1, max_length=200)
    body: str = ""
    occurred_at: dt.datetime | None = None
    gift_name: str = Field("", max_length=120)


class ConsentIn(_In):
    channel: Consent.Channel
    granted: bool
    source: Consent.Source = Consent.Source.API
    at: dt.datetime | None = None


class OwnedProductIn(_In):
    description: str = Field("", max_length=120)
    vin: str | None = Field(None, max_length=17)
    plate: str = Field("", max_length=16)
    delivered_on: dt.date | None = None
    mileage_km: int | None = Field(None, ge=0)
    mileage_on: dt.date | None = None
    insurance_expires_on: dt.date | None = None
    usage: str = Field("", max_length=120)
    external_id: str | None = Field(None, max_length=64)


class PurchaseIn(_In):
    ordered_on: dt.date
    kind: Purchase.Kind = Purchase.Kind.FIRST
    amount: Decimal = Field(..., max_digits=14, decimal_places=2, ge=0)
    margin: Decimal = Field(Decimal("0"), max_digits=14, decimal_places=2)
    payment_due_on: dt.date | None = None
    paid_amount: Decimal = Field(Decimal("0"), max_digits=14, decimal_places=2, ge=0)
    paid_on: dt.date | None = None
    promised_on: dt.date | None = None
    shipped_on: dt.date | None = None
    arrives_on: dt.date | None = None
    note: str = Field("", max_length=255)
    external_id: str | None = Field(None, max_length=64)


class ConfidentialNoteIn(_In):
    body: str = Field(..., min_length=1)


class PersonalDateIn(_In):
    kind: PersonalDate.Kind
    label: str = Field("", max_length=64)
    calendar: Calendar = Calendar.SOLAR
    date: dt.date | None = Field(None, description="Required for a solar date; never in the future")
    lunar_month: int | None = Field(None, description="1–12, required for a lunar date")
    lunar_day: int | None = Field(None, description="1–30, required for a lunar date")
    lunar_leap: bool = False


class TestimonialIn(_In):
    text: str = Field(..., min_length=1)
    product_id: int | None = None
    consent_given: bool


class TestimonialConsentIn(_In):
    consent_given: bool


class ReassignIn(_In):
    from_user_id: int
    to_user_id: int
    customer_ids: list[int] | None = Field(
        None, description="Only these customers (all must be movable, else nothing moves); omit for all"
    )


# ---------------------------------------------------------------- output schemas


class CustomerListItem(Schema):
    id: int
    kind: str
    name: str
    phone: str
    owner_id: int | None
    owner_name: str
    store_id: int | None
    store_name: str
    status: str
    tier: str
    customer_type: str
    source: str
    updated_at: dt.datetime
    version: int

    @staticmethod
    def resolve_phone(obj: Customer, context: dict[str, Any] | None) -> str:
        return _shown_phone(context, obj.phone)

    @staticmethod
    def resolve_owner_name(obj: Customer) -> str:
        return obj.owner.label if obj.owner else ""

    @staticmethod
    def resolve_store_name(obj: Customer) -> str:
        return obj.store.name if obj.store else ""


class CustomerListOut(Schema):
    items: list[CustomerListItem]
    page: int
    size: int
    has_next: bool
    total: int
    total_capped: bool = Field(description="True when there are more than ``total`` matches")


class CustomerOut(CustomerListItem):
    gender: str
    company: str
    title: str
    other_phones: list[str]
    wechat: str
    email: str
    province: str
    city: str
    address: str
    latitude: Decimal | None
    longitude: Decimal | None
    birthday: dt.date | None
    birthday_calendar: str
    birthday_lunar_month: int | None
    birthday_lunar_day: int | None
    birthday_lunar_leap: bool
    personality: str
    preferences: str
    special_needs: str
    form_family: str
    form_occupation: str
    form_recreation: str
    form_money: str
    source_detail: str
    referred_by_id: int | None
    lost_reason: str
    external_id: str | None
    tags: list[str]
    created_at: dt.datetime

    @staticmethod
    def resolve_tags(obj: Customer) -> list[str]:
        return sorted(t.name for t in obj.tags.all())

    @staticmethod
    def resolve_other_phones(obj: Customer, context: dict[str, Any] | None) -> list[str]:
        return [_shown_phone(context, p.number) for p in obj.phones.all()]


class OwnedProductOut(Schema):
    id: int
    product_id: int | None
    description: str
    vin: str | None
    plate: str
    delivered_on: dt.date | None
    mileage_km: int | None
    mileage_on: dt.date | None
    insurance_expires_on: dt.date | None
    usage: str
    active: bool
    external_id: str | None


class PurchaseLineOut(Schema):
    product_id: int | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


class PurchaseOut(Schema):
    id: int
    ordered_on: dt.date
    kind: str
    amount: Decimal
    margin: Decimal
    payment_due_on: dt.date | None
    paid_amount: Decimal
    paid_on: dt.date | None
    promised_on: dt.date | None
    shipped_on: dt.date | None
    arrives_on: dt.date | None
    note: str
    store_id: int | None
    rep_id: int | None
    external_id: str | None
    lines: list[PurchaseLineOut] = Field(default_factory=list)

    @staticmethod
    def resolve_lines(obj: Purchase) -> list[Any]:
        return list(obj.lines.all())


class ConsentOut(Schema):
    channel: str
    granted: bool
    source: str
    recorded_at: dt.datetime
    recorded_by_id: int | None


class ConfidentialNoteOut(Schema):
    id: int
    body: str
    author_id: int | None
    author_name: str
    created_at: dt.datetime

    @staticmethod
    def resolve_author_name(obj: Any) -> str:
        return obj.author.label if obj.author else ""


class ActivityOut(Schema):
    id: int
    kind: str
    occurred_at: dt.datetime
    user_id: int | None
    user_name: str
    subject: str
    body: str
    gift_name: str
    purchase_id: int | None

    @staticmethod
    def resolve_user_name(obj: Activity) -> str:
        return obj.user.label if obj.user else ""


class PersonalDateOut(Schema):
    id: int
    kind: str
    label: str
    calendar: str
    date: dt.date | None
    lunar_month: int | None
    lunar_day: int | None
    lunar_leap: bool


class TestimonialOut(Schema):
    id: int
    product_id: int | None
    product_name: str
    text: str
    consent_given: bool
    consent_at: dt.datetime | None
    recorded_by_id: int | None
    created_at: dt.datetime

    @staticmethod
    def resolve_product_name(obj: Testimonial) -> str:
        return obj.product.name if obj.product else ""


class Customer360Out(Schema):
    customer: CustomerOut
    owned_products: list[OwnedProductOut]
    purchases: list[PurchaseOut]
    consents: list[ConsentOut]
    confidential_notes: list[ConfidentialNoteOut] | None = Field(
        description="null when the viewer may not read confidential notes"
    )
    can_edit: bool
    personal_dates: list[PersonalDateOut]
    testimonials: list[TestimonialOut] = Field(
        description="All of the customer's testimonials; only those with consent_given may be used"
    )


class TimelineOut(Schema):
    items: list[ActivityOut]
    page: int
    size: int
    has_next: bool


class HistoryChangeOut(Schema):
    field: str
    old: Any
    new: Any


class HistoryEntryOut(Schema):
    at: dt.datetime
    user: str
    type: str = Field(description="+ created, ~ changed, - deleted")
    reason: str
    changes: list[HistoryChangeOut]


class ReassignOut(Schema):
    moved: int


# ---------------------------------------------------------------- helpers


@contextmanager
def _api_field_names() -> Iterator[None]:
    """Services name references ``owner``/``store``/``referred_by``; the API calls them ``*_id``."""
    back = {v: k for k, v in _REFS.items()} | {"to_user": "to_user_id"}
    try:
        yield
    except ValidationFailed as exc:
        raise ValidationFailed({back.get(k, k): v for k, v in exc.errors.items()}) from exc


def _resolve_refs(user: User, fields: dict[str, Any]) -> dict[str, Any]:
    """Swap ``*_id`` references for the rows they name, looked up only within the viewer's reach."""
    data = {k: v for k, v in fields.items() if k not in _REFS}
    errors: dict[str, list[str]] = {}
    for api_name, field in _REFS.items():
        if api_name not in fields:
            continue
        pk = fields[api_name]
        if pk is None:
            data[field] = None
            continue
        obj: Any
        if field == "owner":
            obj = selectors.users_in_scope(user).filter(pk=pk).first()
        elif field == "store":
            obj = selectors.stores_in_scope(user).filter(pk=pk).first()
        else:
            try:
                obj = selectors.customer_get(user, pk)
            except NotFound:
                obj = None
        if obj is None:
            errors[api_name] = [_("no such record within your reach")]
        data[field] = obj
    if errors:
        raise ValidationFailed(errors)
    return data


def _edit_allowed(user: User, customer_id: int) -> Customer:
    customer = selectors.customer_get(user, customer_id)
    if not permissions.can_edit_customer(user, customer):
        raise PermissionDenied("your role cannot edit customers")
    return customer


def _responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERROR_RESPONSES}


# ---------------------------------------------------------------- endpoints


@router.get("", response=_responses(CustomerListOut), summary="List and search customers")
def customer_list(request: AuthedRequest, filters: Query[CustomerListQuery]) -> Any:
    user = request.user
    page = selectors.customer_list(
        user,
        selectors.CustomerFilters(
            q=filters.q,
            owner_id=filters.owner_id,
            store_id=filters.store_id,
            status=filters.status or "",
            tier=filters.tier or "",
            customer_type=filters.customer_type or "",
            source=filters.source or "",
            kind=filters.kind or "",
            sort=filters.sort,
        ),
        page=filters.page,
        size=filters.size,
    )
    return page_out(page)


@router.post("", response=_responses(CustomerOut, 201), summary="Create a customer")
def customer_create(request: AuthedRequest, payload: CustomerCreateIn) -> Any:
    user = request.user
    # Before resolving references, so a role that cannot create learns nothing about other ids.
    if user.role not in permissions.WRITE_ROLES:
        raise PermissionDenied("your role cannot create customers")
    fields = payload.model_dump(exclude_unset=True)
    tags = fields.pop("tags", [])
    with _api_field_names():
        customer = services.customer_create(actor=user, data=_resolve_refs(user, fields), tags=tags)
    return Status(201, customer)


@router.post("/reassign", response=_responses(ReassignOut), summary="Move customers to another rep")
def customers_reassign(request: AuthedRequest, payload: ReassignIn) -> Any:
    wanted = set(payload.customer_ids) if payload.customer_ids is not None else None
    # All or nothing: a list naming a customer that cannot be moved (not visible, not owned by
    # from_user) moves none, and does not say which one was the problem.
    with transaction.atomic(), _api_field_names():
        moved = services.customers_reassign(
            actor=request.user,
            from_user_id=payload.from_user_id,
            to_user_id=payload.to_user_id,
            customer_ids=sorted(wanted) if wanted is not None else None,
        )
        if wanted is not None and moved != len(wanted):
            raise NotFound("customer")
    return ReassignOut(moved=moved)


@router.get("/{int:customer_id}", response=_responses(Customer360Out), summary="Customer 360")
def customer_detail(request: AuthedRequest, customer_id: int) -> Any:
    data = selectors.customer_360(request.user, customer_id, timeline_limit=0)
    return {
        "customer": data.customer,
        "owned_products": data.owned_products,
        "purchases": data.purchases,
        "consents": [c for _channel, c in sorted(data.consents.items())],
        "confidential_notes": data.confidential_notes,
        "can_edit": data.can_edit,
        "personal_dates": data.personal_dates,
        "testimonials": data.testimonials,
    }


@router.patch("/{int:customer_id}", response=_responses(CustomerOut), summary="Change a customer")
def customer_update(request: AuthedRequest, customer_id: int, payload: CustomerPatchIn) -> Any:
    user = request.user
    # The target first: someone else's customer is a 404 whatever references the body names.
    _edit_allowed(user, customer_id)
    fields = payload.model_dump(exclude_unset=True)
    version = fields.pop("version")
    with _api_field_names():
        customer = services.customer_update(
            actor=user, customer_id=customer_id, data=_resolve_refs(user, fields), version=version
        )
    return customer


@router.get("/{int:customer_id}/timeline", response=_responses(TimelineOut), summary="Timeline of touches")
def customer_timeline(request: AuthedRequest, customer_id: int, filters: Query[TimelineQuery]) -> Any:
    page = selectors.customer_timeline(
        request.user, customer_id, page=filters.page, size=filters.size, kind=filters.kind or ""
    )
    return {"items": page.items, "page": page.number, "size": page.size, "has_next": page.has_next}


@router.post("/{int:customer_id}/activities", response=_responses(ActivityOut, 201), summary="Log a touch")
def activity_create(request: AuthedRequest, customer_id: int, payload: ActivityIn) -> Any:
    if not permissions.can_log_activity(request.user):
        raise PermissionDenied("your role cannot log activities")
    activity = services.activity_log(actor=request.user, customer_id=customer_id, **payload.model_dump())
    return Status(201, activity)


@router.get("/{int:customer_id}/history", response=_responses(list[HistoryEntryOut]), summary="Audit history")
def customer_history(request: AuthedRequest, customer_id: int) -> Any:
    return selectors.customer_history(request.user, customer_id)


@router.post(
    "/{int:customer_id}/consents", response=_responses(ConsentOut), summary="Record consent or opt-out"
)
def consent_set(request: AuthedRequest, customer_id: int, payload: ConsentIn) -> Any:
    customer = selectors.customer_get(request.user, customer_id)  # the service checks who may grant
    consent = services.consent_set(actor=request.user, customer=customer, **payload.model_dump())
    return consent


@router.post(
    "/{int:customer_id}/owned-products",
    response=_responses(OwnedProductOut, 201),
    summary="Add a product the customer owns",
)
def owned_product_create(request: AuthedRequest, customer_id: int, payload: OwnedProductIn) -> Any:
    item = services.owned_product_add(
        actor=request.user, customer_id=customer_id, data=payload.model_dump(exclude_unset=True)
    )
    return Status(201, item)


@router.post(
    "/{int:customer_id}/purchases", response=_responses(PurchaseOut, 201), summary="Record a purchase"
)
def purchase_create(request: AuthedRequest, customer_id: int, payload: PurchaseIn) -> Any:
    purchase = services.purchase_add(
        actor=request.user, customer_id=customer_id, data=payload.model_dump(exclude_unset=True)
    )
    return Status(201, purchase)


@router.post(
    "/{int:customer_id}/confidential-notes",
    response=_responses(ConfidentialNoteOut, 201),
    summary="Add a confidential note",
)
def confidential_note_create(request: AuthedRequest, customer_id: int, payload: ConfidentialNoteIn) -> Any:
    note = services.confidential_note_add(actor=request.user, customer_id=customer_id, body=payload.body)
    return Status(201, note)


@router.post(
    "/{int:customer_id}/personal-dates",
    response=_responses(PersonalDateOut, 201),
    summary="Add a personal date (wedding, child's birthday, …)",
)
def personal_date_create(request: AuthedRequest, customer_id: int, payload: PersonalDateIn) -> Any:
    item = services.personal_date_add(actor=request.user, customer_id=customer_id, **payload.model_dump())
    return Status(201, item)


@router.delete(
    "/{int:customer_id}/personal-dates/{int:date_id}",
    response=_responses(None, 204),
    summary="Remove a personal date",
)
def personal_date_delete(request: AuthedRequest, customer_id: int, date_id: int) -> Any:
    services.personal_date_remove(actor=request.user, date_id=date_id, customer_id=customer_id)
    return Status(204, None)


@router.post(
    "/{int:customer_id}/testimonials",
    response=_responses(TestimonialOut, 201),
    summary="Record a testimonial",
)
def testimonial_create(request: AuthedRequest, customer_id: int, payload: TestimonialIn) -> Any:
    testimonial = services.testimonial_add(
        actor=request.user, customer_id=customer_id, **payload.model_dump()
    )
    return Status(201, testimonial)


@router.post(
    "/{int:customer_id}/testimonials/{int:testimonial_id}/consent",
    response=_responses(TestimonialOut),
    summary="Give or withdraw consent to use a testimonial",
)
def testimonial_consent(
    request: AuthedRequest, customer_id: int, testimonial_id: int, payload: TestimonialConsentIn
) -> Any:
    return services.testimonial_set_consent(
        actor=request.user,
        testimonial_id=testimonial_id,
        consent_given=payload.consent_given,
        customer_id=customer_id,
    )
