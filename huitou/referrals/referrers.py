"""Knowing the referrers (DOMAIN §5): their type, a suggestion from behaviour, and how to treat them.

The four types want different things: honour-seekers want recognition, not money; reward-seekers
want a clear material reward; favour-seekers refer a few people and then ask for help with a
problem of theirs; friends refer now and then and want nothing but to be treated as friends.
The rep sets the type; the system suggests one from what it has seen, always with its reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from .models import ReferrerProfile, ReferrerType, Stage, Voucher
from .selectors import referral_card_queryset, voucher_queryset

if TYPE_CHECKING:
    from huitou.accounts.models import User

SET_ROLES = {permissions.OWNER, permissions.MANAGER, permissions.REP}
ASKED_MAX = 255
NOTE_MAX = 2000
YEAR_DAYS = 365

ADVICE = {
    ReferrerType.HONOUR: _(
        "Offer no material reward: it can offend. Give them stage time and honour awards (at "
        "events, in the customer club, a thank-you in public). These are the rare golden "
        "customers; look after them personally."
    ),
    ReferrerType.REWARD: _(
        "Agree the reward openly and clearly (a voucher or a gift of known value) and keep every "
        "promise on time. They can bring good volume when the terms are clear."
    ),
    ReferrerType.FAVOUR: _(
        "After a few referrals expect a request for help with a problem of theirs. Help them well "
        "and quickly; if you do not, you lose them. Volume is usually low."
    ),
    ReferrerType.FRIEND: _(
        "Make no demands and treat them as a friend. They refer now and then; thank them "
        "personally each time."
    ),
}


def advice_for(referrer_type: str) -> str:
    text = ADVICE.get(referrer_type)  # type: ignore[call-overload]
    return str(text) if text is not None else ""


def can_set_type(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in SET_ROLES


# ---------------------------------------------------------------------------------------------
# Suggestion from behaviour


@dataclass(frozen=True)
class Evidence:
    """What we have seen of a customer as a referrer. ``referrals`` leave out rejected and faked
    ones; reward vouchers are the vouchers they received for their own referrals."""

    refuses_rewards: bool = False
    asked_for_help: str = ""
    referrals: int = 0
    referrals_last_year: int = 0
    rewards_issued: int = 0
    rewards_redeemed: int = 0


@dataclass(frozen=True)
class Suggestion:
    referrer_type: str
    reason: str

    @property
    def label(self) -> str:
        return str(ReferrerType(self.referrer_type).label)

    @property
    def advice(self) -> str:
        return advice_for(self.referrer_type)


def suggest_types(
    *,
    refuses_rewards: np.ndarray,
    asked_for_help: np.ndarray,
    referrals: np.ndarray,
    referrals_last_year: np.ndarray,
    rewards_issued: np.ndarray,
    rewards_redeemed: np.ndarray,
) -> np.ndarray:
    """The suggested type per customer ("" where the behaviour says nothing), first rule first:

    1. refuses rewards → honour;
    2. redeemed most of their reward vouchers (more than half, at least one) and 2+ referrals → reward;
    3. asked us for help with something → favour;
    4. 1–2 referrals in the last 365 days and no reward redeemed → friend.
    """
    refuses = refuses_rewards.astype(bool)
    asked = asked_for_help.astype(bool)
    reward = (rewards_redeemed >= 1) & (2 * rewards_redeemed > rewards_issued) & (referrals >= 2)
    friend = (referrals_last_year >= 1) & (referrals_last_year <= 2) & (rewards_redeemed == 0)
    return np.select(
        [refuses, reward, asked, friend],
        [
            ReferrerType.HONOUR.value,
            ReferrerType.REWARD.value,
            ReferrerType.FAVOUR.value,
            ReferrerType.FRIEND.value,
        ],
        default="",
    )


def _reason(kind: str, e: Evidence) -> str:
    if kind == ReferrerType.HONOUR:
        return gettext("Refuses rewards for referrals.")
    if kind == ReferrerType.REWARD:
        return gettext(
            "Redeemed %(redeemed)s of %(issued)s reward vouchers, over %(referrals)s referrals."
        ) % {
            "redeemed": e.rewards_redeemed,
            "issued": e.rewards_issued,
            "referrals": e.referrals,
        }
    if kind == ReferrerType.FAVOUR:
        return gettext("Asked us for help with: %(what)s") % {"what": e.asked_for_help}
    if kind == ReferrerType.FRIEND:
        return ngettext(
            "%(n)s referral in the last year and no reward redeemed.",
            "%(n)s referrals in the last year and no reward redeemed.",
            e.referrals_last_year,
        ) % {"n": e.referrals_last_year}
    return ""


def suggestions_for(evidence: list[Evidence]) -> list[Suggestion | None]:
    """``suggest_types`` over a list, with each reason in words."""
    if not evidence:
        return []
    kinds = suggest_types(
        refuses_rewards=np.array([e.refuses_rewards for e in evidence]),
        asked_for_help=np.array([bool(e.asked_for_help.strip()) for e in evidence]),
        referrals=np.array([e.referrals for e in evidence], dtype=np.int64),
        referrals_last_year=np.array([e.referrals_last_year for e in evidence], dtype=np.int64),
        rewards_issued=np.array([e.rewards_issued for e in evidence], dtype=np.int64),
        rewards_redeemed=np.array([e.rewards_redeemed for e in evidence], dtype=np.int64),
    )
    return [
        Suggestion(str(k), _reason(str(k), e)) if k else None for k, e in zip(kinds, evidence, strict=True)
    ]


def referrer_type_suggest(
    *,
    refuses_rewards: bool = False,
    asked_for_help: str = "",
    referrals: int = 0,
    referrals_last_year: int = 0,
    rewards_issued: int = 0,
    rewards_redeemed: int = 0,
) -> Suggestion | None:
    """The suggestion for one customer (see ``suggest_types``), or None without evidence."""
    evidence = Evidence(
        refuses_rewards=refuses_rewards,
        asked_for_help=asked_for_help,
        referrals=referrals,
        referrals_last_year=referrals_last_year,
        rewards_issued=rewards_issued,
        rewards_redeemed=rewards_redeemed,
    )
    return suggestions_for([evidence])[0]


def referrer_evidence(
    viewer: User, customer_ids: list[int], *, today: dt.date | None = None
) -> dict[int, Evidence]:
    """The evidence for customers already known to be in the viewer's scope: three queries for
    any number of them."""
    today = today or timezone.localdate()
    if not customer_ids or not permissions.is_active_member(viewer):
        return {}
    year_ago = timezone.make_aware(
        dt.datetime.combine(today - dt.timedelta(days=YEAR_DAYS - 1), dt.time()),
        timezone.get_current_timezone(),
    )
    profiles: dict[int, dict[str, Any]] = {
        r["customer_id"]: dict(r)
        for r in ReferrerProfile.objects.filter(customer_id__in=customer_ids).values(
            "customer_id", "refuses_rewards", "asked_for_help"
        )
    }
    made: dict[int, dict[str, Any]] = {
        r["referrer_id"]: dict(r)
        for r in referral_card_queryset(viewer)
        .filter(referrer_id__in=customer_ids, faked=False)
        .exclude(stage=Stage.REJECTED)
        .values("referrer_id")
        .annotate(total=Count("pk"), year=Count("pk", filter=Q(submitted_at__gte=year_ago)))
        .order_by()
    }
    vouchers: dict[int, dict[str, Any]] = {
        r["customer_id"]: dict(r)
        for r in voucher_queryset(viewer)
        .filter(customer_id__in=customer_ids, referral__referrer_id=F("customer_id"))
        .values("customer_id")
        .annotate(issued=Count("pk"), redeemed=Count("pk", filter=Q(status=Voucher.Status.REDEEMED)))
        .order_by()
    }
    out = {}
    for cid in customer_ids:
        p = profiles.get(cid, {})
        m = made.get(cid, {})
        v = vouchers.get(cid, {})
        out[cid] = Evidence(
            refuses_rewards=bool(p.get("refuses_rewards", False)),
            asked_for_help=p.get("asked_for_help", "") or "",
            referrals=m.get("total", 0),
            referrals_last_year=m.get("year", 0),
            rewards_issued=v.get("issued", 0),
            rewards_redeemed=v.get("redeemed", 0),
        )
    return out


def referrer_profile_get(viewer: User, customer_id: int) -> ReferrerProfile | None:
    """The customer's profile (None when none was set yet); NotFound outside the viewer's scope."""
    from huitou.customers.selectors import customer_get

    customer = customer_get(viewer, customer_id)
    return ReferrerProfile.objects.filter(customer_id=customer.pk).select_related("set_by").first()


# ---------------------------------------------------------------------------------------------
# Setting the type


@transaction.atomic
def referrer_type_set(
    *,
    actor: User,
    customer_id: int,
    referrer_type: str,
    refuses_rewards: bool | None = None,
    asked_for_help: str | None = None,
    note: str | None = None,
    version: int | None = None,
) -> ReferrerProfile:
    """Set a customer's referrer type ("" clears it) and, where given, what was seen of them.

    The profile is created on the first set. ``version`` is the profile version the actor read
    (0: they saw none yet); a different one on the server raises Conflict. None skips the check.
    """
    from huitou.customers.models import Customer
    from huitou.customers.selectors import customer_queryset

    # Locking the customer serialises the first set (the profile's creation) of two people at once.
    customer = customer_queryset(actor).select_for_update(of=("self",)).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("customer")
    if not can_set_type(actor):
        raise PermissionDenied("only the customer's rep, a manager or the owner set the referrer type")
    errors: dict[str, list[str]] = {}
    if referrer_type and referrer_type not in ReferrerType.values:
        errors["referrer_type"] = ["not a valid choice"]
    if asked_for_help is not None:
        asked_for_help = asked_for_help.strip()
        if len(asked_for_help) > ASKED_MAX:
            errors["asked_for_help"] = [f"at most {ASKED_MAX} characters"]
    if note is not None:
        note = note.strip()
        if len(note) > NOTE_MAX:
            errors["note"] = [f"at most {NOTE_MAX} characters"]
    if version is not None and version < 0:
        errors["version"] = ["must not be negative"]
    if errors:
        raise ValidationFailed(errors)
    assert isinstance(customer, Customer)

    changes: dict[str, Any] = {"referrer_type": referrer_type, "set_by": actor}
    if refuses_rewards is not None:
        changes["refuses_rewards"] = refuses_rewards
    if asked_for_help is not None:
        changes["asked_for_help"] = asked_for_help
    if note is not None:
        changes["note"] = note

    profile = ReferrerProfile.objects.filter(customer_id=customer.pk).first()
    if profile is None:
        if version not in (None, 0):
            raise Conflict("referrer profile")
        try:
            with transaction.atomic():
                return ReferrerProfile.objects.create(
                    organisation_id=customer.organisation_id, customer=customer, **changes
                )
        except IntegrityError as exc:  # created by someone else in between
            raise Conflict("referrer profile") from exc
    if version is not None and version != profile.version:
        raise Conflict("referrer profile")
    updated = ReferrerProfile.objects.filter(
        pk=profile.pk, **({"version": version} if version is not None else {})
    ).update(
        **{k: v for k, v in changes.items() if k != "set_by"},
        set_by=actor,
        version=F("version") + 1,
        updated_at=timezone.now(),
    )
    if not updated:
        raise Conflict("referrer profile")
    profile.refresh_from_db()
    return profile
