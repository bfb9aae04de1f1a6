"""Writes of the outbox: queue, cancel and retry messages, send them, record what the providers
report back, honour opt-outs, and gather letters and cards into print batches.

The sender sends whatever is queued, however it got there (``message_queue`` or the daily plan's
bulk insert). Rules it keeps whatever the row says:

- a message is claimed with a conditional UPDATE (``queued`` → ``sending``, only rows still
  queued), committed before the provider is called, so two workers never send it twice;
- marketing needs a granted consent for the channel at send time too: an opt-out that arrives
  after queueing still stops the message (it becomes ``suppressed``);
- a temporary provider error puts the message back in the queue with exponential back-off, a
  permanent one (or too many attempts) fails it; a worker that died mid-send leaves a ``sending``
  row whose lease (``next_attempt_at``) runs out, and the row is tried again;
- letters and cards are never "sent" here: they wait for a print batch.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
import smtplib
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formataddr, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, ValidationFailed
from huitou.core.phones import InvalidPhone, normalize_phone
from huitou.customers.models import Consent, Customer, CustomerPhone
from huitou.customers.services import consent_set

from ..models import MESSAGE_CHANNELS, PRINT_CHANNELS, Channel, ContactRule, Message, PrintBatch, Purpose
from ..pace import CONSENT_CHANNEL, in_quiet_hours, quiet_hours_shift
from . import selectors
from .providers import SendError, SmsRequest, sms_provider

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User

logger = logging.getLogger("huitou.outbox")

# Channels the sender delivers itself; letters and cards go to print batches.
SEND_CHANNELS = frozenset({Channel.SMS, Channel.EMAIL})
UNSUBSCRIBE_SALT = "huitou.outbox.unsubscribe"
PRINT_PROVIDER = "print"
EMAIL_PROVIDER = "email"


def _conf(key: str) -> Any:
    return settings.OUTBOX[key]


# ---------------------------------------------------------------- addresses and consent


def postal_address(customer: Customer) -> str:
    """The postal address in Chinese order (province, city, street), without repeating parts
    already written in the street address."""
    street = customer.address.strip()
    if not street:
        return ""
    head = "".join(part for part in (customer.province, customer.city) if part and part not in street)
    return head + street


def address_for(customer: Customer, channel: str) -> str:
    if channel == Channel.SMS:
        return customer.phone
    if channel == Channel.EMAIL:
        return customer.email.strip()
    if channel in PRINT_CHANNELS:
        return postal_address(customer)
    return ""


NO_ADDRESS = {
    Channel.SMS: "no mobile phone number",
    Channel.EMAIL: "no e-mail address",
    Channel.LETTER: "no postal address",
    Channel.CARD: "no postal address",
}


def marketing_consent(customer_ids: Iterable[int], channel: str) -> dict[int, bool | None]:
    """Consent state per customer for a marketing touch on ``channel``: True granted, False
    withdrawn, None never recorded (both of the latter forbid marketing)."""
    ids = list(customer_ids)
    consent_channel = CONSENT_CHANNEL.get(channel)
    state: dict[int, bool | None] = dict.fromkeys(ids)
    if consent_channel is None:
        return dict.fromkeys(ids, True)
    for cid, granted in Consent.objects.filter(customer_id__in=ids, channel=consent_channel).values_list(
        "customer_id", "granted"
    ):
        state[cid] = granted
    return state


def _suppression_reason(channel: str, state: bool | None) -> str:
    consent_channel = CONSENT_CHANNEL.get(channel) or channel
    if state is False:
        return f"opted out of {consent_channel}"
    return f"no marketing consent for {consent_channel}"


# ---------------------------------------------------------------- unsubscribe links


def unsubscribe_token(*, customer_id: int, channel: str) -> str:
    """A signed token naming one customer and one consent channel (sms, email, letter)."""
    return signing.dumps({"c": int(customer_id), "ch": channel}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_read(token: str) -> tuple[int, str]:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        customer_id, channel = int(data["c"]), str(data["ch"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed({"token": ["this link is not valid"]}) from exc
    if channel not in Consent.Channel.values:
        raise ValidationFailed({"token": ["this link is not valid"]})
    return customer_id, channel


def unsubscribe_url(*, customer_id: int, channel: str) -> str:
    """The absolute opt-out link for marketing messages (``/plan/u/<token>/``)."""
    token = unsubscribe_token(customer_id=customer_id, channel=channel)
    path = reverse("followups:unsubscribe", args=[token])
    return str(_conf("PUBLIC_URL")).rstrip("/") + path


# ---------------------------------------------------------------- queueing


def _tz() -> dt.tzinfo:
    return timezone.get_default_timezone()


def _in_scope(user: User, customer: Customer) -> bool:
    return Customer.objects.filter(permissions.customer_scope(user), pk=customer.pk).exists()


def _existing(key: str, customer: Customer, rule: ContactRule | None, occurrence: str) -> Message | None:
    found = Message.objects.filter(idempotency_key=key).first()
    if found is None and rule is not None:
        found = Message.objects.filter(customer=customer, rule=rule, occurrence=occurrence).first()
    return found


@transaction.atomic
def message_queue(
    *,
    organisation: Organisation,
    customer: Customer,
    channel: str,
    purpose: str,
    body: str,
    subject: str = "",
    template_code: str = "",
    params: dict[str, Any] | None = None,
    rule: ContactRule | None = None,
    occurrence: str = "",
    scheduled_for: dt.datetime | None = None,
    created_by: User | None = None,
    idempotency_key: str | None = None,
) -> Message:
    """Put one message in the outbox and return it.

    The address comes from the customer (phone, e-mail or postal address); marketing without a
    granted consent for the channel is stored ``suppressed`` with the reason, and a customer
    without an address gives a ``failed`` row saying so (retry it once the address is known).
    SMS and e-mail are moved out of the organisation's quiet hours. An idempotency key (or a
    rule and occurrence) already used returns the existing message unchanged.
    """
    errors: dict[str, list[str]] = {}
    if channel not in MESSAGE_CHANNELS:
        errors["channel"] = [f"not an outbox channel: {channel!r}"]
    if purpose not in Purpose.values:
        errors["purpose"] = [f"unknown purpose {purpose!r}"]
    if customer.organisation_id != organisation.pk:
        errors["customer"] = ["not in this organisation"]
    if rule is not None and rule.organisation_id != organisation.pk:
        errors["rule"] = ["not in this organisation"]
    if not body.strip() and not template_code:
        errors["body"] = ["required"]
    if scheduled_for is not None and timezone.is_naive(scheduled_for):
        errors["scheduled_for"] = ["needs a time zone"]
    if errors:
        raise ValidationFailed(errors)
    if created_by is not None and not _in_scope(created_by, customer):
        raise NotFound("customer")

    key = idempotency_key or (
        f"rule:{rule.pk}:{customer.pk}:{occurrence}" if rule is not None else f"msg:{uuid.uuid4().hex}"
    )
    existing = _existing(key, customer, rule, occurrence)
    if existing is not None:
        return existing

    now = timezone.now()
    when = scheduled_for or now
    if channel in SEND_CHANNELS:
        when = quiet_hours_shift(when, organisation.policy.contact, _tz())
    status, reason = Message.Status.QUEUED, ""
    to = address_for(customer, channel)
    if purpose == Purpose.MARKETING:
        state = marketing_consent([customer.pk], channel)[customer.pk]
        if state is not True:
            status, reason = Message.Status.SUPPRESSED, _suppression_reason(channel, state)
    if status == Message.Status.QUEUED and not to:
        status, reason = Message.Status.FAILED, NO_ADDRESS[Channel(channel)]

    message = Message(
        organisation=organisation,
        customer=customer,
        rule=rule,
        occurrence=occurrence,
        channel=channel,
        purpose=purpose,
        priority=rule.priority if rule is not None else 50,
        status=status,
        to=to,
        subject=subject[:200],
        body=body,
        template_code=template_code or (rule.sms_template_code if rule is not None else ""),
        params=params or {},
        idempotency_key=key,
        last_error=reason,
        scheduled_for=when,
        created_by=created_by,
    )
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        # Someone (the plan, another worker) queued the same touch at the same moment.
        existing = _existing(key, customer, rule, occurrence)
        if existing is None:
            raise
        return existing
    if status == Message.Status.QUEUED and channel in SEND_CHANNELS and when <= now:
        pk = message.pk
        transaction.on_commit(lambda: _enqueue_send(pk))
    return message


def _enqueue_send(message_id: int) -> None:
    from .tasks import message_send_task

    message_send_task(message_id)


def _editable(actor: User, message_id: int) -> Message:
    """The message if the actor may change it: visible to them (else NotFound) — which already
    limits a rep to their own customers and leaves after-sales with nothing."""
    return selectors.message_get(actor, message_id)


@transaction.atomic
def message_cancel(*, actor: User, message_id: int) -> Message:
    """Cancel a queued or failed message. Cancelling twice is harmless; a message already on its
    way (sending) or gone (sent, delivered) cannot be cancelled."""
    message = _editable(actor, message_id)
    changed = Message.objects.filter(
        pk=message.pk, status__in=[Message.Status.QUEUED, Message.Status.FAILED]
    ).update(status=Message.Status.CANCELLED, next_attempt_at=None)
    message.refresh_from_db()
    if not changed and message.status != Message.Status.CANCELLED:
        if message.status == Message.Status.SENDING:
            raise Conflict("the message is being sent right now")
        raise ValidationFailed({"status": [f"a {message.status} message cannot be cancelled"]})
    return message


@transaction.atomic
def message_retry(*, actor: User, message_id: int) -> Message:
    """Put a failed message back in the queue with a fresh attempt count. The address is read
    again from the customer and marketing consent checked again, so a fixed address helps and a
    withdrawn consent still wins."""
    message = _editable(actor, message_id)
    if message.status != Message.Status.FAILED:
        raise ValidationFailed(
            {"status": [f"only a failed message can be retried, not a {message.status} one"]}
        )
    customer = message.customer
    to = address_for(customer, message.channel) or message.to
    status, reason = Message.Status.QUEUED, ""
    if message.purpose == Purpose.MARKETING:
        state = marketing_consent([customer.pk], message.channel)[customer.pk]
        if state is not True:
            status, reason = Message.Status.SUPPRESSED, _suppression_reason(message.channel, state)
    if status == Message.Status.QUEUED and not to:
        raise ValidationFailed({"to": [NO_ADDRESS[Channel(message.channel)]]})
    changed = Message.objects.filter(pk=message.pk, status=Message.Status.FAILED).update(
        status=status, to=to, attempts=0, next_attempt_at=None, last_error=reason
    )
    if not changed:
        raise Conflict("the message changed meanwhile")
    message.refresh_from_db()
    if (
        status == Message.Status.QUEUED
        and message.channel in SEND_CHANNELS
        and message.scheduled_for <= timezone.now()
    ):
        pk = message.pk
        transaction.on_commit(lambda: _enqueue_send(pk))
    return message


# ---------------------------------------------------------------- sending


def retry_delay(attempts: int) -> dt.timedelta:
    """Back-off after the ``attempts``-th failed try: base, 2×base, 4×base, … capped."""
    base, cap = int(_conf("RETRY_BASE_SECONDS")), int(_conf("RETRY_MAX_SECONDS"))
    return dt.timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def _due(now: dt.datetime) -> Q:
    return Q(
        status=Message.Status.QUEUED,
        channel__in=sorted(SEND_CHANNELS),
        scheduled_for__lte=now,
    ) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def message_claim(*, message_id: int, now: dt.datetime) -> bool:
    """Take one due message for sending. Only one caller ever gets True for a queued message:
    the UPDATE matches only while the row is still queued. ``next_attempt_at`` becomes the lease
    after which a crashed worker's message is tried again."""
    lease = now + dt.timedelta(seconds=int(_conf("SENDING_TIMEOUT_SECONDS")))
    claimed = Message.objects.filter(_due(now), pk=message_id).update(
        status=Message.Status.SENDING, attempts=F("attempts") + 1, next_attempt_at=lease
    )
    return claimed == 1


def messages_recover_stale(*, now: dt.datetime) -> int:
    """Messages whose sending lease ran out (the worker died): back to the queue, or failed when
    they used up their attempts."""
    stale = Q(status=Message.Status.SENDING, next_attempt_at__lte=now)
    limit = int(_conf("MAX_ATTEMPTS"))
    note = "the worker stopped while sending"
    failed = Message.objects.filter(stale, attempts__gte=limit).update(
        status=Message.Status.FAILED, next_attempt_at=None, last_error=note
    )
    requeued = Message.objects.filter(stale, attempts__lt=limit).update(
        status=Message.Status.QUEUED, next_attempt_at=now, last_error=note
    )
    return failed + requeued


def _email_domain() -> str:
    return urlsplit(str(_conf("PUBLIC_URL"))).hostname or "localhost"


def _send_email(message: Message) -> tuple[str, str]:
    customer = message.customer
    to = message.to or customer.email.strip()
    if not to:
        raise SendError("no e-mail address", code="no_address", temporary=False)
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    sender = formataddr((message.organisation.name or name, address))
    message_id = make_msgid(idstring=f"m{message.pk}", domain=_email_domain())
    headers = {"Message-ID": message_id, "X-Huitou-Key": message.idempotency_key}
    text = message.body
    html_body = "<p>" + html.escape(message.body).replace("\n", "<br>") + "</p>"
    if message.purpose == Purpose.MARKETING:
        url = unsubscribe_url(customer_id=customer.pk, channel="email")
        headers["List-Unsubscribe"] = f"<{url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        with translation.override(settings.LANGUAGE_CODE):
            label = _("Unsubscribe from these e-mails")
        text += f"\n\n--\n{label}: {url}"
        html_body += f'<hr><p><a href="{html.escape(url)}">{html.escape(label)}</a></p>'
    email = EmailMultiAlternatives(
        subject=message.subject or message.organisation.name,
        body=text,
        from_email=sender,
        to=[to],
        headers=headers,
    )
    email.attach_alternative(html_body, "text/html")
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendError(str(exc), code="recipient_refused", temporary=False) from exc
    except smtplib.SMTPResponseException as exc:
        temporary = 400 <= int(exc.smtp_code) < 500
        raise SendError(str(exc.smtp_error), code=str(exc.smtp_code), temporary=temporary) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError(str(exc), code=type(exc).__name__, temporary=True) from exc
    return EMAIL_PROVIDER, message_id


def sms_text(message: Message, suffix: str) -> str:
    """The SMS as the customer reads it: marketing ends with the provider's opt-out words."""
    text = message.body.rstrip()
    if message.purpose == Purpose.MARKETING and suffix and not text.endswith(suffix):
        text = f"{text} {suffix}" if text else suffix
    return text


def _send_sms(message: Message) -> tuple[str, str]:
    provider = sms_provider()
    phone = message.to or message.customer.phone
    if not phone:
        raise SendError("no mobile phone number", code="no_address", temporary=False)
    marketing = message.purpose == Purpose.MARKETING
    request = SmsRequest(
        phone=phone,
        text=sms_text(message, provider.opt_out_suffix),
        template_code=message.template_code,
        params=message.params if isinstance(message.params, dict | list) else {},
        out_id=message.idempotency_key,
        marketing=marketing,
        unsubscribe_url=unsubscribe_url(customer_id=message.customer_id, channel="sms") if marketing else "",
    )
    return provider.name, provider.send(request)


def _deliver(message: Message) -> tuple[str, str]:
    if message.channel == Channel.SMS:
        return _send_sms(message)
    if message.channel == Channel.EMAIL:
        return _send_email(message)
    raise SendError(f"{message.channel} is not sent by the outbox", code="channel", temporary=False)


def _send_claimed(message_id: int, now: dt.datetime) -> str:
    """Send a message this worker has claimed; returns the outcome."""
    message = Message.objects.select_related("customer", "organisation").get(pk=message_id)
    mine = Message.objects.filter(pk=message_id, status=Message.Status.SENDING)
    if message.purpose == Purpose.MARKETING:
        state = marketing_consent([message.customer_id], message.channel)[message.customer_id]
        if state is not True:
            mine.update(
                status=Message.Status.SUPPRESSED,
                next_attempt_at=None,
                last_error=_suppression_reason(message.channel, state),
            )
            return "suppressed"
    try:
        provider, provider_id = _deliver(message)
    except SendError as err:
        attempts = message.attempts
        if err.temporary and attempts < int(_conf("MAX_ATTEMPTS")):
            mine.update(
                status=Message.Status.QUEUED,
                next_attempt_at=now + retry_delay(attempts),
                last_error=str(err)[:500],
            )
            return "retry"
        mine.update(status=Message.Status.FAILED, next_attempt_at=None, last_error=str(err)[:500])
        return "failed"
    except Exception as exc:  # a bug or an SDK surprise: keep the message, try again later
        logger.exception("sending message %s failed", message_id)
        mine.update(
            status=Message.Status.QUEUED,
            next_attempt_at=now + retry_delay(message.attempts),
            last_error=f"{type(exc).__name__}: {exc}"[:500],
        )
        return "retry"
    mine.update(
        status=Message.Status.SENT,
        provider=provider[:32],
        provider_message_id=provider_id[:128],
        sent_at=now,
        next_attempt_at=None,
        last_error="",
    )
    return "sent"


def message_send(*, message_id: int, now: dt.datetime | None = None) -> str:
    """Send one message if it is due: "sent", "retry", "failed", "suppressed", "deferred" (quiet
    hours) or "skipped" (not due, not queued, or claimed by someone else)."""
    now = now or timezone.now()
    message = Message.objects.select_related("organisation").filter(pk=message_id).first()
    if message is None or message.channel not in SEND_CHANNELS:
        return "skipped"
    policy = message.organisation.policy.contact
    if in_quiet_hours(now.astimezone(_tz()), policy):
        Message.objects.filter(pk=message_id, status=Message.Status.QUEUED).update(
            next_attempt_at=quiet_hours_shift(now, policy, _tz())
        )
        return "deferred"
    if not message_claim(message_id=message_id, now=now):
        return "skipped"
    return _send_claimed(message_id, now)


def _quiet_organisations(org_ids: Iterable[int], now: dt.datetime) -> set[int]:
    from huitou.accounts.models import Organisation

    local = now.astimezone(_tz())
    return {
        org.pk
        for org in Organisation.objects.filter(pk__in=list(org_ids)).only("pk", "policy_data")
        if in_quiet_hours(local, org.policy.contact)
    }


@dataclass(frozen=True)
class SendSummary:
    recovered: int
    outcomes: dict[str, int]


def outbox_send_due(*, now: dt.datetime | None = None, limit: int | None = None) -> SendSummary:
    """Send what is due now: recover stale claims, skip organisations inside their quiet hours,
    then claim and send up to ``limit`` messages, oldest first."""
    now = now or timezone.now()
    recovered = messages_recover_stale(now=now)
    due = Message.objects.filter(_due(now))
    orgs = set(due.order_by().values_list("organisation_id", flat=True).distinct())
    quiet = _quiet_organisations(orgs, now)
    ids = list(
        due.exclude(organisation_id__in=quiet)
        .order_by("scheduled_for", "id")
        .values_list("pk", flat=True)[: limit or int(_conf("SEND_BATCH"))]
    )
    outcomes: Counter[str] = Counter()
    for pk in ids:
        if message_claim(message_id=pk, now=now):
            outcomes[_send_claimed(pk, now)] += 1
        else:
            outcomes["skipped"] += 1
    return SendSummary(recovered=recovered, outcomes=dict(outcomes))


# ---------------------------------------------------------------- what providers tell us


def delivery_report_record(
    *,
    provider: str,
    provider_message_id: str = "",
    out_id: str = "",
    delivered: bool,
    error: str = "",
    at: dt.datetime | None = None,
) -> int:
    """A provider's delivery report: the sent message becomes ``delivered`` or ``failed``.
    Matched by the provider's id, else by our idempotency key echoed back (``out_id``).
    Returns how many messages changed (0 for an unknown or repeated report)."""
    if provider_message_id:
        qs = Message.objects.filter(provider=provider, provider_message_id=provider_message_id)
    elif out_id:
        qs = Message.objects.filter(idempotency_key=out_id)
    else:
        return 0
    qs = qs.filter(status=Message.Status.SENT)
    if delivered:
        return qs.update(status=Message.Status.DELIVERED, delivered_at=at or timezone.now())
    return qs.update(status=Message.Status.FAILED, last_error=(error or "not delivered")[:500])


# Replies that mean "stop sending me marketing SMS" (the providers' suffixes ask for T or R).
OPT_OUT_WORDS = frozenset(
    {
        "T",
        "TD",
        "N",
        "R",
        "Q",
        "0000",
        "STOP",
        "UNSUBSCRIBE",
        "退订",
        "TD退订",
        "T退订",
        "回T退订",
        "退",
        "拒收",
    }
)
_NOT_WORD = re.compile(r"[\W_]+")


def is_opt_out_reply(text: str) -> bool:
    word = _NOT_WORD.sub("", text or "").upper()
    return word in OPT_OUT_WORDS or "退订" in word or "拒收" in word


def _suppress_queued_marketing(customer_ids: list[int], channels: Iterable[str], reason: str) -> int:
    return Message.objects.filter(
        customer_id__in=customer_ids,
        channel__in=list(channels),
        purpose=Purpose.MARKETING,
        status=Message.Status.QUEUED,
    ).update(status=Message.Status.SUPPRESSED, next_attempt_at=None, last_error=reason)


def _channels_of(consent_channel: str) -> list[str]:
    return [
        ch for ch, needed in CONSENT_CHANNEL.items() if needed == consent_channel and ch in MESSAGE_CHANNELS
    ]


@transaction.atomic
def inbound_sms_record(*, phone: str, text: str, provider: str = "") -> int:
    """An SMS reply from a customer. An opt-out word withdraws SMS consent for the customers of
    that number — in the organisations that have texted it (all of them if none has) — and
    suppresses their queued marketing SMS. Returns how many customers were opted out."""
    if not is_opt_out_reply(text):
        return 0
    try:
        e164 = normalize_phone(phone)
    except InvalidPhone:
        return 0
    ids = set(Customer.objects.filter(phone=e164).values_list("pk", flat=True))
    ids.update(CustomerPhone.objects.filter(number=e164).values_list("customer_id", flat=True))
    if not ids:
        return 0
    texted = set(
        Message.objects.filter(customer_id__in=ids, channel=Channel.SMS)
        .order_by()
        .values_list("organisation_id", flat=True)
        .distinct()
    )
    customers = Customer.objects.filter(pk__in=ids).exclude(status=Customer.Status.ERASED)
    if texted:
        customers = customers.filter(organisation_id__in=texted)
    chosen = list(customers.order_by("pk"))
    for customer in chosen:
        consent_set(actor=None, customer=customer, channel="sms", granted=False, source="sms_reply")
    _suppress_queued_marketing([c.pk for c in chosen], [Channel.SMS], "opted out of sms")
    logger.info("SMS opt-out from %s via %s: %d customers", e164[:-4] + "****", provider or "?", len(chosen))
    return len(chosen)


@transaction.atomic
def unsubscribe_confirm(*, token: str) -> Consent:
    """The customer confirmed the opt-out link: withdraw consent for that channel and suppress
    the marketing still queued on it."""
    customer_id, channel = unsubscribe_read(token)
    customer = Customer.objects.filter(pk=customer_id).exclude(status=Customer.Status.ERASED).first()
    if customer is None:
        raise ValidationFailed({"token": ["this link is not valid"]})
    consent = consent_set(
        actor=None, customer=customer, channel=channel, granted=False, source="unsubscribe_link"
    )
    _suppress_queued_marketing([customer.pk], _channels_of(channel), f"opted out of {channel}")
    return consent


# ---------------------------------------------------------------- print batches


def print_batch_create(
    *,
    actor: User,
    channel: str | None = None,
    message_ids: list[int] | None = None,
    now: dt.datetime | None = None,
) -> PrintBatch:
    """Gather the due letters and cards in the actor's scope (or only the ones named) into one
    print batch; they count as sent with it. Marketing without letter consent is suppressed
    instead. At most ``OUTBOX["PRINT_BATCH_MAX"]`` pages per batch, oldest first."""
    if not selectors.can_use_outbox(actor):
        raise NotFound("outbox")
    if channel and channel not in PRINT_CHANNELS:
        raise ValidationFailed({"channel": ["only letters and cards are printed"]})
    now = now or timezone.now()
    channels = [channel] if channel else sorted(PRINT_CHANNELS)
    qs = selectors.message_queryset(actor).filter(
        channel__in=channels, status=Message.Status.QUEUED, scheduled_for__lte=now, batch__isnull=True
    )
    if message_ids is not None:
        qs = qs.filter(pk__in=list(message_ids))
    rows = list(
        qs.order_by("scheduled_for", "id").values_list("pk", "customer_id", "purpose")[
            : int(_conf("PRINT_BATCH_MAX"))
        ]
    )
    marketing = [cid for _pk, cid, purpose in rows if purpose == Purpose.MARKETING]
    state = marketing_consent(marketing, Channel.LETTER)
    refused = [pk for pk, cid, purpose in rows if purpose == Purpose.MARKETING and state.get(cid) is not True]
    if refused:
        for pk, cid, _purpose in rows:
            if pk in refused:
                Message.objects.filter(pk=pk, status=Message.Status.QUEUED).update(
                    status=Message.Status.SUPPRESSED,
                    last_error=_suppression_reason(Channel.LETTER, state.get(cid)),
                )
    printable = [pk for pk, _cid, _purpose in rows if pk not in set(refused)]
    with transaction.atomic():
        batch = PrintBatch.objects.create(organisation_id=permissions.org_id(actor), created_by=actor)
        count = Message.objects.filter(
            pk__in=printable, status=Message.Status.QUEUED, batch__isnull=True
        ).update(status=Message.Status.SENT, batch=batch, sent_at=now, provider=PRINT_PROVIDER)
        if count == 0:
            raise ValidationFailed({"__all__": ["no letters or cards are due for printing"]})
        batch.count = count
        batch.save(update_fields=["count"])
    return batch


def print_batch_pdf(*, actor: User, batch_id: int) -> bytes:
    """The batch as one print-ready PDF, one page per letter (A4) or card (A5) the actor may see."""
    from .pdf import render_messages

    batch = selectors.print_batch_get(actor, batch_id)
    return render_messages(selectors.print_batch_messages(actor, batch))
