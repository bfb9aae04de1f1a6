"""Duplicate customers: finding them (selectors) and merging them (service).

Finding: one GROUP BY ... HAVING COUNT > 1 per reason, ordered along an index (``Customer.phone``
and ``CustomerPhone.number``, ``(name, birthday)``, ``(plate, customer)`` on owned products) and cut
by LIMIT, so PostgreSQL streams the index and stops after one page of groups. Reasons are shown one
at a time: a UNION of all three has to group the whole archive before its first row (17 s at 1M
customers on PostgreSQL, against ~25 ms a page for plates or name + birthday and ~300 ms for
phones, most of it checking 50k further numbers). Members are then fetched for that page only.
Paging far past the last group of a sparse scope still reads the whole scope (seconds at 1M).

Same VIN is not a reason of its own: ``owned_vin_unique`` makes one VIN belong to one customer per
organisation, and the services store VINs upper-cased, so the same vehicle recorded on two customers
shows up as the same (normalised) plate instead.

Merging keeps both rows: the merged customer gets ``merged_into`` and disappears from every list
(``selectors.customer_queryset``) while its audit history stays where it is.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import (
    Count,
    Exists,
    Model,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.core.pagination import MAX_PAGE_SIZE, Page

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
from .services import search_keys_rebuild

if TYPE_CHECKING:
    from huitou.accounts.models import User

REASON_PHONE = "phone"
REASON_PLATE = "plate"
REASON_NAME_BIRTHDAY = "name_birthday"
REASONS = (REASON_PHONE, REASON_PLATE, REASON_NAME_BIRTHDAY)


def can_merge(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in {permissions.OWNER, permissions.MANAGER}


def _candidates(viewer: User) -> QuerySet[Customer]:
    """Customers that may be reported as duplicates: in scope, not erased, not merged already."""
    from .selectors import customer_queryset

    return customer_queryset(viewer)


# ---------------------------------------------------------------------------------------------
# Finding duplicates
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateMember:
    id: int
    name: str
    phone: str  # as the viewer may see it
    birthday: dt.date | None
    owner: str
    store: str
    created_at: dt.datetime


@dataclass(frozen=True)
class DuplicateGroup:
    reason: str
    key: str  # the shared phone (as the viewer may see it), plate, or name
    day: dt.date | None  # the shared birthday for name + birthday groups
    members: list[DuplicateMember]

    @property
    def keep_id(self) -> int:
        # The oldest record is the default survivor: it usually carries the longest history.
        return min(m.id for m in self.members)

    @property
    def merge_ids(self) -> list[int]:
        return sorted(m.id for m in self.members if m.id != self.keep_id)


def _phone_keys(viewer: User, limit: int) -> list[str]:
    """The first ``limit`` shared numbers, in order: primary numbers held twice, merged with further
    numbers that any other candidate holds (as primary or further number)."""
    base = _candidates(viewer)
    primary = (
        base.exclude(phone="")
        .values("phone")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("phone")
        .values_list("phone", flat=True)
    )
    in_scope = CustomerPhone.objects.filter(customer__in=base.values("pk"))
    held_elsewhere = Q(Exists(base.filter(phone=OuterRef("number")).exclude(pk=OuterRef("customer_id")))) | Q(
        Exists(in_scope.filter(number=OuterRef("number")).exclude(customer_id=OuterRef("customer_id")))
    )
    further = in_scope.filter(held_elsewhere).order_by("number").values_list("number", flat=True).distinct()
    # Two sorted streams cut at ``limit`` each: their merged first ``limit`` keys are exact.
    return sorted({*primary[:limit], *further[:limit]})[:limit]


def _plate_keys(viewer: User, offset: int, limit: int) -> list[str]:
    # Sold vehicles (active=False) may legitimately reappear under their next owner.
    qs = (
        OwnedProduct.objects.filter(customer__in=_candidates(viewer).values("pk"), active=True)
        .exclude(plate="")
        .values("plate")
        .annotate(n=Count("customer_id", distinct=True))
        .filter(n__gt=1)
        .order_by("plate")
        .values_list("plate", flat=True)
    )
    return list(qs[offset:limit])


def _name_birthday_keys(viewer: User, offset: int, limit: int) -> list[tuple[str, dt.date | None]]:
    qs = (
        _candidates(viewer)
        .filter(birthday__isnull=False)
        .values("name", "birthday")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("name", "birthday")
        .values_list("name", "birthday")
    )
    return list(qs[offset:limit])


def duplicate_groups(
    viewer: User, *, page: int = 1, size: int = 20, reason: str = REASON_PHONE
) -> Page[DuplicateGroup]:
    """Groups of customers in the viewer's scope that look like the same person, for one reason.

    Each reason is its own ordered GROUP BY ... HAVING on an index, cut by LIMIT, so the database
    stops after the page's groups instead of grouping the whole archive (and there is no total:
    counting every group would cost exactly that).
    """
    page = max(1, int(page or 1))
    size = max(1, min(int(size or 20), MAX_PAGE_SIZE))
    empty: Page[DuplicateGroup] = Page(
        items=[], number=page, size=size, has_next=False, total=0, total_capped=False
    )
    if not can_merge(viewer) or reason not in REASONS or viewer.organisation is None:
        return empty
    offset, limit = (page - 1) * size, page * size + 1
    rows: list[tuple[str, str, dt.date | None]]
    if reason == REASON_PHONE:
        rows = [(REASON_PHONE, k, None) for k in _phone_keys(viewer, limit)[offset:]]
    elif reason == REASON_PLATE:
        rows = [(REASON_PLATE, k, None) for k in _plate_keys(viewer, offset, limit)]
    else:
        if not viewer.organisation.policy.archive.duplicate_match_name_birthday:
            return empty
        rows = [(REASON_NAME_BIRTHDAY, n, d) for n, d in _name_birthday_keys(viewer, offset, limit)]
    return Page(
        items=_fill_members(viewer, rows[:size]),
        number=page,
        size=size,
        has_next=len(rows) > size,
        total=0,
        total_capped=False,
    )


def _fill_members(viewer: User, rows: list[tuple[str, str, dt.date | None]]) -> list[DuplicateGroup]:
    if not rows:
        return []
    phones = {key for reason, key, _ in rows if reason == REASON_PHONE}
    plates = {key for reason, key, _ in rows if reason == REASON_PLATE}
    names = [(key, day) for reason, key, day in rows if reason == REASON_NAME_BIRTHDAY]
    # Holder ids first, as plain lists: an OR with a sub-select would defeat the indexes.
    holder_ids: list[int] = []
    if phones:
        holder_ids += CustomerPhone.objects.filter(number__in=phones).values_list("customer_id", flat=True)
    if plates:
        holder_ids += OwnedProduct.objects.filter(plate__in=plates, active=True).values_list(
            "customer_id", flat=True
        )
    cond = Q(pk__in=holder_ids)
    if phones:
        cond |= Q(phone__in=phones)
    for name, day in names:
        cond |= Q(name=name, birthday=day)
    customers = list(_candidates(viewer).filter(cond).select_related("owner", "store").order_by("pk"))
    ids = [c.pk for c in customers]
    extra_phones: dict[str, set[int]] = defaultdict(set)
    for cid, number in CustomerPhone.objects.filter(customer_id__in=ids, number__in=phones).values_list(
        "customer_id", "number"
    ):
        extra_phones[number].add(cid)
    plate_holders: dict[str, set[int]] = defaultdict(set)
    for cid, plate in OwnedProduct.objects.filter(
        customer_id__in=ids, plate__in=plates, active=True
    ).values_list("customer_id", "plate"):
        plate_holders[plate].add(cid)
    full = permissions.sees_full_phone(viewer)

    def member(c: Customer) -> DuplicateMember:
        return DuplicateMember(
            id=c.pk,
            name=c.name,
            phone=permissions.phone_for(viewer, c.phone, full=full) if c.phone else "",
            birthday=c.birthday,
            owner=c.owner.label if c.owner else "",
            store=c.store.name if c.store else "",
            created_at=c.created_at,
        )

    groups = []
    for reason, key, day in rows:
        if reason == REASON_PHONE:
            found = [c for c in customers if c.phone == key or c.pk in extra_phones[key]]
            shown = permissions.phone_for(viewer, key, full=full)
        elif reason == REASON_PLATE:
            found = [c for c in customers if c.pk in plate_holders[key]]
            shown = key
        else:
            found = [c for c in customers if c.name == key and c.birthday == day]
            shown = key
        groups.append(DuplicateGroup(reason=reason, key=shown, day=day, members=[member(c) for c in found]))
    return groups


# ---------------------------------------------------------------------------------------------
# What a merge will do
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeSide:
    customer: Customer
    phone: str
    purchases: int
    activities: int
    owned_products: int
    phones: int
    personal_dates: int
    testimonials: int
    confidential_notes: int | None  # None when the viewer may not read them
    consents: int
    referrals: int
    tags: list[str]


@dataclass(frozen=True)
class MergePreview:
    keep: MergeSide
    merge: list[MergeSide]


def merge_preview(viewer: User, *, keep_id: int, merge_ids: list[int]) -> MergePreview:
    """Both sides of a proposed merge with what each holds, for the confirmation page."""
    if not can_merge(viewer):
        raise PermissionDenied("only managers and the owner merge customers")
    ids = [keep_id, *[i for i in dict.fromkeys(merge_ids) if i != keep_id]]
    customers = {
        c.pk: c
        for c in _candidates(viewer)
        .filter(pk__in=ids)
        .select_related("owner", "store", "referred_by")
        .annotate(
            n_purchases=_count(Purchase),
            n_activities=_count(Activity),
            n_owned=_count(OwnedProduct),
            n_phones=_count(CustomerPhone),
            n_dates=_count(PersonalDate),
            n_testimonials=_count(Testimonial),
            n_notes=_count(ConfidentialNote),
            n_consents=_count(Consent),
            n_referrals=_count(Customer, field="referred_by"),
        )
    }
    if set(ids) - set(customers):
        raise NotFound("customer")
    tags: dict[int, list[str]] = defaultdict(list)
    for cid, tag in Customer.tags.through.objects.filter(customer_id__in=ids).values_list(
        "customer_id", "tag__name"
    ):
        tags[cid].append(tag)
    full = permissions.sees_full_phone(viewer)

    def side(c: Any) -> MergeSide:
        return MergeSide(
            customer=c,
            phone=permissions.phone_for(viewer, c.phone, full=full) if c.phone else "",
            purchases=c.n_purchases,
            activities=c.n_activities,
            owned_products=c.n_owned,
            phones=c.n_phones,
            personal_dates=c.n_dates,
            testimonials=c.n_testimonials,
            confidential_notes=c.n_notes if permissions.can_read_confidential(viewer, c) else None,
            consents=c.n_consents,
            referrals=c.n_referrals,
            tags=sorted(tags[c.pk]),
        )

    return MergePreview(keep=side(customers[keep_id]), merge=[side(customers[i]) for i in ids[1:]])


def _count(model: type[Model], field: str = "customer") -> Any:
    from django.db.models import IntegerField, Subquery
    from django.db.models.functions import Coalesce

    sub = (
        model._default_manager.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(c=Count("pk"))
        .values("c")
    )
    return Coalesce(Subquery(sub, output_field=IntegerField()), 0)


# ---------------------------------------------------------------------------------------------
# Merging
# ---------------------------------------------------------------------------------------------

# Profile fields copied from the merged customer when the kept one has them empty.
_FILL_FIELDS = (
    "gender",
    "company",
    "title",
    "wechat",
    "email",
    "province",
    "city",
    "address",
    "personality",
    "preferences",
    "special_needs",
    "form_family",
    "form_occupation",
    "form_recreation",
    "form_money",
    "source_detail",
    "tier",
    "customer_type",
    "lost_reason",
    "owner",
    "store",
)
_BIRTHDAY_FIELDS = (
    "birthday",
    "birthday_calendar",
    "birthday_lunar_month",
    "birthday_lunar_day",
    "birthday_lunar_leap",
)
# Relations moved explicitly below; any other one-to-many relation to Customer is re-pointed
# generically, so a later app's rows (tasks, leads, tickets) follow the person too.
_HANDLED = {
    Purchase,
    Activity,
    OwnedProduct,
    CustomerPhone,
    PersonalDate,
    Testimonial,
    ConfidentialNote,
    Consent,
    CustomerSearchKey,
    PrivacyRequest,  # a request made about the merged record stays a record of that request
}


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _move_with_history(
    qs: QuerySet[Any], model: type[Model], *, customer: Customer, actor: User, reason: str
) -> int:
    objs = list(qs)
    for obj in objs:
        obj.customer_id = customer.pk  # type: ignore[attr-defined]
    if objs:
        bulk_update_with_history(objs, model, ["customer"], default_user=actor, default_change_reason=reason)
    return len(objs)


def _delete_with_history(objs: Iterable[Any], *, actor: User, reason: str) -> None:
    for obj in objs:
        obj._history_user = actor
        obj._change_reason = reason
        obj.delete()


def _merge_consents(*, keep: Customer, other: Customer, actor: User, reason: str) -> None:
    """Most recent decision per channel wins; on a tie, the withdrawal wins (an opt-out is never lost)."""
    kept = {c.channel: c for c in Consent.objects.select_for_update().filter(customer=keep)}
    for theirs in Consent.objects.select_for_update().filter(customer=other).order_by("pk"):
        mine = kept.get(theirs.channel)
        if mine is None:
            _move_with_history(
                Consent.objects.filter(pk=theirs.pk), Consent, customer=keep, actor=actor, reason=reason
            )
            continue
        newer = theirs.recorded_at > mine.recorded_at or (
            theirs.recorded_at == mine.recorded_at and not theirs.granted and mine.granted
        )
        if newer:
            mine.granted = theirs.granted
            mine.source = theirs.source
            mine.recorded_at = theirs.recorded_at
            mine.recorded_by_id = theirs.recorded_by_id
            mine._history_user = actor  # type: ignore[attr-defined]
            mine._change_reason = reason  # type: ignore[attr-defined]
            mine.save(update_fields=["granted", "source", "recorded_at", "recorded_by"])
        _delete_with_history([theirs], actor=actor, reason=reason)


def _merge_phones(*, keep: Customer, other: Customer, actor: User, reason: str) -> None:
    numbers = set(CustomerPhone.objects.filter(customer=keep).values_list("number", flat=True))
    if keep.phone:
        numbers.add(keep.phone)
    if other.phone and other.phone not in numbers:
        if not keep.phone:
            keep.phone = other.phone
        else:
            extra = CustomerPhone(customer=keep, number=other.phone, label=f"#{other.pk}"[:32])
            extra._history_user = actor  # type: ignore[attr-defined]
            extra._change_reason = reason  # type: ignore[attr-defined]
            extra.save()
        numbers.add(other.phone)
    theirs = list(CustomerPhone.objects.filter(customer=other).order_by("pk"))
    duplicates = [p for p in theirs if p.number in numbers]
    _delete_with_history(duplicates, actor=actor, reason=reason)
    _move_with_history(
        CustomerPhone.objects.filter(pk__in=[p.pk for p in theirs if p.number not in numbers]),
        CustomerPhone,
        customer=keep,
        actor=actor,
        reason=reason,
    )


def _date_key(d: PersonalDate) -> tuple[Any, ...]:
    return (d.kind, d.calendar, d.date, d.lunar_month, d.lunar_day, d.lunar_leap)


def _merge_personal_dates(*, keep: Customer, other: Customer, actor: User, reason: str) -> None:
    known = {_date_key(d) for d in PersonalDate.objects.filter(customer=keep)}
    theirs = list(PersonalDate.objects.filter(customer=other).order_by("pk"))
    # The same wedding day twice would send two cards.
    _delete_with_history([d for d in theirs if _date_key(d) in known], actor=actor, reason=reason)
    _move_with_history(
        PersonalDate.objects.filter(pk__in=[d.pk for d in theirs if _date_key(d) not in known]),
        PersonalDate,
        customer=keep,
        actor=actor,
        reason=reason,
    )


def _repoint_customers(
    qs: QuerySet[Customer], field: str, target: Customer | None, *, actor: User, reason: str
) -> int:
    objs = list(qs.select_for_update().order_by("pk"))
    for obj in objs:
        setattr(obj, field, target)
        obj.version += 1
    if objs:
        bulk_update_with_history(
            objs, Customer, [field, "version"], default_user=actor, default_change_reason=reason
        )
    return len(objs)


def _repoint_other_relations(*, keep: Customer, other: Customer) -> list[str]:
    """Move rows of other apps; a unique rule that forbids a move leaves those rows on the merged
    record (still in the database, reachable through ``merged_into``) and is reported."""
    skipped = []
    for rel in Customer._meta.related_objects:
        if not rel.one_to_many or rel.related_model in _HANDLED or rel.related_model is Customer:
            continue
        model = rel.related_model
        fname = rel.field.name
        try:
            with transaction.atomic():
                model._default_manager.filter(**{fname: other}).update(**{fname: keep})  # type: ignore[union-attr]
        except IntegrityError:
            skipped.append(model._meta.label)  # type: ignore[union-attr]
    return skipped


def _merge_one(*, actor: User, keep: Customer, other: Customer, merged_ids: set[int]) -> dict[str, int]:
    reason = f"merged customer #{other.pk} ({other.name}) into #{keep.pk}"[:100]  # history column limit
    moved: dict[str, int] = {}
    moved["purchases"] = _move_with_history(
        Purchase.objects.filter(customer=other), Purchase, customer=keep, actor=actor, reason=reason
    )
    moved["activities"] = Activity.objects.filter(customer=other).update(customer=keep)
    moved["owned_products"] = _move_with_history(
        OwnedProduct.objects.filter(customer=other), OwnedProduct, customer=keep, actor=actor, reason=reason
    )
    moved["testimonials"] = _move_with_history(
        Testimonial.objects.filter(customer=other), Testimonial, customer=keep, actor=actor, reason=reason
    )
    moved["confidential_notes"] = _move_with_history(
        ConfidentialNote.objects.filter(customer=other),
        ConfidentialNote,
        customer=keep,
        actor=actor,
        reason=reason,
    )
    _merge_phones(keep=keep, other=other, actor=actor, reason=reason)
    _merge_personal_dates(keep=keep, other=other, actor=actor, reason=reason)
    _merge_consents(keep=keep, other=other, actor=actor, reason=reason)
    keep.tags.add(*other.tags.all())
    moved["referrals"] = _repoint_customers(
        Customer.objects.filter(referred_by=other).exclude(pk__in={keep.pk, *merged_ids}),
        "referred_by",
        keep,
        actor=actor,
        reason=reason,
    )
    # Records merged earlier into this one now point at the survivor: no chains to follow.
    _repoint_customers(
        Customer.objects.filter(merged_into=other), "merged_into", keep, actor=actor, reason=reason
    )
    skipped = _repoint_other_relations(keep=keep, other=other)

    # Profile: kept values win; empty ones are filled from the merged record.
    if keep.referred_by_id in {other.pk, *merged_ids}:
        keep.referred_by = None
    if (
        keep.referred_by_id is None
        and other.referred_by_id is not None
        and other.referred_by_id not in {keep.pk, *merged_ids}
    ):
        keep.referred_by_id = other.referred_by_id
    for fname in _FILL_FIELDS:
        attname = getattr(Customer._meta.get_field(fname), "attname", fname)
        if _empty(getattr(keep, attname)) and not _empty(getattr(other, attname)):
            setattr(keep, attname, getattr(other, attname))
    if (
        keep.birthday is None
        and keep.birthday_lunar_month is None
        and (other.birthday is not None or other.birthday_lunar_month is not None)
    ):
        for fname in _BIRTHDAY_FIELDS:
            setattr(keep, fname, getattr(other, fname))
    if keep.latitude is None and keep.longitude is None and other.latitude is not None:
        keep.latitude, keep.longitude = other.latitude, other.longitude
    move_external_id = keep.external_id in (None, "") and other.external_id not in (None, "")
    external_id = other.external_id

    other.merged_into = keep
    other.version += 1  # locked row; history needs a value, not an F()
    if move_external_id:
        other.external_id = None  # free it first: (organisation, external_id) is unique
    other._history_user = actor  # type: ignore[attr-defined]
    other._change_reason = f"merged into customer #{keep.pk} ({keep.name})"[:100]  # type: ignore[attr-defined]
    other.save()
    if move_external_id:
        keep.external_id = external_id
    CustomerSearchKey.objects.filter(customer=other).delete()

    counts = ", ".join(f"{k}: {v}" for k, v in moved.items())
    if skipped:
        counts += "; left on the merged record: " + ", ".join(skipped)
    now = timezone.now()
    Activity.objects.create(
        organisation_id=keep.organisation_id,
        customer=keep,
        kind=Activity.Kind.SYSTEM,
        occurred_at=now,
        user=actor,
        subject=f"Merged customer #{other.pk} ({other.name}) into this one"[:200],
        body=counts,
    )
    Activity.objects.create(
        organisation_id=other.organisation_id,
        customer=other,
        kind=Activity.Kind.SYSTEM,
        occurred_at=now,
        user=actor,
        subject=f"Merged into customer #{keep.pk} ({keep.name})"[:200],
        body=counts,
    )
    keep._change_reason = f"merged customer #{other.pk} ({other.name})"[:100]  # type: ignore[attr-defined]
    return moved


@transaction.atomic
def customer_merge(
    *, actor: User, keep_id: int, merge_ids: list[int], version: int | None = None
) -> Customer:
    """Fold ``merge_ids`` into ``keep_id``: every purchase, activity, product, contact point,
    consent, tag and referral link moves to the kept customer; the merged rows stay (marked
    ``merged_into``) with their whole audit history."""
    if not can_merge(actor):
        raise PermissionDenied("only managers and the owner merge customers")
    others = list(dict.fromkeys(int(i) for i in merge_ids))
    if not others:
        raise ValidationFailed({"merge": ["choose at least one customer to merge"]})
    if keep_id in others:
        raise ValidationFailed({"merge": ["a customer cannot be merged into itself"]})
    ids = sorted({keep_id, *others})
    # Scope without the "not merged" filter, so an already merged record is refused by name.
    scoped = Customer.objects.filter(permissions.customer_scope(actor)).exclude(status=Customer.Status.ERASED)
    # Locks taken in id order: two merges of overlapping groups cannot deadlock.
    rows = {c.pk: c for c in scoped.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")}
    if set(ids) - set(rows):
        raise NotFound("customer")
    keep = rows[keep_id]
    if any(rows[i].organisation_id != keep.organisation_id for i in others):
        raise ValidationFailed({"merge": ["customers of different organisations cannot be merged"]})
    if any(rows[i].merged_into_id is not None for i in ids):
        raise ValidationFailed({"merge": ["one of these customers has already been merged"]})
    if version is not None and version != keep.version:
        raise Conflict("this customer was changed by someone else; reload and try again")
    merged: set[int] = set(others)
    for other_id in others:
        _merge_one(actor=actor, keep=keep, other=rows[other_id], merged_ids=merged)
        keep.version += 1
        keep._history_user = actor  # type: ignore[attr-defined]
        keep.save()
        del keep._change_reason  # type: ignore[attr-defined]  # must not label a later save
        keep.refresh_from_db()
    search_keys_rebuild(customer_ids=[keep.pk])
    # The referrer summaries and the sales their referrals count toward now read merged rows.
    from huitou.referrals.services import referrals_after_merge

    referrals_after_merge(organisation_id=keep.organisation_id, keep_id=keep.pk, merged_ids=others)
    return keep


__all__ = [
    "REASONS",
    "DuplicateGroup",
    "DuplicateMember",
    "MergePreview",
    "can_merge",
    "customer_merge",
    "duplicate_groups",
    "merge_preview",
]
