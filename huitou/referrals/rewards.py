"""Rewards for won referrals (DOMAIN §5): the referrer is thanked and rewarded, the referred
customer gets an offer of their own, and both wait out the refund window before a voucher is issued.

- ``referral_rewards_create`` runs inside the pipeline's win transaction. The unique constraint
  ``reward_once_per_referral`` makes it idempotent: a second call finds the rewards and does
  nothing else (no second thank-you).
- The referrer's value is the policy's ``reward_value``, or the highest ``reward_tiers`` entry
  whose ``min_won`` is reached by the referrer's won referrals, this one included. A referrer who
  refuses rewards (an honour-seeker) gets a ``declined`` reward: thanks, no voucher.
- ``release_on`` is the won purchase's date (or today) plus ``reward_hold_days``; a reward due by
  today is issued at once, the others by the morning job ``rewards_release``.
- The customer is told by SMS as a service message; one who opted out of SMS (退订) gets no SMS:
  their rep gets a call task instead.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from huitou.accounts import permissions
from huitou.core.errors import HuitouError, ValidationFailed
from huitou.customers.models import Activity, Customer

from .models import Referral, ReferrerProfile, Review, Reward, Stage, Voucher
from .vouchers import VoucherSpec, code_display, vouchers_issue, vouchers_void_for_referral

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User
    from huitou.accounts.policy import ReferralPolicy

logger = logging.getLogger(__name__)

RELEASE_CHUNK = 200

# Compound surnames: the SMS names the referred person by surname only (欧阳先生/女士, not 欧).
_COMPOUND = (
    "欧阳司马上官诸葛东方皇甫尉迟公孙慕容长孙宇文司徒令狐夏侯轩辕"
    "端木独孤南宫西门百里呼延闻人澹台公冶太史申屠钟离万俟赫连拓跋"
)
_COMPOUND_SURNAMES = frozenset(_COMPOUND[i : i + 2] for i in range(0, len(_COMPOUND), 2))

# Customer-facing SMS are written in Chinese, like the contact plan's default templates.
_REWARD_TEXT: dict[str, str] = {
    Voucher.Kind.MAINTENANCE: "价值{value}元的免费保养券",
    Voucher.Kind.GIFT: "价值{value}元的精品礼品券",
    Voucher.Kind.OFFER: "价值{value}元的专属优惠券",
}


def surname(name: str) -> str:
    name = (name or "").strip()
    if not name:
        return ""
    if name[:2] in _COMPOUND_SURNAMES:
        return name[:2]
    if name.isascii():
        return name.split()[-1]
    return name[:1]


def _yuan(value: Decimal) -> str:
    v = Decimal(value)
    return f"{v:.0f}" if v == v.to_integral_value() else f"{v:.2f}"


def _cn_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def reward_text(kind: str, value: Decimal) -> str:
    return _REWARD_TEXT.get(kind, "价值{value}元的礼券").format(value=_yuan(value))


def tier_value(policy: ReferralPolicy, won: int) -> Decimal:
    """The referrer's reward when this is their ``won``-th won referral."""
    reached = [t for t in policy.reward_tiers if t.min_won <= won]
    if not reached:
        return Decimal(policy.reward_value)
    return Decimal(max(reached, key=lambda t: t.min_won).value)


def _won_count(referral: Referral) -> int:
    return Referral.objects.filter(
        referrer_id=referral.referrer_id,
        stage=Stage.WON,
        faked=False,
        review__in=[Review.NONE, Review.APPROVED],
    ).count()


def _store_name(referral: Referral, customer: Customer) -> str:
    store = referral.store or customer.store
    return store.name if store is not None else referral.organisation.name


def _opted_out_of_sms(customer_ids: list[int]) -> set[int]:
    from huitou.followups.models import Channel
    from huitou.followups.outbox.services import marketing_consent

    state = marketing_consent(customer_ids, Channel.SMS)
    return {cid for cid, granted in state.items() if granted is False}


def _call_task(
    *, customer: Customer, referral: Referral, actor: User | None, today: dt.date, title: str, script: str
) -> bool:
    """A call task for the customer's rep (else the lead's rep, else the actor) instead of an SMS."""
    from huitou.followups.models import Channel, Purpose
    from huitou.followups.services import task_create

    candidates = [customer.owner, referral.rep, actor]
    due_on = max(today, timezone.localdate())
    for person in candidates:
        if person is None or not permissions.is_active_member(person):
            continue
        try:
            task_create(
                actor=person,
                customer_id=customer.pk,
                kind=Channel.CALL,
                title=title[:200],
                script=script,
                due_on=due_on,
                purpose=Purpose.SERVICE,
                priority=60,
            )
        except HuitouError:
            continue  # not this person's customer (or role): try the next one
        return True
    logger.warning("no one to call customer %s about referral %s", customer.pk, referral.pk)
    return False


def _sms(*, organisation: Organisation, customer: Customer, body: str, key: str) -> None:
    from huitou.followups.models import Channel, Purpose
    from huitou.followups.outbox.services import message_queue

    message_queue(
        organisation=organisation,
        customer=customer,
        channel=Channel.SMS,
        purpose=Purpose.SERVICE,
        body=body,
        idempotency_key=key,
    )


def _reachable(customer: Customer) -> bool:
    return customer.status != Customer.Status.ERASED


# ---------------------------------------------------------------------------------------------
# Create


def _create_once(**fields: Any) -> tuple[Reward, bool]:
    try:
        with transaction.atomic():
            return Reward.objects.create(**fields), True
    except IntegrityError:
        found = Reward.objects.filter(referral=fields["referral"], beneficiary=fields["beneficiary"]).first()
        if found is None:
            raise
        return found, False


def referral_rewards_create(
    *, referral: Referral, actor: User | None, now: dt.datetime | None = None
) -> list[Reward]:
    """The rewards of a won referral, created once; the referrer is thanked on the first call."""
    if referral.stage != Stage.WON:
        raise ValidationFailed({"stage": ["only a won referral earns rewards"]})
    now = now or timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        referral = Referral.objects.select_related(
            "organisation",
            "referrer",
            "referrer__store",
            "referrer__owner",
            "store",
            "rep",
            "customer",
            "won_purchase",
        ).get(pk=referral.pk)
        organisation = referral.organisation
        policy = organisation.policy.referrals
        existing = {r.beneficiary: r for r in Reward.objects.filter(referral=referral)}
        for r in existing.values():
            r.referral = referral
        start = referral.won_purchase.ordered_on if referral.won_purchase is not None else today
        release_on = start + dt.timedelta(days=policy.reward_hold_days)
        rewards: list[Reward] = []
        new_referrer: Reward | None = None
        fresh: list[Reward] = []  # created by this call: only these may be issued here

        referrer_reward = existing.get(Reward.Beneficiary.REFERRER)
        if referrer_reward is None:
            declines = ReferrerProfile.objects.filter(
                customer_id=referral.referrer_id, refuses_rewards=True
            ).exists()
            referrer_reward, created = _create_once(
                organisation=organisation,
                referral=referral,
                beneficiary=Reward.Beneficiary.REFERRER,
                customer=referral.referrer,
                kind=policy.reward_kind,
                value=tier_value(policy, _won_count(referral)),
                status=Reward.Status.DECLINED if declines else Reward.Status.HELD,
                release_on=release_on,
            )
            if created:
                new_referrer = referrer_reward
                fresh.append(referrer_reward)
        rewards.append(referrer_reward)

        referred_reward = existing.get(Reward.Beneficiary.REFERRED)
        if (
            referred_reward is None
            and referral.customer is not None
            and Decimal(policy.referred_offer_value) > 0
        ):
            referred_reward, created = _create_once(
                organisation=organisation,
                referral=referral,
                beneficiary=Reward.Beneficiary.REFERRED,
                customer=referral.customer,
                kind=Voucher.Kind.OFFER,
                value=Decimal(policy.referred_offer_value),
                status=Reward.Status.HELD,
                release_on=release_on,
            )
            if created:
                fresh.append(referred_reward)
        if referred_reward is not None:
            rewards.append(referred_reward)

        if new_referrer is not None:
            _thank_referrer(referral=referral, reward=new_referrer, actor=actor, today=today)
        # Older held rewards are the morning release's: it holds their row locks.
        due = [r for r in fresh if r.status == Reward.Status.HELD and r.release_on <= today]
        if due:
            _issue(due, organisation=organisation, actor=actor, now=now)
    return rewards


def _thank_referrer(*, referral: Referral, reward: Reward, actor: User | None, today: dt.date) -> None:
    referrer = referral.referrer
    store = _store_name(referral, referrer)
    who = surname(referral.name)
    declined = reward.status == Reward.Status.DECLINED
    text = reward_text(reward.kind, reward.value)
    if declined:
        body = (
            f"{referrer.name}您好!您推荐的{who}先生/女士已在{store}购车,衷心感谢您的信任与推荐!"
            "您的口碑是对我们最大的肯定。"
        )
    elif reward.release_on <= today:
        body = (
            f"{referrer.name}您好!您推荐的{who}先生/女士已在{store}购车,衷心感谢您的信任与推荐!"
            f"您的推荐答谢礼({text})已发放,券码随后以短信告知。"
        )
    else:
        body = (
            f"{referrer.name}您好!您推荐的{who}先生/女士已在{store}购车,衷心感谢您的信任与推荐!"
            f"您的推荐答谢礼({text})将于{_cn_date(reward.release_on)}发放,届时券码将以短信告知。"
        )

    told = ""
    if _reachable(referrer):
        if referrer.phone and referrer.pk not in _opted_out_of_sms([referrer.pk]):
            _sms(
                organisation=referral.organisation,
                customer=referrer,
                body=body,
                key=f"referral:{referral.pk}:thanks",
            )
            told = "sms"
        else:
            with translation.override(settings.LANGUAGE_CODE):
                title = _("Call %(name)s: thank them for referring %(referred)s") % {
                    "name": referrer.name,
                    "referred": referral.name,
                }
                if declined:
                    after = _(
                        "They decline rewards: offer honour instead (an award, a mention at the next event)."
                    )
                else:
                    after = _("Their reward (%(text)s) will be issued on %(date)s.") % {
                        "text": text,
                        "date": reward.release_on.isoformat(),
                    }
                script = _("%(referred)s, whom they referred, has bought. Thank them warmly.") % {
                    "referred": referral.name
                }
                script = f"{script} {after}"
            if _call_task(
                customer=referrer, referral=referral, actor=actor, today=today, title=title, script=script
            ):
                told = "call"
    _timeline(referral=referral, reward=reward, actor=actor, told=told)


def _timeline(*, referral: Referral, reward: Reward, actor: User | None, told: str) -> None:
    from huitou.customers.services import activity_log

    referrer = referral.referrer
    writer = actor if actor is not None and permissions.is_active_member(actor) else referrer.owner
    if writer is None:
        return
    with translation.override(settings.LANGUAGE_CODE):
        if reward.status == Reward.Status.DECLINED:
            subject = _("Referral won: %(name)s bought. Thanked; declines rewards.") % {"name": referral.name}
        else:
            subject = _("Referral won: %(name)s bought. Reward: %(kind)s ¥%(value)s from %(date)s.") % {
                "name": referral.name,
                "kind": Voucher.Kind(reward.kind).label
                if reward.kind in Voucher.Kind.values
                else reward.kind,
                "value": _yuan(reward.value),
                "date": reward.release_on.isoformat(),
            }
        body = {
            "sms": _("Told and thanked by SMS."),
            "call": _("Opted out of SMS: a call task was made to thank them."),
        }.get(told, "")
    activity_log(
        actor=writer,
        customer_id=referrer.pk,
        customer=referrer,
        kind=Activity.Kind.REFERRAL,
        subject=subject,
        body=str(body),
    )


# ---------------------------------------------------------------------------------------------
# Issue (at once, or by the morning release)


def _issue(rewards: list[Reward], *, organisation: Organisation, actor: User | None, now: dt.datetime) -> int:
    """Issue the vouchers of held rewards the caller has locked (or just created)."""
    vouchers = vouchers_issue(
        organisation=organisation,
        specs=[
            VoucherSpec(customer=r.customer, kind=r.kind, value=r.value, referral=r.referral) for r in rewards
        ],
        actor=actor,
        now=now,
    )
    for reward, voucher in zip(rewards, vouchers, strict=True):
        reward.voucher = voucher
        reward.status = Reward.Status.ISSUED
    Reward.objects.bulk_update(rewards, ["voucher", "status"])
    opted_out = _opted_out_of_sms(sorted({r.customer_id for r in rewards}))
    today = timezone.localdate(now)
    for reward, voucher in zip(rewards, vouchers, strict=True):
        _tell_voucher(
            reward=reward,
            voucher=voucher,
            opted_out=reward.customer_id in opted_out,
            actor=actor,
            today=today,
        )
    return len(vouchers)


def _tell_voucher(
    *, reward: Reward, voucher: Voucher, opted_out: bool, actor: User | None, today: dt.date
) -> None:
    customer = reward.customer
    if not _reachable(customer):
        return
    referral = reward.referral
    store = _store_name(referral, customer)
    text = reward_text(voucher.kind, voucher.value)
    code = code_display(voucher.code)
    until = _cn_date(voucher.expires_on)
    if reward.beneficiary == Reward.Beneficiary.REFERRER:
        body = (
            f"{customer.name}您好!感谢您的推荐,您的{text}已发放,券码{code},有效期至{until},"
            f"请到{store}服务台出示券码或二维码使用。"
        )
    else:
        body = (
            f"{customer.name}您好!欢迎成为{store}的车主,您的{text}已发放,券码{code},有效期至{until},"
            "请到店出示券码或二维码使用。"
        )
    if customer.phone and not opted_out:
        _sms(
            organisation=referral.organisation,
            customer=customer,
            body=body,
            key=f"reward:{reward.pk}:voucher",
        )
        return
    with translation.override(settings.LANGUAGE_CODE):
        title = _("Call %(name)s: tell them their voucher code") % {"name": customer.name}
        script = _("Their voucher (%(text)s) has been issued: code %(code)s, valid until %(date)s.") % {
            "text": text,
            "code": code,
            "date": voucher.expires_on.isoformat(),
        }
    _call_task(customer=customer, referral=referral, actor=actor, today=today, title=title, script=script)


def rewards_release(*, organisation: Organisation | None = None, today: dt.date | None = None) -> int:
    """Issue the voucher of every held reward due by ``today`` whose referral is still won.

    Chunks of ``RELEASE_CHUNK`` rewards, each in its own transaction, claimed with ``SELECT … FOR
    UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's write transactions are serialised), so two runs
    at once never issue a voucher twice and a second run finds nothing left to do.
    """
    from huitou.accounts.models import Organisation as OrganisationModel

    now = timezone.now()
    today = today or timezone.localdate(now)
    orgs = (
        [organisation]
        if organisation is not None
        else list(OrganisationModel.objects.filter(pk__in=_orgs_with_due(today)).order_by("pk"))
    )
    total = 0
    for org in orgs:
        while True:
            with transaction.atomic():
                chunk = list(
                    Reward.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related(
                        "customer", "customer__store", "customer__owner", "referral", "referral__store"
                    )
                    .filter(
                        organisation_id=org.pk,
                        status=Reward.Status.HELD,
                        release_on__lte=today,
                        referral__stage=Stage.WON,
                    )
                    .order_by("pk")[:RELEASE_CHUNK]
                )
                if not chunk:
                    break
                for r in chunk:
                    r.referral.organisation = org
                total += _issue(chunk, organisation=org, actor=None, now=now)
    return total


def _orgs_with_due(today: dt.date) -> list[int]:
    return list(
        Reward.objects.filter(status=Reward.Status.HELD, release_on__lte=today)
        .order_by()
        .values_list("organisation_id", flat=True)
        .distinct()
    )


# ---------------------------------------------------------------------------------------------
# Cancel


@transaction.atomic
def referral_rewards_cancel(
    *, referral: Referral, actor: User | None, reason: str, now: dt.datetime | None = None
) -> int:
    """Undo the rewards of a sale undone in the refund window: held rewards are cancelled, the
    referral's outstanding vouchers voided with ``reason``. Redeemed ones stay as they are.
    Returns how many rewards and vouchers were changed."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": ["Say why the rewards are cancelled."]})
    now = now or timezone.now()
    cancelled = Reward.objects.filter(referral_id=referral.pk, status=Reward.Status.HELD).update(
        status=Reward.Status.CANCELLED
    )
    voided = vouchers_void_for_referral(referral_id=referral.pk, actor=actor, reason=reason, now=now)
    return cancelled + voided


def rewards_by_referral(referral_ids: list[int]) -> dict[int, list[Reward]]:
    """Rewards of several referrals in one query (for the pipeline's detail pages)."""
    out: dict[int, list[Reward]] = defaultdict(list)
    for r in Reward.objects.filter(referral_id__in=referral_ids).select_related("voucher").order_by("pk"):
        out[r.referral_id].append(r)
    return dict(out)
