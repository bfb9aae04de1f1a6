"""Fraud rules of the referral system (DOMAIN §5), each switched on or off by policy.

A submission is checked against four rules: the referrer names themselves (self-referral), the
person already has a live claim by someone else (duplicate: the first valid referral wins), the
person is already in the organisation's archive (existing customer), and the referrer is over the
monthly cap. Any rule that fires puts the referral on the managers' review queue; none refuses it
outright, because a person at the desk should never have to argue with a form.

Each rule is an indexed lookup: the referrer's own numbers, ``ref_org_phone_idx`` for the claim,
``cust_phone_idx``/``customer_phone_number_idx`` for the archive, ``ref_referrer_idx`` for the cap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from huitou.customers.models import Customer, CustomerPhone

from .models import Flag, Referral, Stage

if TYPE_CHECKING:
    from huitou.accounts.policy import ReferralPolicy

FLAG_ORDER: list[str] = [Flag.SELF_REFERRAL, Flag.DUPLICATE, Flag.EXISTING_CUSTOMER, Flag.MONTHLY_CAP]


@dataclass
class Findings:
    """What the rules found for one submission. ``duplicate_of`` and ``customer_id`` are facts
    recorded whatever the policy says; ``flags`` only lists the rules the policy switches on."""

    flags: list[str] = field(default_factory=list)
    duplicate_of: int | None = None
    customer_id: int | None = None

    def add(self, flag: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)
            self.flags.sort(key=FLAG_ORDER.index)


def live_claim_q() -> Q:
    """The claim that holds a person: not itself a duplicate, not rejected (the partial unique
    constraint ``referral_one_live_claim_per_phone`` has the same condition)."""
    return Q(duplicate_of__isnull=True) & ~Q(stage=Stage.REJECTED)


def live_claim_id(*, organisation_id: int, phone: str) -> int | None:
    return (
        Referral.objects.filter(live_claim_q(), organisation_id=organisation_id, phone=phone)
        .values_list("pk", flat=True)
        .first()
    )


def is_self_referral(*, referrer: Customer, phone: str) -> bool:
    if referrer.phone == phone:
        return True
    return CustomerPhone.objects.filter(customer_id=referrer.pk, number=phone).exists()


def existing_customer_id(*, organisation_id: int, phone: str, referrer_id: int) -> int | None:
    """Another live (not merged, not erased) customer of the organisation with this number."""
    live = Q(organisation_id=organisation_id, merged_into__isnull=True) & ~Q(status=Customer.Status.ERASED)
    found = (
        Customer.objects.filter(live, phone=phone)
        .exclude(pk=referrer_id)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        found = (
            CustomerPhone.objects.filter(number=phone, customer__in=Customer.objects.filter(live))
            .exclude(customer_id=referrer_id)
            .order_by("customer_id")
            .values_list("customer_id", flat=True)
            .first()
        )
    return found


def month_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month of ``now`` in the local time zone, as [start, end)."""
    local = timezone.localtime(now)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


def referrals_this_month(*, referrer_id: int, now: dt.datetime) -> int:
    start, end = month_bounds(now)
    return Referral.objects.filter(
        referrer_id=referrer_id, submitted_at__gte=start, submitted_at__lt=end
    ).count()


def assess(*, policy: ReferralPolicy, referrer: Customer, phone: str, now: dt.datetime) -> Findings:
    found = Findings()
    org_id = int(referrer.organisation_id)
    self_referral = is_self_referral(referrer=referrer, phone=phone)
    if self_referral and policy.flag_self_referral:
        found.add(Flag.SELF_REFERRAL)
    found.duplicate_of = live_claim_id(organisation_id=org_id, phone=phone)
    if found.duplicate_of is not None and policy.flag_duplicate:
        found.add(Flag.DUPLICATE)
    found.customer_id = existing_customer_id(organisation_id=org_id, phone=phone, referrer_id=referrer.pk)
    if found.customer_id is not None and policy.flag_existing_customer:
        found.add(Flag.EXISTING_CUSTOMER)
    if policy.monthly_cap and referrals_this_month(referrer_id=referrer.pk, now=now) >= policy.monthly_cap:
        found.add(Flag.MONTHLY_CAP)
    return found


def explain(referral: Referral, *, policy: ReferralPolicy) -> list[str]:
    """The flags of a referral in words, for the review queue and the lead page.

    Reads ``duplicate_of`` from the instance: load it with ``select_related`` when explaining a list.
    """
    out: list[str] = []
    for flag in referral.flags or []:
        if flag == Flag.SELF_REFERRAL:
            out.append(_("The phone number is the referrer's own."))
        elif flag == Flag.DUPLICATE:
            original = referral.duplicate_of
            if original is None:
                out.append(_("This person was already referred by someone else."))
            else:
                # No names: the first claim's referrer may be outside the reader's scope.
                out.append(
                    _(
                        "Already referred on %(date)s (referral #%(id)s, %(stage)s); "
                        "the first valid referral wins."
                    )
                    % {
                        "date": timezone.localdate(original.submitted_at).isoformat(),
                        "id": original.pk,
                        "stage": original.get_stage_display(),
                    }
                )
        elif flag == Flag.EXISTING_CUSTOMER:
            if referral.customer_id is not None:
                out.append(
                    _("Already in the customer archive (customer #%(id)s).") % {"id": referral.customer_id}
                )
            else:
                out.append(_("Already in the customer archive."))
        elif flag == Flag.MONTHLY_CAP:
            out.append(
                _("The referrer had already reached the monthly cap of %(cap)s referrals.")
                % {"cap": policy.monthly_cap}
            )
    return out
