"""Reads of the customer archive. Every function takes the viewer and applies their scope."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, Q, QuerySet

from huitou.accounts import permissions
from huitou.core.errors import NotFound
from huitou.core.pagination import Page, paginate
from huitou.core.phones import InvalidPhone, normalize_phone
from huitou.core.text import normalise, query_name_keys

from .models import (
    Activity,
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

SORTS = {
    "-id": ("-id",),
    "id": ("id",),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "-updated_at": ("-updated_at", "-id"),
}
# Bookkeeping fields that mean nothing to a person reading the audit trail.
HISTORY_HIDDEN_FIELDS = ["version", "created_at"]
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$", re.IGNORECASE)
# A full Chinese plate: province character, city letter, 4–6 letters or digits (粤B12345, 粤BD12345).
_PLATE = re.compile(r"^[\u4e00-\u9fff][A-Z][A-Z0-9]{4,6}$")


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    owner_id: int | None = None
    store_id: int | None = None
    status: str = ""
    tier: str = ""
    customer_type: str = ""
    source: str = ""
    kind: str = ""
    tag_id: int | None = None
    sort: str = "-id"
    extra: dict[str, Any] = field(default_factory=dict)


def customer_queryset(viewer: User) -> QuerySet[Customer]:
    return (
        Customer.objects.filter(permissions.customer_scope(viewer))
        .exclude(status=Customer.Status.ERASED)
        .filter(merged_into__isnull=True)
    )


def _any_key(keys: list[str]) -> Q:
    """Customers holding any of these search keys, as an IN-subquery: the database turns it into
    a semi-join driven by the key index. (OR-ed EXISTS clauses would be checked customer by
    customer, a full scan of the viewer's scope at 1M customers.)"""
    return Q(pk__in=CustomerSearchKey.objects.filter(key__in=keys).values("customer_id"))


def search_condition(q: str, region: str = "CN") -> Q | None:
    """Turn what a person typed into an indexed condition: phone, phone suffix, plate, VIN or name."""
    text = q.strip()
    if not text:
        return None
    compact = normalise(text)
    if compact.isdigit() and len(compact) >= 7:
        try:
            e164 = normalize_phone(compact, region)
        except InvalidPhone:
            return Q(pk__in=[])
        # Two small indexed lookups; an OR across the two tables would defeat both indexes.
        ids = set(Customer.objects.filter(phone=e164).values_list("pk", flat=True)[:1000])
        ids.update(CustomerPhone.objects.filter(number=e164).values_list("customer_id", flat=True)[:1000])
        return Q(pk__in=sorted(ids))
    if compact.isdigit() and len(compact) == 4:
        return _any_key(["p:" + compact, "c:" + compact])  # phone tail, or a plate of four digits
    if _VIN.match(compact):
        return Q(pk__in=OwnedProduct.objects.filter(vin=compact.upper()).values("customer_id"))
    upper = compact.upper()
    if compact.isascii() and compact.isalnum() and len(compact) in (5, 6):
        return _any_key(["c:" + upper, "v:" + upper[-6:]])  # plate without region letters, or VIN tail
    if _PLATE.match(upper):
        return _any_key(["c:" + upper])
    cond = Q()
    for key in query_name_keys(compact):
        cond &= _any_key([key])  # every bigram must match: one semi-join each
    # Bigrams can all occur without the whole string (张伟 伟明 has both of 张伟明's): recheck.
    return cond & Q(name__contains=text) if len(compact) > 2 else cond


# What a list row shows; loading the other ~50 columns of each row costs more than the query.
LIST_FIELDS = (
    "id",
    "name",
    "kind",
    "phone",
    "status",
    "tier",
    "city",
    "owner_id",
    "store_id",
    "owner__username",
    "owner__display_name",
    "store__name",
)


def _filtered(viewer: User, qs: QuerySet[Customer], filters: CustomerFilters) -> QuerySet[Customer]:
    region = viewer.organisation.policy.archive.default_region if viewer.organisation else "CN"
    cond = search_condition(filters.q, region)
    if cond is not None:
        qs = qs.filter(cond)
    for fname in ("owner_id", "store_id", "tag_id"):
        value = getattr(filters, fname)
        if value:
            qs = qs.filter(**({"tags__id": value} if fname == "tag_id" else {fname: value}))
    for fname in ("status", "tier", "customer_type", "source", "kind"):
        value = getattr(filters, fname)
        if value:
            qs = qs.filter(**{fname: value})
    return qs.order_by(*SORTS.get(filters.sort, SORTS["-id"]))


def _count_key(viewer: User, filters: CustomerFilters) -> str:
    # The count depends on who looks and what they filter by, not on the sort or the page.
    key_filters = dataclasses.replace(filters, sort="")
    digest = hashlib.sha256(repr(key_filters).encode()).hexdigest()[:32]
    return f"customer-count:{viewer.pk}:{digest}"


def customer_list(
    viewer: User,
    filters: CustomerFilters,
    *,
    page: int = 1,
    size: int = 50,
    fields: tuple[str, ...] | None = None,
) -> Page[Customer]:
    """A page of the customers the viewer may see; ``fields`` limits the columns loaded."""
    qs = customer_queryset(viewer).select_related("owner", "store")
    if fields:
        qs = qs.only(*fields)
    qs = _filtered(viewer, qs, filters)
    return paginate(qs, page=page, size=size, count_cache_key=_count_key(viewer, filters))


ROW_FIELDS = ("id", "name", "kind", "phone", "status", "tier", "city", "owner_id", "store_id")


def customer_list_rows(
    viewer: User, filters: CustomerFilters, *, page: int = 1, size: int = 50
) -> Page[dict[str, Any]]:
    """The list page's rows as plain dicts, with the owner's and store's names filled in.

    Building three model instances per row (customer, owner, store) was most of the list's cost
    at any table size; a page names at most a handful of reps and stores, fetched once each.
    """
    from huitou.accounts.models import Store
    from huitou.accounts.models import User as UserModel

    qs = _filtered(viewer, customer_queryset(viewer), filters).values(*ROW_FIELDS)
    result = paginate(qs, page=page, size=size, count_cache_key=_count_key(viewer, filters))
    owner_ids = {r["owner_id"] for r in result.items if r["owner_id"]}
    store_ids = {r["store_id"] for r in result.items if r["store_id"]}
    owners = (
        {
            pk: display or username
            for pk, display, username in UserModel.objects.filter(pk__in=owner_ids).values_list(
                "pk", "display_name", "username"
            )
        }
        if owner_ids
        else {}
    )
    stores = dict(Store.objects.filter(pk__in=store_ids).values_list("pk", "name")) if store_ids else {}
    for row in result.items:
        row["owner"] = owners.get(row["owner_id"], "")
        row["store"] = stores.get(row["store_id"], "")
    return result


def customer_get(viewer: User, customer_id: int) -> Customer:
    """The customer if the viewer may see it; otherwise NotFound (we never reveal which)."""
    try:
        return customer_queryset(viewer).select_related("owner", "store", "referred_by").get(pk=customer_id)
    except (Customer.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("customer") from exc


@dataclass(frozen=True)
class Customer360:
    customer: Customer
    owned_products: list[OwnedProduct]
    purchases: list[Purchase]
    activities: list[Activity]
    consents: dict[str, Consent]
    confidential_notes: list[ConfidentialNote] | None
    can_edit: bool
    full_phone: bool
    personal_dates: list[PersonalDate]
    testimonials: list[Testimonial]


def customer_360(viewer: User, customer_id: int, *, timeline_limit: int = 50) -> Customer360:
    customer = customer_get(viewer, customer_id)
    confidential = None
    if permissions.can_read_confidential(viewer, customer):
        confidential = list(customer.confidential_notes.select_related("author").order_by("-created_at"))
    return Customer360(
        customer=customer,
        owned_products=list(
            customer.owned_products.select_related("product").order_by("-delivered_on", "-id")
        ),
        purchases=list(
            customer.purchases.select_related("store", "rep")
            .prefetch_related(Prefetch("lines"))
            .order_by("-ordered_on", "-id")[:100]
        ),
        activities=list(
            customer.activities.select_related("user").order_by("-occurred_at", "-id")[:timeline_limit]
        ),
        consents={c.channel: c for c in customer.consents.all()},
        confidential_notes=confidential,
        can_edit=permissions.can_edit_customer(viewer, customer),
        full_phone=permissions.sees_full_phone(viewer),
        personal_dates=list(customer.personal_dates.order_by("kind", "id")),
        testimonials=list(
            customer.testimonials.select_related("product", "recorded_by").order_by("-created_at", "-id")
        ),
    )


def customer_history(viewer: User, customer_id: int, *, limit: int = 100) -> list[dict[str, Any]]:
    """Audit trail of the customer record: who changed what, from what, to what."""
    customer = customer_get(viewer, customer_id)
    records = list(
        customer.history.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1]
    )
    full_phone = permissions.sees_full_phone(viewer)
    out: list[dict[str, Any]] = []
    for newer, older in zip(records, [*records[1:], None], strict=False):
        if len(out) >= limit:
            break
        changes = []
        if older is not None:
            delta = newer.diff_against(older, excluded_fields=HISTORY_HIDDEN_FIELDS)
            for ch in delta.changes:
                old, new = ch.old, ch.new
                if ch.field == "phone" and not full_phone:
                    old, new = (
                        permissions.phone_for(viewer, old or "", full=False),
                        permissions.phone_for(viewer, new or "", full=False),
                    )
                changes.append({"field": ch.field, "old": old, "new": new})
        out.append(
            {
                "at": newer.history_date,
                "user": newer.history_user.label if newer.history_user else "",
                "type": newer.history_type,  # + created, ~ changed, - deleted
                "reason": newer.history_change_reason or "",
                "changes": changes,
            }
        )
    return out


def users_in_scope(viewer: User) -> QuerySet:
    """Reps the viewer may assign customers to or filter by."""
    from huitou.accounts.models import User as UserModel

    qs = UserModel.objects.filter(
        organisation_id=permissions.org_id(viewer), is_active=True, left_at__isnull=True
    )
    if viewer.role == permissions.OWNER:
        return qs.filter(role__in=[permissions.REP, permissions.MANAGER])
    if viewer.role == permissions.MANAGER:
        return qs.filter(Q(store_id=viewer.store_id) | Q(team__manager_id=viewer.pk)).filter(
            role__in=[permissions.REP, permissions.MANAGER]
        )
    return qs.filter(pk=viewer.pk)


def reassign_sources(viewer: User) -> QuerySet:
    """People whose customers the viewer may move away, including reps who have left."""
    from huitou.accounts.models import User as UserModel

    if not permissions.can_reassign(viewer):
        return UserModel.objects.none()
    qs = UserModel.objects.filter(
        organisation_id=permissions.org_id(viewer), role__in=[permissions.REP, permissions.MANAGER]
    )
    if viewer.role == permissions.MANAGER:
        qs = qs.filter(Q(store_id=viewer.store_id) | Q(team__manager_id=viewer.pk))
    return qs.order_by("left_at", "username")


def stores_in_scope(viewer: User) -> QuerySet:
    """Stores of the viewer's organisation, for filters and forms."""
    from huitou.accounts.models import Store

    if not permissions.is_active_member(viewer):
        return Store.objects.none()
    return Store.objects.filter(organisation_id=permissions.org_id(viewer)).order_by("code")


def customer_timeline(
    viewer: User, customer_id: int, *, page: int = 1, size: int = 50, kind: str = ""
) -> Page[Activity]:
    """The customer's touches, newest first, one page at a time (no count: timelines only grow)."""
    customer = customer_get(viewer, customer_id)
    qs = customer.activities.select_related("user").order_by("-occurred_at", "-id")
    if kind:
        qs = qs.filter(kind=kind)
    return paginate(qs, page=page, size=size, count=False)


def testimonials_for_product(
    viewer: User, product_id: int, *, consented_only: bool = True
) -> list[Testimonial]:
    """Testimonials about one product from customers the viewer may see, newest first.

    ``consented_only`` stays on for anything shown outside the customer's own page (the case
    book): a testimonial whose consent was withdrawn must not be used.
    """
    qs = Testimonial.objects.filter(product_id=product_id, customer__in=customer_queryset(viewer))
    if consented_only:
        qs = qs.filter(consent_given=True)
    return list(qs.select_related("customer", "product").order_by("-created_at", "-id"))


def products_for_org(viewer: User, *, limit: int = 200) -> list[Product]:
    """Active products of the viewer's catalogue, by name, for pick lists."""
    if not permissions.is_active_member(viewer):
        return []
    qs = Product.objects.filter(organisation_id=permissions.org_id(viewer), active=True)
    return list(qs.order_by("name", "id")[:limit])


def customer_pick(viewer: User, q: str, *, limit: int = 10) -> list[dict[str, Any]]:
    """Pickers of other apps' forms: customers in scope matching what was typed (a short number is
    a customer number), with the phone as this viewer may see it."""
    q = q.strip()[:64]
    found: list[dict[str, Any]] = []
    if not q:
        return found
    if q.isdigit() and len(q) < 7:
        try:
            c = customer_get(viewer, int(q))
            found = [{"id": c.pk, "name": c.name, "phone": c.phone}]
        except NotFound:
            found = []
    if not found:
        page = customer_list_rows(viewer, CustomerFilters(q=q), page=1, size=limit)
        found = [{"id": r["id"], "name": r["name"], "phone": r.get("phone", "")} for r in page.items]
    full = permissions.sees_full_phone(viewer)
    for r in found:
        r["phone"] = permissions.phone_for(viewer, r["phone"], full=full) if r["phone"] else ""
    return found
