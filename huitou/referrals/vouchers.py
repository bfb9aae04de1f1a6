"""Vouchers: issue, redeem at the desk, void, expire — and the codes and QR that carry them.

Rules kept here:

- A code is 10 characters from an alphabet without look-alikes (no 0/O, 1/I/L), nine random ones
  from ``secrets`` and a check character: a weighted sum modulo 31 (a prime), which catches every
  single mistyped character and every swap of two, so the desk can say "mistyped" rather than
  "unknown". The unique constraint on ``code`` backs the randomness; a collision is retried.
- Redeeming is one conditional UPDATE (``status='issued' AND expires_on >= today``) whose row
  count decides: two desks scanning the same code at once, exactly one wins; the other is told
  who redeemed it where and when. A refused attempt (already redeemed, expired, void) is written
  to the ledger in its own transaction before the error is raised, so the record survives it.
- Every state change writes a ``VoucherEntry``; the ledger is only ever appended to.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huitou.accounts import permissions
from huitou.accounts.permissions import AFTERSALES, DCRC, MANAGER, OWNER
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from .models import Voucher, VoucherEntry

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, Store, User
    from huitou.customers.models import Customer

    from .models import Referral

REDEEM_ROLES = frozenset({DCRC, AFTERSALES, MANAGER, OWNER})
VOID_ROLES = frozenset({MANAGER, OWNER})

# ---------------------------------------------------------------------------------------------
# Codes

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 characters: a prime modulus for the check
CODE_LENGTH = 10
CODE_ATTEMPTS = 5
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
# What people and scanners put around a code: spaces, dashes of every width, dots.
_NOISE = re.compile(r"[\s\-_.·—–‐]+")


def _check_char(body: str) -> str:
    # Weights 1..9 are distinct and non-zero modulo 31, so a changed character or two swapped
    # ones always change the sum.
    total = sum((i + 1) * _INDEX[c] for i, c in enumerate(body))
    return ALPHABET[total % len(ALPHABET)]


def code_new() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH - 1))
    return body + _check_char(body)


def code_normalise(raw: str) -> str:
    """What was typed or scanned, as a code: full-width folded, upper-case, no spaces or dashes.
    A scanner that reads a link or a ``prefix:code`` payload gives its last part."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    for sep in ("/", ":", "="):
        if sep in text:
            parts = [p for p in text.split(sep) if p.strip()]
            text = parts[-1] if parts else ""
    return _NOISE.sub("", text).upper()[:64]


def code_is_wellformed(code: str) -> bool:
    """A normalised code of our making: right length, right alphabet, right check character."""
    return len(code) == CODE_LENGTH and all(c in _INDEX for c in code) and code[-1] == _check_char(code[:-1])


def code_display(code: str) -> str:
    """``ABCDE-FGHJK``: two groups of five are easier to read out over the counter."""
    return f"{code[:5]}-{code[5:]}" if len(code) == CODE_LENGTH else code


def voucher_qr_svg(voucher: Voucher) -> str:
    """The voucher's QR code as inline SVG; the payload is the bare code (what the desk types)."""
    import segno

    qr = segno.make(voucher.code, error="m", micro=False)
    return str(qr.svg_inline(scale=6, border=2, dark="#000", light="#fff"))


# ---------------------------------------------------------------------------------------------
# Errors the desk tells apart


class VoucherRefused(Conflict):
    """A redemption refused because of the voucher's state. ``reason`` is the ledger note."""

    reason = ""

    def __init__(self, voucher: Voucher) -> None:
        self.voucher = voucher
        super().__init__(f"voucher {voucher.code}: {self.reason}")

    def describe(self) -> str:  # pragma: no cover - every subclass says its own
        return self.reason


class VoucherAlreadyRedeemed(VoucherRefused):
    reason = "already redeemed"

    def describe(self) -> str:
        v = self.voucher
        when = timezone.localtime(v.redeemed_at).strftime("%Y-%m-%d %H:%M") if v.redeemed_at else "—"
        return _("Already redeemed at %(store)s on %(time)s by %(name)s.") % {
            "store": v.redeemed_store.name if v.redeemed_store else "—",
            "time": when,
            "name": v.redeemed_by.label if v.redeemed_by else "—",
        }


class VoucherExpired(VoucherRefused):
    reason = "expired"

    def describe(self) -> str:
        return _("Expired on %(date)s.") % {"date": self.voucher.expires_on.isoformat()}


class VoucherVoid(VoucherRefused):
    reason = "void"

    def describe(self) -> str:
        v = self.voucher
        day = timezone.localtime(v.closed_at).date().isoformat() if v.closed_at else "—"
        return _("Voided on %(date)s: %(reason)s") % {"date": day, "reason": v.void_reason or "—"}


MISTYPED = "This code is mistyped: check each character again."
UNKNOWN = "No voucher of yours has this code."

# ---------------------------------------------------------------------------------------------
# Issue


@dataclass(frozen=True)
class VoucherSpec:
    customer: Customer
    kind: str
    value: Decimal
    referral: Referral | None = None


def _check_spec(organisation: Organisation, spec: VoucherSpec) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if spec.kind not in Voucher.Kind.values:
        errors["kind"] = [f"unknown voucher kind {spec.kind!r}"]
    if spec.value is None or Decimal(spec.value) < 0:
        errors["value"] = ["must not be negative"]
    if spec.customer.organisation_id != organisation.pk:
        errors["customer"] = ["not in this organisation"]
    if spec.referral is not None and spec.referral.organisation_id != organisation.pk:
        errors["referral"] = ["not in this organisation"]
    return errors


@transaction.atomic
def vouchers_issue(
    *,
    organisation: Organisation,
    specs: Sequence[VoucherSpec],
    actor: User | None = None,
    valid_days: int | None = None,
    now: dt.datetime | None = None,
) -> list[Voucher]:
    """Issue several vouchers with two INSERTs (vouchers, ledger), whatever their number.

    Credited to the referral's store and rep, else to the holder's. Valid through ``expires_on``
    (the issue day plus ``valid_days``, by default the policy's ``voucher_valid_days``).
    """
    for spec in specs:
        errors = _check_spec(organisation, spec)
        if errors:
            raise ValidationFailed(errors)
    if not specs:
        return []
    now = now or timezone.now()
    days = valid_days if valid_days is not None else organisation.policy.referrals.voucher_valid_days
    if days < 1:
        raise ValidationFailed({"valid_days": ["at least one day"]})
    expires_on = timezone.localdate(now) + dt.timedelta(days=days)
    vouchers = []
    for spec in specs:
        ref = spec.referral
        vouchers.append(
            Voucher(
                organisation_id=organisation.pk,
                code=code_new(),
                kind=spec.kind,
                value=Decimal(spec.value),
                customer=spec.customer,
                referral=ref,
                store_id=(ref.store_id if ref is not None else None) or spec.customer.store_id,
                rep_id=(ref.rep_id if ref is not None else None) or spec.customer.owner_id,
                status=Voucher.Status.ISSUED,
                issued_at=now,
                issued_by=actor,
                expires_on=expires_on,
            )
        )
    for attempt in range(CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                Voucher.objects.bulk_create(vouchers)
            break
        except IntegrityError:
            # A code already taken (one in 10^13 per code): draw new ones and insert again.
            if attempt == CODE_ATTEMPTS - 1:
                raise
            for v in vouchers:
                v.pk = None
                v._state.adding = True
                v.code = code_new()
    VoucherEntry.objects.bulk_create(
        [VoucherEntry(voucher=v, action=VoucherEntry.Action.ISSUE, at=now, actor=actor) for v in vouchers]
    )
    return vouchers


def voucher_issue(
    *,
    organisation: Organisation,
    customer: Customer,
    kind: str,
    value: Decimal,
    referral: Referral | None = None,
    actor: User | None = None,
    valid_days: int | None = None,
    now: dt.datetime | None = None,
) -> Voucher:
    """Issue one voucher (with its ledger row). Called by the reward release, not by pages."""
    return vouchers_issue(
        organisation=organisation,
        specs=[VoucherSpec(customer=customer, kind=kind, value=value, referral=referral)],
        actor=actor,
        valid_days=valid_days,
        now=now,
    )[0]


# ---------------------------------------------------------------------------------------------
# Redeem


def _desk_store(actor: User, store: Store | None) -> Store | None:
    if store is None:
        return actor.store
    if store.organisation_id != actor.organisation_id:
        raise ValidationFailed({"store": ["not a store of your organisation"]})
    return store


def voucher_find(*, actor: User, code: str) -> Voucher:
    """The voucher of the actor's organisation with this code, typed or scanned. A code of
    another organisation is as unknown as one never issued."""
    normalised = code_normalise(code)
    if not normalised:
        raise ValidationFailed({"code": ["Enter or scan a voucher code."]})
    voucher = (
        Voucher.objects.select_related("customer", "store", "rep", "redeemed_store", "redeemed_by")
        .filter(organisation_id=permissions.org_id(actor), code=normalised)
        .first()
    )
    if voucher is None:
        # Codes we did not make (imported ones) are looked up first, so only a miss is judged.
        if not code_is_wellformed(normalised):
            raise ValidationFailed({"code": [MISTYPED]})
        raise NotFound(UNKNOWN)
    return voucher


def _refuse(voucher: Voucher, *, actor: User, store: Store | None, now: dt.datetime) -> VoucherRefused:
    voucher.refresh_from_db()
    error: VoucherRefused
    if voucher.status == Voucher.Status.REDEEMED:
        error = VoucherAlreadyRedeemed(voucher)
    elif voucher.status == Voucher.Status.VOID:
        error = VoucherVoid(voucher)
    else:
        error = VoucherExpired(voucher)
    with transaction.atomic():
        VoucherEntry.objects.create(
            voucher=voucher,
            action=VoucherEntry.Action.REFUSED,
            at=now,
            actor=actor,
            store=store,
            note=error.reason,
        )
    return error


def voucher_redeem(
    *, actor: User, code: str, store: Store | None = None, now: dt.datetime | None = None
) -> Voucher:
    """Redeem the voucher with ``code`` at ``store`` (the desk; by default the actor's store).

    Raises ``PermissionDenied`` for a role that never redeems, ``ValidationFailed`` for an empty or
    mistyped code, ``NotFound`` for an unknown one, and a ``VoucherRefused`` subclass (a
    ``Conflict``) for one already redeemed, expired or void — after writing the refusal down.
    """
    if not permissions.is_active_member(actor) or actor.role not in REDEEM_ROLES:
        raise PermissionDenied("only the DCRC and after-sales desks, managers and the owner redeem")
    desk = _desk_store(actor, store)
    voucher = voucher_find(actor=actor, code=code)
    now = now or timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        won = Voucher.objects.filter(
            pk=voucher.pk, status=Voucher.Status.ISSUED, expires_on__gte=today
        ).update(status=Voucher.Status.REDEEMED, redeemed_at=now, redeemed_by=actor, redeemed_store=desk)
        if won:
            VoucherEntry.objects.create(
                voucher=voucher, action=VoucherEntry.Action.REDEEM, at=now, actor=actor, store=desk
            )
    if not won:
        raise _refuse(voucher, actor=actor, store=desk, now=now)
    voucher.status = Voucher.Status.REDEEMED
    voucher.redeemed_at, voucher.redeemed_by, voucher.redeemed_store = now, actor, desk
    return voucher


# ---------------------------------------------------------------------------------------------
# Void and expire


@transaction.atomic
def voucher_void(*, actor: User, voucher_id: int, reason: str, now: dt.datetime | None = None) -> Voucher:
    """Void an outstanding voucher (managers and the owner), saying why."""
    from .selectors import voucher_queryset

    try:
        voucher = voucher_queryset(actor).get(pk=voucher_id)
    except (Voucher.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("voucher") from exc
    if actor.role not in VOID_ROLES:
        raise PermissionDenied("only managers and the owner void vouchers")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["Say why the voucher is voided."]})
    now = now or timezone.now()
    changed = Voucher.objects.filter(pk=voucher.pk, status=Voucher.Status.ISSUED).update(
        status=Voucher.Status.VOID, closed_at=now, void_reason=reason[:255]
    )
    if not changed:
        raise ValidationFailed({"status": ["Only an outstanding voucher can be voided."]})
    VoucherEntry.objects.create(
        voucher=voucher, action=VoucherEntry.Action.VOID, at=now, actor=actor, note=reason[:255]
    )
    voucher.refresh_from_db()
    return voucher


def vouchers_void_for_referral(*, referral_id: int, actor: User | None, reason: str, now: dt.datetime) -> int:
    """Void the referral's outstanding vouchers (a sale undone in the refund window). Call inside
    the caller's transaction."""
    ids = list(
        Voucher.objects.select_for_update()
        .filter(referral_id=referral_id, status=Voucher.Status.ISSUED)
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    # The rows are locked: a desk redeeming one of them waits, then finds it void.
    Voucher.objects.filter(pk__in=ids).update(
        status=Voucher.Status.VOID, closed_at=now, void_reason=reason[:255]
    )
    VoucherEntry.objects.bulk_create(
        [
            VoucherEntry(
                voucher_id=pk, action=VoucherEntry.Action.VOID, at=now, actor=actor, note=reason[:255]
            )
            for pk in ids
        ]
    )
    return len(ids)


EXPIRE_CHUNK = 2000


def vouchers_expire(
    *, today: dt.date | None = None, organisation: Organisation | None = None, now: dt.datetime | None = None
) -> int:
    """Mark every outstanding voucher past its ``expires_on`` expired, with its ledger row.

    Chunks of ``EXPIRE_CHUNK``, each its own transaction: rows are claimed with ``SELECT … FOR
    UPDATE SKIP LOCKED`` (PostgreSQL; SQLite serialises writers anyway), so two runs at once
    share the work instead of doubling it, and a run after a crash resumes.
    """
    from huitou.accounts.models import Organisation as OrganisationModel

    now = now or timezone.now()
    today = today or timezone.localdate(now)
    org_ids = (
        [organisation.pk]
        if organisation is not None
        else list(OrganisationModel.objects.order_by("pk").values_list("pk", flat=True))
    )
    total = 0
    for org_id in org_ids:
        while True:
            with transaction.atomic():
                ids = list(
                    Voucher.objects.select_for_update(skip_locked=True)
                    .filter(organisation_id=org_id, status=Voucher.Status.ISSUED, expires_on__lt=today)
                    .order_by("pk")
                    .values_list("pk", flat=True)[:EXPIRE_CHUNK]
                )
                if not ids:
                    break
                Voucher.objects.filter(pk__in=ids, status=Voucher.Status.ISSUED).update(
                    status=Voucher.Status.EXPIRED, closed_at=now
                )
                VoucherEntry.objects.bulk_create(
                    [VoucherEntry(voucher_id=pk, action=VoucherEntry.Action.EXPIRE, at=now) for pk in ids],
                    batch_size=500,
                )
                total += len(ids)
    return total
