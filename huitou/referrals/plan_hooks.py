"""What the contact plan asks the referral system (``followups.plan``'s referral-ask trigger).

Kept here, not in the plan, so the rule "which referrals count" has one home: the plan filters with
this expression inside its own candidate query, set-based, without a query per customer.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q

from .models import COUNTED_STAGES, Referral, Review


def counted_referrals_q() -> Q:
    """Referrals that count toward quotas and rep rewards (``Referral.counts`` as a filter)."""
    return Q(stage__in=list(COUNTED_STAGES), review__in=[Review.NONE, Review.APPROVED])


def referral_quota_met(*, customer: str, since: Any, quota: int) -> Exists:
    """True for rows whose customer (the outer query's column ``customer``) has at least ``quota``
    counted referrals submitted at or after ``since`` (a datetime, or an expression of the outer
    query: ``OuterRef``/annotation name resolved by the caller).

    "At least N" is an ``EXISTS`` of the N-th row (``LIMIT 1 OFFSET N-1``): the database stops at
    the N-th referral of the customer, read from the ``(referrer, submitted_at)`` index.
    """
    if quota < 1:
        raise ValueError("quota must be at least 1")
    since_value = OuterRef(since) if isinstance(since, str) else since
    referrals = (
        Referral.objects.filter(counted_referrals_q(), referrer_id=OuterRef(customer))
        .filter(submitted_at__gte=since_value)
        .order_by()
        .values("pk")
    )
    return Exists(referrals[quota - 1 : quota])
