"""Personal data held by the referral system, for the PIPL export and erasure of a customer.

Registered with ``huitou.customers.privacy`` from ``ReferralsConfig.ready``. A referral names a
third person: the referrer's export shows whom they referred (name, relation, stage) but not that
person's phone; the referred person's own export has what was entered about them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Concat

from .models import Referral, ReferrerProfile, Voucher

ERASED_NAME = "(erased)"


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value) if value is not None else None


def _rows(qs: Any, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {k: v if isinstance(v, int | bool | str) else _plain(v) for k, v in r.items()}
        for r in qs.values(*fields)
    ]


def referrals_personal_data(customer_ids: list[int]) -> dict[str, Any]:
    return {
        "referrals_made": _rows(
            Referral.objects.filter(referrer_id__in=customer_ids).order_by("submitted_at", "pk"),
            ("submitted_at", "name", "relation", "interest", "channel", "stage"),
        ),
        "referred_as": _rows(
            Referral.objects.filter(customer_id__in=customer_ids).order_by("submitted_at", "pk"),
            ("submitted_at", "name", "phone", "wechat", "city", "relation", "interest", "note", "stage"),
        ),
        "vouchers": _rows(
            Voucher.objects.filter(customer_id__in=customer_ids).order_by("issued_at", "pk"),
            ("code", "kind", "value", "status", "issued_at", "expires_on", "redeemed_at"),
        ),
        "referrer_profile": _rows(
            ReferrerProfile.objects.filter(customer_id__in=customer_ids),
            ("referrer_type", "refuses_rewards", "asked_for_help", "note"),
        ),
    }


def referrals_erase(customer_ids: list[int]) -> None:
    """Blank what was entered about the person as a referred lead; the referral still counts."""
    # The phone takes a unique placeholder: it is part of the one-claim-per-phone constraints.
    Referral.objects.filter(customer_id__in=customer_ids).update(
        name=ERASED_NAME,
        phone=Concat(Value("erased:"), F("pk")),
        wechat="",
        city="",
        note="",
        interest="",
        audit_note="",
    )
    ReferrerProfile.objects.filter(customer_id__in=customer_ids).update(asked_for_help="", note="")
