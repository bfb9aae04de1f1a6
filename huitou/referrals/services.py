"""The lead pipeline of the referral system (一拓一, DOMAIN §5): capture, audit, work, win, review.

Writes first, then the reads of the pipeline pages (a section at the end, each on
``referral_queryset``).

Every change of a referral is one transaction that locks the row (``select_for_update``), checks
the optimistic ``version`` when the caller sends one, and writes one ``ReferralEvent``. Who may do
what (common brief, "Roles"):

- submit: every role, for a referrer in their customer scope; the public form with a signed link;
- phone audit (电话稽核): DCRC agents, managers and the owner, never the lead's own rep;
- work the lead (contact, quote, convert, win, lose): the lead's rep, a manager in scope, the owner;
- fraud review: managers in scope and the owner.

A referral outside the caller's scope is ``NotFound`` (404); a role that may never act is
``PermissionDenied`` (403); a move the stage does not allow is ``Conflict`` (409).

"First valid referral wins": a person (phone) has one live claim per organisation, held by the
partial unique constraint ``referral_one_live_claim_per_phone``. A later referral is stored with
``duplicate_of`` pointing at that claim. It can be approved (and won) only once the first claim is
out of the way: rejected, or lost. When the first claim was rejected, the approved one takes over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import phonenumbers
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from huitou.accounts import permissions
from huitou.accounts.permissions import DCRC, MANAGER, OWNER, REP
from huitou.core.errors import Conflict, HuitouError, NotFound, PermissionDenied, ValidationFailed
from huitou.core.pagination import COUNT_CACHE_SECONDS, COUNT_CAP, Page, paginate
from huitou.core.phones import InvalidPhone, normalize_phone
from huitou.customers.models import Customer, CustomerPhone, Product, Purchase

from . import fraud, links, stats
from .models import (
    OPEN_STAGES,
    AuditOutcome,
    Channel,
    Flag,
    Referral,
    ReferralEvent,
    ReferralLink,
    Relation,
    Review,
    Reward,
    Stage,
)
from .selectors import referral_card_queryset, referral_queryset, referral_scope_parts

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User
    from huitou.followups.models import Message

AUDIT_ROLES = frozenset({DCRC, MANAGER, OWNER})
REVIEW_ROLES = frozenset({MANAGER, OWNER})
# Stages in which the rep works a verified lead; a win is possible from each of them.
WORKING_STAGES = (Stage.VERIFIED, Stage.CONTACTED, Stage.QUOTED)
COUNTING_REVIEWS = (Review.NONE, Review.APPROVED)
ADVANCE_FROM: dict[str, tuple[str, ...]] = {
    Stage.CONTACTED: (Stage.VERIFIED,),
    Stage.QUOTED: (Stage.VERIFIED, Stage.CONTACTED),
}
# Channels people choose; the self-service channel belongs to the public form and its link.
STAFF_CHANNELS = tuple(c for c in Channel.values if c != Channel.SELF_SERVICE)
BULK_CHANNELS = (Channel.EVENT, Channel.CLUB)
MAX_BULK_ROWS = 500
RATE_WINDOW = dt.timedelta(hours=1)

# Messages of the services: English source strings, translated where they are shown.
ALREADY_REFERRED = "This referrer has already referred this person."
FIRST_WINS = (
    "Someone else referred this person first and that referral is still open (or won): "
    "the first valid referral wins."
)
AUDIT_FIRST = "The phone audit comes first: this referral is not verified yet."
CLOSED = "This referral is already closed."


class RateLimited(HuitouError):
    """Too many submissions through one self-service link in the last hour."""


# ---------------------------------------------------------------------------------------------
# Who may do what (the pages use these to show only the forms that will work)


def can_audit(user: User, referral: Referral) -> bool:
    """DCRC, managers and the owner — but never the rep who works the lead (independence)."""
    return user.role in AUDIT_ROLES and referral.rep_id != user.pk


def can_work(user: User, referral: Referral) -> bool:
    """Assumes ``referral`` came through ``referral_queryset(user)``."""
    if user.role in (OWNER, MANAGER):
        return True
    return user.role == REP and referral.rep_id == user.pk


def can_review(user: User) -> bool:
    return user.role in REVIEW_ROLES


def _require_auditor(actor: User, referral: Referral) -> None:
    if referral.rep_id == actor.pk:
        raise PermissionDenied("the rep who works a lead cannot audit it: someone independent calls")
    if actor.role not in AUDIT_ROLES:
        raise PermissionDenied("only DCRC agents, managers and the owner audit referrals")


def _require_worker(actor: User, referral: Referral) -> None:
    if not can_work(actor, referral):
        raise PermissionDenied("only the lead's rep, a manager or the owner works a lead")


# ---------------------------------------------------------------------------------------------
# Helpers


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def _locked(actor: User, referral_id: int) -> Referral:
    """The referral, locked, if the actor may see it; NotFound otherwise (we never say which)."""
    try:
        return referral_queryset(actor).select_for_update(of=("self",)).get(pk=referral_id)
    except (Referral.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("referral") from exc


def _check_version(referral: Referral, version: int | None) -> None:
    if version is not None and version != referral.version:
        raise Conflict("this referral was changed by someone else; reload it and try again")


def _save(referral: Referral, fields: list[str]) -> None:
    # The row is locked, so a plain increment is safe.
    referral.version += 1
    referral.save(update_fields=[*dict.fromkeys(fields), "version"])


def _event(
    referral: Referral,
    *,
    actor: User | None,
    action: str,
    from_stage: str,
    to_stage: str,
    at: dt.datetime,
    note: str = "",
) -> ReferralEvent:
    organisation_id = int(referral.organisation_id)
    transaction.on_commit(lambda: _counts_changed(organisation_id))
    # Every change of a referral has its event: the referrer's summary follows in the same
    # transaction (see ``stats``).
    stats.referrer_stats_refresh(organisation_id=organisation_id, referrer_ids=[int(referral.referrer_id)])
    return ReferralEvent.objects.create(
        referral=referral,
        at=at,
        actor=actor,
        action=action,
        from_stage=from_stage,
        to_stage=to_stage,
        note=note.strip(),
    )


def _generation_key(organisation_id: int) -> str:
    return f"referral-generation:{organisation_id}"


def _counts_changed(organisation_id: int) -> None:
    """Every change moves the organisation's generation on, so cached list counts (keyed by it)
    are never older than the last change."""
    key = _generation_key(organisation_id)
    try:
        cache.incr(key)
    except ValueError:
        cache.add(key, 1, timeout=None)


def _mobile(raw: str, region: str) -> str:
    """The number in E.164 if it is a mobile number (what a DCRC agent can call and text)."""
    e164 = normalize_phone(raw, region)
    if e164.startswith("+861") and len(e164) == 14:
        return e164  # a Chinese mobile number, checked by number block in normalize_phone
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise InvalidPhone("not a mobile number")
    return e164


_LIMITS = {"name": 120, "wechat": 64, "city": 32, "interest": 200, "event_name": 120}


def _clean_person(
    *,
    region: str,
    organisation_id: int,
    name: str,
    phone: str,
    relation: str,
    interest: str,
    product: Product | None,
    wechat: str,
    city: str,
    channel: str,
    event_name: str,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {
        "name": (name or "").strip(),
        "wechat": (wechat or "").strip(),
        "city": (city or "").strip(),
        "interest": (interest or "").strip(),
        "event_name": (event_name or "").strip(),
    }
    if not data["name"]:
        errors["name"] = ["Enter the name of the person referred."]
    for key, limit in _LIMITS.items():
        if len(data[key]) > limit and key not in errors:
            errors[key] = ["This is too long."]
    if not (phone or "").strip():
        errors["phone"] = ["Enter the mobile phone number of the person referred."]
    else:
        try:
            data["phone"] = _mobile(phone, region)
        except InvalidPhone:
            errors["phone"] = ["This is not a valid mobile phone number."]
    if relation not in Relation.values:
        errors["relation"] = ["Choose how they know the referrer."]
    if channel not in Channel.values:
        errors["channel"] = ["Unknown channel."]
    if product is not None and product.organisation_id != organisation_id:
        errors["product"] = ["Unknown product."]
    if errors:
        raise ValidationFailed(errors)
    data["relation"] = relation
    return data


def _in_customer_scope(actor: User, customer_id: int) -> bool:
    from huitou.customers.selectors import customer_queryset

    return customer_queryset(actor).filter(pk=customer_id).exists()


def _blocking_claim(referral: Referral) -> int | None:
    """The first claim on this person if it still stands in the way (open or won)."""
    if referral.duplicate_of_id is None:
        return None
    stage = Referral.objects.filter(pk=referral.duplicate_of_id).values_list("stage", flat=True).first()
    if stage is None or stage in (Stage.REJECTED, Stage.LOST):
        return None
    return referral.duplicate_of_id


# ---------------------------------------------------------------------------------------------
# Capture


def _check_link_rate(link: ReferralLink, *, limit: int, now: dt.datetime) -> None:
    recent = Referral.objects.filter(
        referrer_id=link.referrer_id, channel=Channel.SELF_SERVICE, submitted_at__gt=now - RATE_WINDOW
    ).count()
    if recent >= limit:
        raise RateLimited("too many referrals through this link in the last hour")


def _insert(referral: Referral, found: fraud.Findings, *, flag_duplicate: bool) -> None:
    """Insert the referral; if another claim on the person won the race, insert it as a duplicate."""
    try:
        with transaction.atomic():
            referral.save(force_insert=True)
        return
    except IntegrityError:
        referral.pk = None
    if Referral.objects.filter(referrer_id=referral.referrer_id, phone=referral.phone).exists():
        raise ValidationFailed({"phone": [ALREADY_REFERRED]})
    winner = fraud.live_claim_id(organisation_id=referral.organisation_id, phone=referral.phone)
    if winner is None or referral.duplicate_of_id is not None:
        raise IntegrityError("referral could not be stored")  # neither constraint explains it
    referral.duplicate_of_id = winner
    if flag_duplicate:
        found.add(Flag.DUPLICATE)
    referral.flags = list(found.flags)
    referral.review = Review.PENDING if found.flags else Review.NONE
    try:
        with transaction.atomic():
            referral.save(force_insert=True)
    except IntegrityError as exc:
        referral.pk = None
        if Referral.objects.filter(referrer_id=referral.referrer_id, phone=referral.phone).exists():
            raise ValidationFailed({"phone": [ALREADY_REFERRED]}) from exc
        raise


@transaction.atomic
def referral_submit(
    *,
    actor: User | None,
    referrer: Customer,
    name: str,
    phone: str,
    relation: str,
    interest: str = "",
    product: Product | None = None,
    wechat: str = "",
    city: str = "",
    note: str = "",
    channel: str,
    event_name: str = "",
    link: ReferralLink | None = None,
    now: dt.datetime | None = None,
) -> Referral:
    """Record one referred person as a lead of ``referrer``.

    ``actor`` is None only for the public form, which passes the referrer's ``link``. The fraud
    rules of the policy flag the referral for review instead of refusing it; the only refusal is
    the same referrer entering the same person twice.
    """
    now = _now(now)
    if actor is None:
        if link is None or link.referrer_id != referrer.pk:
            raise PermissionDenied("a referral needs a signed-in user or the referrer's own link")
        if channel != Channel.SELF_SERVICE:
            raise ValidationFailed({"channel": ["Unknown channel."]})
    else:
        if not _in_customer_scope(actor, referrer.pk):
            raise NotFound("customer")
        if channel == Channel.SELF_SERVICE:
            raise ValidationFailed({"channel": ["Unknown channel."]})
    if referrer.merged_into_id is not None or referrer.status == Customer.Status.ERASED:
        raise NotFound("customer")
    org_policy = referrer.organisation.policy
    policy = org_policy.referrals
    data = _clean_person(
        region=org_policy.archive.default_region,
        organisation_id=int(referrer.organisation_id),
        name=name,
        phone=phone,
        relation=relation,
        interest=interest,
        product=product,
        wechat=wechat,
        city=city,
        channel=channel,
        event_name=event_name,
    )
    if link is not None:
        _check_link_rate(link, limit=policy.link_max_per_hour, now=now)
    if Referral.objects.filter(referrer_id=referrer.pk, phone=data["phone"]).exists():
        raise ValidationFailed({"phone": [ALREADY_REFERRED]})
    found = fraud.assess(policy=policy, referrer=referrer, phone=data["phone"], now=now)
    referral = Referral(
        organisation_id=referrer.organisation_id,
        referrer=referrer,
        **data,
        product=product,
        note=(note or "").strip(),
        channel=channel,
        customer_id=found.customer_id,
        store_id=referrer.store_id,
        rep_id=referrer.owner_id,
        submitted_at=now,
        submitted_by=actor,
        sale_day=stats.sale_day_of(referrer_id=referrer.pk, on=timezone.localdate(now)),
        flags=list(found.flags),
        duplicate_of_id=found.duplicate_of,
        review=Review.PENDING if found.flags else Review.NONE,
    )
    _insert(referral, found, flag_duplicate=policy.flag_duplicate)
    _event(referral, actor=actor, action="submit", from_stage="", to_stage=Stage.SUBMITTED, at=now)
    if link is not None:
        ReferralLink.objects.filter(pk=link.pk).update(submissions=F("submissions") + 1)
    return referral


def referrals_follow_reassignment(
    *, organisation_id: int, customer_ids: list[int], rep_id: int, store_id: int | None
) -> int:
    """The OPEN referrals of reassigned customers move to their new rep (and store, when the new
    rep has one); closed ones (won, lost, rejected) keep the rep and store that earned them.
    Called by ``customers_reassign`` inside its transaction. One UPDATE on ``ref_referrer_idx``."""
    if not customer_ids:
        return 0
    changes: dict[str, Any] = {"rep_id": rep_id, "version": F("version") + 1}
    if store_id is not None:
        changes["store_id"] = store_id
    moved = Referral.objects.filter(
        organisation_id=organisation_id, referrer_id__in=customer_ids, stage__in=OPEN_STAGES
    ).update(**changes)
    if moved:
        transaction.on_commit(lambda: _counts_changed(organisation_id))
    return moved


def referrals_after_merge(*, organisation_id: int, keep_id: int, merged_ids: list[int]) -> None:
    """After ``customers.dedupe.customer_merge`` moved referrals and sales to the kept customer:
    the summaries of every customer involved and the sale each of the kept one's referrals
    counts toward. Call inside the merge's transaction."""
    ids = [keep_id, *merged_ids]
    stats.referrer_stats_refresh(organisation_id=organisation_id, referrer_ids=ids)
    stats.referral_sale_days_refresh(referrer_ids=ids)
    transaction.on_commit(lambda: _counts_changed(organisation_id))


@dataclass(frozen=True)
class BulkRowError:
    row: int
    field: str
    message: str


@dataclass
class BulkResult:
    created: list[int] = field(default_factory=list)
    flagged: list[int] = field(default_factory=list)
    errors: list[BulkRowError] = field(default_factory=list)
    rows: int = 0

    @property
    def failed_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})


# What people write in the relation column of an event sheet.
RELATION_WORDS = {
    "朋友": Relation.FRIEND,
    "好友": Relation.FRIEND,
    "家人": Relation.FAMILY,
    "亲戚": Relation.FAMILY,
    "亲属": Relation.FAMILY,
    "家庭": Relation.FAMILY,
    "同事": Relation.COLLEAGUE,
    "生意伙伴": Relation.BUSINESS,
    "商业伙伴": Relation.BUSINESS,
    "合作伙伴": Relation.BUSINESS,
    "客户": Relation.BUSINESS,
    "其他": Relation.OTHER,
    "其它": Relation.OTHER,
}


def relation_code(value: str) -> str:
    """A relation code from a code, an English label or a Chinese word; blank is "other"."""
    text = (value or "").strip()
    if not text:
        return Relation.OTHER
    lowered = text.lower()
    if lowered in Relation.values:
        return lowered
    for code, label in Relation.choices:
        with translation.override("en"):
            if lowered == str(label).lower():
                return str(code)
    return RELATION_WORDS.get(text, text)


def _bulk_referrer(actor: User, value: str, region: str) -> Customer:
    from huitou.customers.selectors import customer_queryset

    text = (value or "").strip().lstrip("#")
    if not text:
        raise ValidationFailed({"referrer": ["Name the referrer by customer number or mobile phone."]})
    scope = customer_queryset(actor).select_related("organisation")
    if text.isdigit() and len(text) < 11:
        found = scope.filter(pk=int(text)).first()
        if found is None:
            raise ValidationFailed({"referrer": ["No customer with this number among your customers."]})
        return found
    try:
        e164 = normalize_phone(text, region)
    except InvalidPhone as exc:
        raise ValidationFailed(
            {"referrer": ["Name the referrer by customer number or mobile phone."]}
        ) from exc
    ids = set(scope.filter(phone=e164).values_list("pk", flat=True)[:2])
    ids.update(
        CustomerPhone.objects.filter(number=e164, customer__in=scope).values_list("customer_id", flat=True)[
            :2
        ]
    )
    if not ids:
        raise ValidationFailed({"referrer": ["No customer with this phone among your customers."]})
    if len(ids) > 1:
        raise ValidationFailed(
            {"referrer": ["Several customers have this phone; use the customer number instead."]}
        )
    return scope.get(pk=ids.pop())


@transaction.atomic
def referrals_bulk_submit(
    *,
    actor: User,
    rows: list[dict[str, Any]],
    channel: str,
    event_name: str,
    now: dt.datetime | None = None,
) -> BulkResult:
    """Referrals collected at an event or a customer club, many referrers at once.

    Each row has ``referrer`` (customer number or mobile phone of a customer in the actor's
    scope), ``name``, ``phone``, ``relation`` and optionally ``interest``, ``wechat``, ``city``,
    ``note``, and ``_row`` (its line in the source file, for the report; default: its position).
    Good rows are saved, each in its own savepoint; bad rows are reported with field and reason.
    """
    now = _now(now)
    if not permissions.is_active_member(actor):
        raise NotFound("organisation")
    errors: dict[str, list[str]] = {}
    if channel not in BULK_CHANNELS:
        errors["channel"] = ["Choose event or customer club."]
    if not (event_name or "").strip():
        errors["event_name"] = ["Name the event or club."]
    elif len(event_name.strip()) > _LIMITS["event_name"]:
        errors["event_name"] = ["This is too long."]
    if not rows:
        errors["rows"] = ["There is nothing to import."]
    elif len(rows) > MAX_BULK_ROWS:
        errors["rows"] = ["Too many rows at once: import at most 500."]
    if errors:
        raise ValidationFailed(errors)
    region = actor.organisation.policy.archive.default_region  # type: ignore[union-attr]
    result = BulkResult(rows=len(rows))
    for index, row in enumerate(rows, start=1):
        line = int(row.get("_row") or index)
        try:
            with transaction.atomic():
                referrer = _bulk_referrer(actor, str(row.get("referrer") or ""), region)
                referral = referral_submit(
                    actor=actor,
                    referrer=referrer,
                    name=str(row.get("name") or ""),
                    phone=str(row.get("phone") or ""),
                    relation=relation_code(str(row.get("relation") or "")),
                    interest=str(row.get("interest") or ""),
                    wechat=str(row.get("wechat") or ""),
                    city=str(row.get("city") or ""),
                    note=str(row.get("note") or ""),
                    channel=channel,
                    event_name=event_name,
                    now=now,
                )
        except ValidationFailed as exc:
            for name, messages in exc.errors.items():
                result.errors.extend(BulkRowError(row=line, field=name, message=m) for m in messages)
        except NotFound:
            message = "No customer with this number among your customers."
            result.errors.append(BulkRowError(row=line, field="referrer", message=message))
        else:
            result.created.append(referral.pk)
            if referral.flags:
                result.flagged.append(referral.pk)
    return result


# ---------------------------------------------------------------------------------------------
# Audit and the stages


@transaction.atomic
def referral_audit(
    *,
    actor: User,
    referral_id: int,
    outcome: str,
    note: str = "",
    version: int | None = None,
    now: dt.datetime | None = None,
) -> Referral:
    """The DCRC phone audit (电话稽核) of a submitted referral.

    confirmed → verified; no answer → stays submitted (one more attempt counted); not interested →
    lost; fake → rejected and marked faked. A referral waiting for review can be audited; it
    counts only once the review approves it.
    """
    referral = _locked(actor, referral_id)
    _require_auditor(actor, referral)
    if outcome not in AuditOutcome.values:
        raise ValidationFailed({"outcome": ["Choose the outcome of the call."]})
    _check_version(referral, version)
    if referral.stage != Stage.SUBMITTED:
        raise Conflict("only a submitted referral can be audited; this one has been audited already")
    now = _now(now)
    before = referral.stage
    referral.audit_outcome = outcome
    referral.audit_note = note.strip()
    referral.audited_at = now
    referral.audited_by = actor
    referral.audit_attempts += 1
    fields = ["audit_outcome", "audit_note", "audited_at", "audited_by", "audit_attempts"]
    if outcome == AuditOutcome.CONFIRMED:
        referral.stage, referral.verified_at = Stage.VERIFIED, now
        fields += ["stage", "verified_at"]
    elif outcome == AuditOutcome.NOT_INTERESTED:
        referral.stage, referral.closed_at = Stage.LOST, now
        referral.lost_reason = (note.strip() or _("Not interested (phone audit)"))[:255]
        fields += ["stage", "closed_at", "lost_reason"]
    elif outcome == AuditOutcome.FAKE:
        referral.stage, referral.closed_at, referral.faked = Stage.REJECTED, now, True
        fields += ["stage", "closed_at", "faked"]
    _save(referral, fields)
    _event(
        referral, actor=actor, action="audit", from_stage=before, to_stage=referral.stage, at=now, note=note
    )
    return referral


@transaction.atomic
def referral_advance(
    *,
    actor: User,
    referral_id: int,
    to: str,
    note: str = "",
    version: int | None = None,
    now: dt.datetime | None = None,
) -> Referral:
    """verified → contacted → quoted (quoted may follow verified directly)."""
    referral = _locked(actor, referral_id)
    _require_worker(actor, referral)
    if to not in ADVANCE_FROM:
        raise ValidationFailed({"to": ["Choose contacted or quoted."]})
    _check_version(referral, version)
    if referral.stage == Stage.SUBMITTED:
        raise Conflict(AUDIT_FIRST)
    if referral.stage not in ADVANCE_FROM[to]:
        raise Conflict("this referral cannot move to that stage from where it is now")
    now = _now(now)
    before = referral.stage
    referral.stage = to
    if to == Stage.CONTACTED:
        referral.contacted_at = now
        fields = ["stage", "contacted_at"]
    else:
        referral.quoted_at = now
        fields = ["stage", "quoted_at"]
    _save(referral, fields)
    action = "contact" if to == Stage.CONTACTED else "quote"
    _event(referral, actor=actor, action=action, from_stage=before, to_stage=to, at=now, note=note)
    return referral


@transaction.atomic
def referral_convert(*, actor: User, referral_id: int, now: dt.datetime | None = None) -> Customer:
    """The referred person's customer record, created (as a prospect of the lead's rep, referred by
    the referrer) unless the referral already has one or the archive already holds the number."""
    from huitou.customers.services import customer_create

    referral = _locked(actor, referral_id)
    _require_worker(actor, referral)
    if referral.customer_id is not None:
        existing = Customer.objects.filter(pk=referral.customer_id).first()
        if existing is not None:
            return existing
    if referral.stage == Stage.SUBMITTED:
        raise Conflict(AUDIT_FIRST)
    if referral.stage not in WORKING_STAGES:
        raise Conflict(CLOSED)
    now = _now(now)
    found = fraud.existing_customer_id(
        organisation_id=int(referral.organisation_id), phone=referral.phone, referrer_id=referral.referrer_id
    )
    if found is not None:
        customer = Customer.objects.get(pk=found)
        note = "linked to the customer record already in the archive"
    else:
        customer = customer_create(
            actor=actor,
            data={
                "name": referral.name,
                "phone": referral.phone,
                "wechat": referral.wechat,
                "city": referral.city,
                "source": Customer.Source.REFERRAL,
                "source_detail": referral.event_name,
                "referred_by": referral.referrer,
                "owner": referral.rep,
                "store": referral.store,
                "status": Customer.Status.PROSPECT,
            },
        )
        note = "customer record created"
    referral.customer = customer
    _save(referral, ["customer"])
    _event(
        referral,
        actor=actor,
        action="convert",
        from_stage=referral.stage,
        to_stage=referral.stage,
        at=now,
        note=note,
    )
    return customer


def _mark_won(referral: Referral, *, purchase_id: int, actor: User | None, now: dt.datetime) -> None:
    from . import rewards  # written by the vouchers part; imported late to keep the apps' import order

    before = referral.stage
    referral.stage = Stage.WON
    referral.won_purchase_id = purchase_id
    referral.closed_at = now
    _save(referral, ["stage", "won_purchase", "closed_at"])
    _event(
        referral,
        actor=actor,
        action="win",
        from_stage=before,
        to_stage=Stage.WON,
        at=now,
        note=f"purchase #{purchase_id}",
    )
    rewards.referral_rewards_create(referral=referral, actor=actor, now=now)


def _require_winnable(referral: Referral) -> None:
    if referral.stage == Stage.SUBMITTED:
        raise Conflict(AUDIT_FIRST)
    if referral.stage not in WORKING_STAGES:
        raise Conflict(CLOSED)
    if referral.review == Review.PENDING:
        raise Conflict("this referral is waiting for a manager's review")
    if _blocking_claim(referral) is not None:
        raise Conflict(FIRST_WINS)


@transaction.atomic
def referral_win(
    *,
    actor: User,
    referral_id: int,
    purchase_id: int,
    version: int | None = None,
    now: dt.datetime | None = None,
) -> Referral:
    """The referred customer bought: ``purchase_id`` is their sale (not a workshop visit)."""
    referral = _locked(actor, referral_id)
    _require_worker(actor, referral)
    _check_version(referral, version)
    _require_winnable(referral)
    purchase = (
        Purchase.objects.filter(pk=purchase_id, organisation_id=referral.organisation_id)
        .only("pk", "customer_id", "kind")
        .first()
    )
    if purchase is None:
        raise ValidationFailed({"purchase_id": ["No such purchase."]})
    if referral.customer_id is None:
        raise ValidationFailed(
            {"purchase_id": ["Convert the lead to a customer first, then choose the purchase."]}
        )
    if purchase.customer_id != referral.customer_id:
        raise ValidationFailed({"purchase_id": ["This purchase is not the referred customer's."]})
    if purchase.kind == Purchase.Kind.SERVICE:
        raise ValidationFailed({"purchase_id": ["A workshop visit is not a sale."]})
    _mark_won(referral, purchase_id=purchase.pk, actor=actor, now=_now(now))
    return referral


def referrals_match_purchases(
    *, organisation: Organisation, since: dt.date, now: dt.datetime | None = None
) -> int:
    """Win open verified leads whose customer record bought: the first sale (not a workshop visit)
    dated on or after both the submission day and ``since``. Returns how many were won.

    One query finds the matches (the first sale per lead as a subquery on
    ``purchase_customer_day_idx``); each is then won in its own transaction with the row locked
    and its state checked again, so a second run, or a rep winning the lead by hand at the same
    moment, wins nothing twice.
    """
    now = _now(now)
    first_sale = (
        Purchase.objects.filter(customer_id=OuterRef("customer_id"), ordered_on__gte=since)
        .filter(ordered_on__gte=OuterRef("submitted_day"))
        .exclude(kind=Purchase.Kind.SERVICE)
        .order_by("ordered_on", "pk")
        .values("pk")[:1]
    )
    open_claim = Q(duplicate_of__isnull=True) | Q(duplicate_of__stage__in=(Stage.REJECTED, Stage.LOST))
    eligible = Q(stage__in=WORKING_STAGES, review__in=COUNTING_REVIEWS) & open_claim
    matches = list(
        Referral.objects.filter(eligible, organisation_id=organisation.pk, customer_id__isnull=False)
        .annotate(submitted_day=TruncDate("submitted_at"))
        .annotate(sale=Subquery(first_sale))
        .filter(sale__isnull=False)
        .values_list("pk", "sale")
    )
    won = 0
    for referral_id, sale_id in matches:
        with transaction.atomic():
            referral = (
                Referral.objects.select_for_update(of=("self",)).filter(eligible, pk=referral_id).first()
            )
            if referral is None:
                continue
            _mark_won(referral, purchase_id=sale_id, actor=None, now=now)
            won += 1
    return won


def referrals_match_purchases_all(*, since: dt.date, now: dt.datetime | None = None) -> int:
    """``referrals_match_purchases`` for every organisation (the nightly job)."""
    from huitou.accounts.models import Organisation

    return sum(
        referrals_match_purchases(organisation=org, since=since, now=now)
        for org in Organisation.objects.order_by("pk")
    )


def _in_refund_window(referral: Referral, now: dt.datetime) -> bool:
    statuses = set(Reward.objects.filter(referral_id=referral.pk).values_list("status", flat=True))
    if Reward.Status.ISSUED in statuses:
        return False
    if Reward.Status.HELD in statuses:
        return True
    hold = referral.organisation.policy.referrals.reward_hold_days
    return referral.closed_at is None or now < referral.closed_at + dt.timedelta(days=hold)


@transaction.atomic
def referral_lose(
    *,
    actor: User,
    referral_id: int,
    reason: str,
    version: int | None = None,
    now: dt.datetime | None = None,
) -> Referral:
    """Close an open lead as lost; or undo a win while its rewards are still held (the sale was
    refunded within the hold period), cancelling those rewards."""
    referral = _locked(actor, referral_id)
    _require_worker(actor, referral)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["Say why the lead was lost."]})
    _check_version(referral, version)
    now = _now(now)
    before = referral.stage
    note = reason
    fields = ["stage", "closed_at", "lost_reason"]
    if referral.stage == Stage.WON:
        if not _in_refund_window(referral, now):
            raise Conflict("the reward was issued already: the refund window is over")
        from . import rewards

        rewards.referral_rewards_cancel(referral=referral, actor=actor, reason=reason, now=now)
        note = f"{reason} (purchase #{referral.won_purchase_id} undone)"
        referral.won_purchase = None
        fields.append("won_purchase")
    elif referral.stage not in OPEN_STAGES:
        raise Conflict(CLOSED)
    referral.stage = Stage.LOST
    referral.closed_at = now
    referral.lost_reason = reason[:255]
    _save(referral, fields)
    _event(referral, actor=actor, action="lose", from_stage=before, to_stage=Stage.LOST, at=now, note=note)
    return referral


@transaction.atomic
def referral_review(
    *,
    actor: User,
    referral_id: int,
    decision: str,
    note: str = "",
    faked: bool = False,
    now: dt.datetime | None = None,
) -> Referral:
    """A manager's decision on a flagged referral. Approve lets it count; reject closes it (and
    marks it faked when it was a self-referral or the reviewer says so)."""
    referral = _locked(actor, referral_id)
    if not can_review(actor):
        raise PermissionDenied("only managers and the owner review flagged referrals")
    if decision not in ("approve", "reject"):
        raise ValidationFailed({"decision": ["Choose approve or reject."]})
    if referral.review != Review.PENDING:
        raise Conflict("this referral is not waiting for review")
    now = _now(now)
    before = referral.stage
    fields = ["review", "reviewed_at", "reviewed_by", "review_note"]
    if decision == "approve":
        _take_over_claim(referral)
        if _blocking_claim(referral) is not None:
            raise ValidationFailed({"decision": [FIRST_WINS]})
        referral.review = Review.APPROVED
        fields.append("duplicate_of")
    else:
        referral.review = Review.REJECTED
        referral.faked = bool(faked) or Flag.SELF_REFERRAL in (referral.flags or [])
        fields += ["stage", "faked"]
        if referral.stage != Stage.REJECTED:
            referral.stage = Stage.REJECTED
            referral.closed_at = referral.closed_at or now
            fields.append("closed_at")
    referral.reviewed_at = now
    referral.reviewed_by = actor
    referral.review_note = note.strip()
    _save(referral, fields)
    _event(
        referral, actor=actor, action=decision, from_stage=before, to_stage=referral.stage, at=now, note=note
    )
    return referral


def _take_over_claim(referral: Referral) -> None:
    """A duplicate whose first claim was rejected becomes the claim itself — unless another
    referral of the person took it over first, which it then points at instead."""
    if referral.duplicate_of_id is None:
        return
    stage = Referral.objects.filter(pk=referral.duplicate_of_id).values_list("stage", flat=True).first()
    if stage not in (None, Stage.REJECTED):
        return
    current = fraud.live_claim_id(organisation_id=int(referral.organisation_id), phone=referral.phone)
    if current is None and referral.stage != Stage.REJECTED:
        try:
            with transaction.atomic():
                Referral.objects.filter(pk=referral.pk).update(duplicate_of=None)
            referral.duplicate_of_id = None
            return
        except IntegrityError:
            current = fraud.live_claim_id(organisation_id=int(referral.organisation_id), phone=referral.phone)
    if current is not None:
        referral.duplicate_of_id = current


# ---------------------------------------------------------------------------------------------
# Self-service links


def _link_text(link: ReferralLink, url: str) -> str:
    customer = link.referrer
    # The customer reads it, so it is written in the organisation's language, not the sender's.
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "%(greeting)s, thank you for your trust in %(store)s! If a friend or relative is thinking "
            "about buying, tell us here: %(url)s (valid until %(date)s)"
        ) % {
            "greeting": links.salutation(customer),
            "store": customer.store.name if customer.store_id and customer.store else link.organisation.name,
            "url": url,
            "date": timezone.localdate(link.expires_at).isoformat(),
        }


@transaction.atomic
def referral_link_create(
    *, actor: User, referrer_id: int, now: dt.datetime | None = None
) -> tuple[ReferralLink, str]:
    """A new self-service link for a referrer in the actor's scope, and its token."""
    from huitou.customers.selectors import customer_get

    referrer = customer_get(actor, referrer_id)
    now = _now(now)
    days = referrer.organisation.policy.referrals.link_valid_days
    link = ReferralLink.objects.create(
        organisation_id=referrer.organisation_id,
        referrer=referrer,
        created_by=actor,
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    return link, links.token_for(link.pk)


@transaction.atomic
def referral_link_for_print(
    *, actor: User, referrer_id: int, now: dt.datetime | None = None
) -> tuple[ReferralLink, str]:
    """The link a printed form carries: a live one with at least half its validity left is reused
    (printing the form twice gives the same QR code), otherwise a new one."""
    from huitou.customers.selectors import customer_get

    referrer = customer_get(actor, referrer_id)
    now = _now(now)
    days = referrer.organisation.policy.referrals.link_valid_days
    link = (
        ReferralLink.objects.filter(
            referrer_id=referrer.pk,
            revoked_at__isnull=True,
            expires_at__gt=now + dt.timedelta(days=days / 2),
        )
        .order_by("-expires_at")
        .first()
    )
    if link is None:
        return referral_link_create(actor=actor, referrer_id=referrer.pk, now=now)
    return link, links.token_for(link.pk)


def _link_in_scope(actor: User, link_id: int) -> ReferralLink:
    from huitou.customers.selectors import customer_queryset

    link = (
        ReferralLink.objects.select_related("referrer", "referrer__store", "organisation")
        .filter(pk=link_id, referrer__in=customer_queryset(actor))
        .first()
    )
    if link is None:
        raise NotFound("link")
    return link


def referral_link_get(viewer: User, link_id: int) -> ReferralLink:
    """A link of a referrer the viewer may see (NotFound otherwise)."""
    return _link_in_scope(viewer, link_id)


@transaction.atomic
def referral_link_revoke(*, actor: User, link_id: int, now: dt.datetime | None = None) -> ReferralLink:
    link = _link_in_scope(actor, link_id)
    if link.revoked_at is None:
        link.revoked_at = _now(now)
        link.save(update_fields=["revoked_at"])
    return link


def referral_link_read(token: str, now: dt.datetime | None = None) -> ReferralLink:
    """The link behind a token, or ``links.LinkError`` saying why not (invalid, expired, revoked)."""
    link_id = links.link_id_from(token)
    link = (
        ReferralLink.objects.select_related("referrer", "referrer__store", "organisation")
        .filter(pk=link_id)
        .first()
    )
    if link is None:
        raise links.LinkError("invalid")
    referrer = link.referrer
    if (
        link.revoked_at is not None
        or referrer.merged_into_id is not None
        or referrer.status == Customer.Status.ERASED
    ):
        raise links.LinkError("revoked")
    if link.expires_at <= _now(now):
        raise links.LinkError("expired")
    return link


@transaction.atomic
def referral_link_send(*, actor: User, link_id: int, now: dt.datetime | None = None) -> Message:
    """Text the link to its referrer (outbox, service purpose: it answers their own request)."""
    from huitou.followups.models import Channel as MessageChannel
    from huitou.followups.models import Purpose
    from huitou.followups.outbox.services import message_queue

    link = _link_in_scope(actor, link_id)
    now = _now(now)
    if link.revoked_at is not None or link.expires_at <= now:
        raise ValidationFailed({"link": ["This link is no longer valid; create a new one."]})
    url = links.public_url(links.token_for(link.pk))
    return message_queue(
        organisation=link.organisation,
        customer=link.referrer,
        channel=MessageChannel.SMS,
        purpose=Purpose.SERVICE,
        body=_link_text(link, url),
        created_by=actor,
        idempotency_key=f"referral-link:{link.pk}:{timezone.localdate(now).isoformat()}",
    )


# ---------------------------------------------------------------------------------------------
# Reads of the pipeline pages (each on ``referral_queryset``, so no page can skip the scope)


@dataclass(frozen=True)
class LeadFilters:
    stage: str = ""
    store_id: int | None = None
    rep_id: int | None = None
    channel: str = ""
    flagged: bool | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    q: str = ""


LIST_FIELDS = (
    "id",
    "name",
    "phone",
    "relation",
    "interest",
    "stage",
    "channel",
    "review",
    "flags",
    "submitted_at",
    "audit_attempts",
    "version",
    "referrer_id",
    "referrer__name",
    "rep_id",
    "rep__username",
    "rep__display_name",
    "store_id",
    "store__name",
    "customer_id",
    "duplicate_of_id",
)


def _leads(viewer: User) -> QuerySet[Referral]:
    """``referral_queryset`` plus the viewer's organisation on the referral row itself.

    The scope filters through the referrer (``customers_customer.organisation_id`` for the owner
    and DCRC); repeating it on the referral lets the planner walk the ``ref_org_*`` indexes in
    the list's order and stop after one page, instead of joining and sorting the whole table
    (1.1 s → a few ms at 1M referrals).
    """
    qs = referral_queryset(viewer)
    if viewer.organisation_id is None:
        return qs.none()
    return qs.filter(organisation_id=viewer.organisation_id)


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


def search_condition(q: str, region: str = "CN") -> Q | None:
    """A whole phone number (exact, on ``ref_org_phone_idx``), its last digits, or part of a name."""
    text = (q or "").strip()
    if not text:
        return None
    compact = re.sub(r"[\s\-()]", "", text)
    digits = compact.lstrip("+")
    if digits.isdigit():
        if len(digits) >= 11:
            try:
                return Q(phone=normalize_phone(compact, region))
            except InvalidPhone:
                return Q(pk__in=[])
        if len(digits) >= 3:
            return Q(phone__endswith=digits)
    return Q(name__contains=text)


def _lead_filtered(
    viewer: User, filters: LeadFilters, *, stage: bool = True, scope: Q | None = None
) -> QuerySet[Referral]:
    """The viewer's leads under ``filters``; ``scope`` (one of ``referral_scope_parts``) narrows
    them to one part of the viewer's scope."""
    qs = _leads(viewer)
    if scope is not None:
        qs = qs.filter(scope)
    if stage and filters.stage:
        qs = qs.filter(stage=filters.stage)
    if filters.store_id:
        qs = qs.filter(store_id=filters.store_id)
    if filters.rep_id:
        qs = qs.filter(rep_id=filters.rep_id)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.flagged is True:
        qs = qs.exclude(review=Review.NONE)
    elif filters.flagged is False:
        qs = qs.filter(review=Review.NONE)
    if filters.start:
        qs = qs.filter(submitted_at__gte=_local_midnight(filters.start))
    if filters.end:
        qs = qs.filter(submitted_at__lt=_local_midnight(filters.end + dt.timedelta(days=1)))
    region = viewer.organisation.policy.archive.default_region if viewer.organisation else "CN"
    cond = search_condition(filters.q, region)
    if cond is not None:
        qs = qs.filter(cond)
    return qs


def _labels(rows: list[dict[str, Any]], viewer: User) -> list[dict[str, Any]]:
    full = permissions.sees_full_phone(viewer)
    stages, relations, channels = dict(Stage.choices), dict(Relation.choices), dict(Channel.choices)
    flags = dict(Flag.choices)
    for row in rows:
        row["phone_display"] = permissions.phone_for(viewer, row["phone"], full=full)
        row["stage_label"] = str(stages.get(row["stage"], row["stage"]))
        row["relation_label"] = str(relations.get(row["relation"], row["relation"]))
        row["channel_label"] = str(channels.get(row["channel"], row["channel"]))
        row["flag_labels"] = [str(flags.get(f, f)) for f in row.get("flags") or []]
        row["rep_name"] = row.get("rep__display_name") or row.get("rep__username") or ""
    return rows


def _count_key(viewer: User, name: str, filters: LeadFilters | None = None) -> str:
    generation = cache.get(_generation_key(int(viewer.organisation_id or 0)), 0)
    digest = hashlib.sha256(repr(filters).encode()).hexdigest()[:32]
    return f"referral-count:{name}:{generation}:{viewer.pk}:{digest}"


def referral_list(
    viewer: User, filters: LeadFilters, *, page: int = 1, size: int = 50
) -> Page[dict[str, Any]]:
    """A page of leads, newest first, as plain rows with labels and the phone as the viewer may
    see it. One query for the page (the joins touch only its rows), one capped count."""
    base = _lead_filtered(viewer, filters)
    qs = base.order_by("-submitted_at", "-id").values(*LIST_FIELDS)
    result = paginate(qs, page=page, size=size, count=False)
    # The capped count on the referral rows alone: the page's joins (referrer, rep, store) would
    # be paid for a thousand rows.
    if not result.has_next and (result.items or result.number == 1):
        total = (result.number - 1) * result.size + len(result.items)
    else:
        key = _count_key(viewer, "list", filters)

        def capped() -> int:
            return int(base.order_by().values("pk")[: COUNT_CAP + 1].count())

        total = int(cache.get_or_set(key, capped, COUNT_CACHE_SECONDS) or 0)
    result = dataclasses.replace(result, total=min(total, COUNT_CAP), total_capped=total > COUNT_CAP)
    _labels(result.items, viewer)
    return result


def referral_row(viewer: User, referral_id: int) -> dict[str, Any]:
    """One lead as a list row (the audit queue redraws a row with it)."""
    row = _leads(viewer).filter(pk=referral_id).values(*LIST_FIELDS).first()
    if row is None:
        raise NotFound("referral")
    return _labels([row], viewer)[0]


def referral_stage_counts(viewer: User, filters: LeadFilters) -> dict[str, int]:
    """Leads per stage under the same filters (the stage filter aside), each counted up to
    ``COUNT_CAP`` + 1 like the list's own count (more than ``COUNT_CAP`` shows as "1,000+"): one
    statement of one capped count per stage, each read from a ``(…, stage, submitted_at)`` index,
    kept for a minute or until the next change of a referral in the organisation."""

    def count() -> dict[str, int]:
        # One capped count per stage and part of the scope (``selectors.referral_scope_parts``:
        # disjoint, so their counts add up), each a walk of one index that stops at the cap.
        parts, params = [], []
        for j, scope in enumerate(referral_scope_parts(viewer)):
            base = _lead_filtered(viewer, filters, stage=False, scope=scope).order_by()
            for i, code in enumerate(Stage.values):
                sql, sub = base.filter(stage=code).values("pk")[: COUNT_CAP + 1].query.sql_with_params()
                parts.append(f"SELECT %s, COUNT(*) FROM ({sql}) s{j}_{i}")  # noqa: S608 - the ORM's SQL
                params.extend([code, *sub])
        counts = dict.fromkeys(Stage.values, 0)
        with connection.cursor() as cur:
            cur.execute(" UNION ALL ".join(parts), params)
            for stage, n in cur.fetchall():
                counts[str(stage)] = min(counts[str(stage)] + int(n), COUNT_CAP + 1)
        return counts

    key = _count_key(viewer, "stages", dataclasses.replace(filters, stage=""))
    return dict(cache.get_or_set(key, count, COUNT_CACHE_SECONDS) or count())


def referral_audit_queue(viewer: User, *, page: int = 1, size: int = 50) -> Page[dict[str, Any]]:
    """Submitted referrals for the phone audit, oldest first, without the viewer's own leads."""
    if viewer.role not in AUDIT_ROLES:
        raise PermissionDenied("only DCRC agents, managers and the owner audit referrals")
    qs = (
        _leads(viewer)
        .filter(stage=Stage.SUBMITTED)
        .exclude(rep_id=viewer.pk)
        .order_by("submitted_at", "id")
        .values(*LIST_FIELDS)
    )
    result = paginate(qs, page=page, size=size, count_cache_key=_count_key(viewer, "audit"))
    _labels(result.items, viewer)
    return result


@dataclass(frozen=True)
class ReviewItem:
    referral: Referral
    reasons: list[str]
    phone: str
    original_visible: bool


def referral_review_queue(viewer: User, *, page: int = 1, size: int = 50) -> Page[ReviewItem]:
    """Flagged referrals waiting for a manager, oldest first, with their flags in words and, for a
    duplicate, the first claim (named only when the viewer may see it)."""
    if not can_review(viewer):
        raise PermissionDenied("only managers and the owner review flagged referrals")
    qs = (
        _leads(viewer)
        .filter(review=Review.PENDING)
        .select_related("referrer", "rep", "store", "duplicate_of", "duplicate_of__referrer")
        .order_by("submitted_at", "id")
    )
    result = paginate(qs, page=page, size=size, count_cache_key=_count_key(viewer, "review"))
    originals = {r.duplicate_of_id for r in result.items if r.duplicate_of_id}
    visible = (
        set(referral_queryset(viewer).filter(pk__in=originals).values_list("pk", flat=True))
        if originals
        else set()
    )
    policy = viewer.organisation.policy.referrals  # type: ignore[union-attr]
    full = permissions.sees_full_phone(viewer)
    items = [
        ReviewItem(
            referral=r,
            reasons=fraud.explain(r, policy=policy),
            phone=permissions.phone_for(viewer, r.phone, full=full),
            original_visible=r.duplicate_of_id in visible,
        )
        for r in result.items
    ]
    return Page(
        items=items,
        number=result.number,
        size=result.size,
        has_next=result.has_next,
        total=result.total,
        total_capped=result.total_capped,
    )


def referral_get(viewer: User, referral_id: int) -> Referral:
    try:
        return (
            referral_card_queryset(viewer)
            .select_related(
                "referrer",
                "rep",
                "store",
                "product",
                "customer",
                "duplicate_of",
                "submitted_by",
                "audited_by",
                "reviewed_by",
                "won_purchase",
                "organisation",
            )
            .get(pk=referral_id)
        )
    except (Referral.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("referral") from exc


def referral_events(referral: Referral) -> list[ReferralEvent]:
    return list(referral.events.select_related("actor").order_by("at", "id"))


def referral_sales(referral: Referral, *, limit: int = 20) -> list[Purchase]:
    """The referred customer's sales since the referral, for the win form (newest first)."""
    if referral.customer_id is None:
        return []
    since = timezone.localdate(referral.submitted_at)
    return list(
        Purchase.objects.filter(customer_id=referral.customer_id, ordered_on__gte=since)
        .exclude(kind=Purchase.Kind.SERVICE)
        .order_by("-ordered_on", "-id")[:limit]
    )


def referral_customer_visible(viewer: User, referral: Referral) -> bool:
    return referral.customer_id is not None and _in_customer_scope(viewer, referral.customer_id)


def referral_original_visible(viewer: User, referral: Referral) -> bool:
    return (
        referral.duplicate_of_id is not None
        and referral_queryset(viewer).filter(pk=referral.duplicate_of_id).exists()
    )
