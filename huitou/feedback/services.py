"""Writes of the survey side: seeding and editing templates, the invitations owed after each sale,
workshop visit or closed complaint, sending them, and recording the answers (web form or phone).

Rules kept here, whoever calls:

- one invitation per event and template (unique constraints), so the daily job may run any
  number of times; it inserts set-based and skips events already invited;
- the survey link is a signed token naming the invitation; it is valid until the invitation's
  ``expires_at`` and answers it once (a DCRC call on an answered event is an *audit*);
- the person who served the customer never takes that customer's survey on the phone;
- any low answer needs a reason and opens a complaint ticket (``tickets.ticket_from_survey``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone, translation

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.core.months import month_first as month_start

from . import access
from .defaults import DEFAULT_TEMPLATES, INVITATION_SUBJECT, INVITATION_TEXT
from .models import (
    OVERALL,
    SCORE_RANGE,
    TOP_BOX,
    Answer,
    Question,
    QuestionKind,
    ResponseChannel,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
    SurveyTemplate,
    Ticket,
)

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User

    from .policy import FeedbackPolicy

SURVEY_SALT = "huitou.feedback.survey"
LINK_ERRORS = {"expired": "this survey link has expired", "cancelled": "this survey was cancelled"}
INSERT_BATCH = 1000
SEND_BATCH = 500
TEXT_MAX = 2000


def site_text(text: str, **params: Any) -> str:
    """A text stored for everyone (timeline, seeded data, messages) is written in the site's
    language, not in that of whoever clicked."""
    with translation.override(settings.LANGUAGE_CODE):
        out = str(translation.gettext(text))
    return out % params if params else out


def _end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=timezone.get_current_timezone())


# ---------------------------------------------------------------------------------------------
# Templates


@transaction.atomic
def surveys_seed(*, organisation: Organisation) -> int:
    """Create the default templates this organisation does not have yet (by code). A default is
    seeded inactive when the organisation already runs its own template of that kind."""
    have = set(SurveyTemplate.objects.filter(organisation=organisation).values_list("code", flat=True))
    active_kinds = set(
        SurveyTemplate.objects.filter(organisation=organisation, active=True).values_list("kind", flat=True)
    )
    created = 0
    for spec in DEFAULT_TEMPLATES:
        if spec["code"] in have:
            continue
        template = SurveyTemplate.objects.create(
            organisation=organisation,
            code=spec["code"],
            kind=spec["kind"],
            name=site_text(spec["name"]),
            intro=site_text(spec["intro"]),
            active=spec["kind"] not in active_kinds,
        )
        active_kinds.add(spec["kind"])
        Question.objects.bulk_create(
            [
                Question(
                    template=template,
                    order=(i + 1) * 10,
                    factor=q["factor"],
                    text=site_text(q["text"]),
                    kind=q["kind"],
                    weight=q["weight"],
                    expectation=q.get("expectation", False),
                    required=q.get("required", True),
                )
                for i, q in enumerate(spec["questions"])
            ]
        )
        created += 1
    return created


def _template_for_edit(actor: User, template_id: int) -> SurveyTemplate:
    if not access.can_read_templates(actor):
        raise NotFound("survey template")
    try:
        template = SurveyTemplate.objects.select_for_update().get(
            pk=template_id, organisation_id=permissions.org_id(actor)
        )
    except (SurveyTemplate.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("survey template") from exc
    if not access.can_edit_templates(actor):
        raise PermissionDenied("only the owner edits surveys")
    return template


@transaction.atomic
def template_update(
    *, actor: User, template_id: int, name: str, intro: str, active: bool, version: int | None = None
) -> SurveyTemplate:
    template = _template_for_edit(actor, template_id)
    if version is not None and version != template.version:
        raise Conflict("this survey was changed by someone else; reload and try again")
    name = name.strip()
    if not name:
        raise ValidationFailed({"name": ["required"]})
    if active and not template.active:
        clash = SurveyTemplate.objects.filter(
            organisation_id=template.organisation_id, kind=template.kind, active=True
        ).exclude(pk=template.pk)
        if clash.exists():
            raise ValidationFailed({"active": ["another survey of this kind is active; deactivate it first"]})
    template.name, template.intro, template.active = name[:120], intro.strip(), active
    template.version += 1
    template.save(update_fields=["name", "intro", "active", "version", "updated_at"])
    return template


QUESTION_FIELDS = ("order", "factor", "text", "kind", "weight", "expectation", "required", "active")


def _question_clean(
    data: Mapping[str, Any], *, template: SurveyTemplate, instance: Question | None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(QUESTION_FIELDS)
    if unknown:
        raise ValidationFailed({f: ["unknown field"] for f in sorted(unknown)})
    out = dict(data)
    if "text" in out:
        out["text"] = str(out["text"] or "").strip()[:255]
        if not out["text"]:
            errors["text"] = ["required"]
    if "factor" in out:
        out["factor"] = str(out["factor"] or "").strip().lower()
        if not out["factor"] or not all(c.isalnum() or c in "_-" for c in out["factor"]):
            errors["factor"] = ["letters, digits, - and _ only"]
    kind = out.get("kind", instance.kind if instance else QuestionKind.SCALE5)
    if kind not in QuestionKind.values:
        errors["kind"] = ["not a valid choice"]
    if "weight" in out:
        try:
            weight = float(out["weight"])
        except (TypeError, ValueError):
            weight = -1.0
        if not 1 <= weight <= 5:
            errors["weight"] = ["between 1 and 5"]
    expectation = out.get("expectation", instance.expectation if instance else False)
    if expectation and kind != QuestionKind.SCALE5:
        errors["expectation"] = ["only a 5-level question can ask the expectation"]
    factor = out.get("factor", instance.factor if instance else "")
    if factor == OVERALL and kind == QuestionKind.TEXT:
        errors["factor"] = ["the overall factor needs a scored question"]
    if not errors and factor:
        clash = Question.objects.filter(template=template, factor=factor, kind=kind, expectation=expectation)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            errors["factor"] = ["this survey already asks this factor this way"]
    if errors:
        raise ValidationFailed(errors)
    return out


@transaction.atomic
def question_add(*, actor: User, template_id: int, data: Mapping[str, Any]) -> Question:
    template = _template_for_edit(actor, template_id)
    cleaned = _question_clean(data, template=template, instance=None)
    for field in ("factor", "text"):
        if field not in cleaned:
            raise ValidationFailed({field: ["required"]})
    if "order" not in cleaned:
        last = template.questions.order_by("-order").values_list("order", flat=True).first()
        cleaned["order"] = (last or 0) + 10
    question = Question.objects.create(template=template, **cleaned)
    SurveyTemplate.objects.filter(pk=template.pk).update(version=F("version") + 1)
    return question


@transaction.atomic
def question_update(*, actor: User, question_id: int, data: Mapping[str, Any]) -> Question:
    try:
        question = Question.objects.select_related("template").get(pk=question_id)
    except (Question.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("question") from exc
    template = _template_for_edit(actor, question.template_id)
    cleaned = _question_clean(data, template=template, instance=question)
    answered = Answer.objects.filter(question=question).exists()
    # Answers are kept with the meaning they were given under: what a question measures cannot
    # change once answered (deactivate it and add a new one instead).
    if answered and any(
        f in cleaned and cleaned[f] != getattr(question, f) for f in ("factor", "kind", "expectation")
    ):
        raise ValidationFailed({"kind": ["this question has answers; add a new question instead"]})
    for field, value in cleaned.items():
        setattr(question, field, value)
    question.save()
    SurveyTemplate.objects.filter(pk=template.pk).update(version=F("version") + 1)
    return question


@transaction.atomic
def question_remove(*, actor: User, question_id: int) -> bool:
    """Delete a question never answered; deactivate one that was (its answers stay). Returns
    True if deleted."""
    try:
        question = Question.objects.get(pk=question_id)
    except (Question.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("question") from exc
    template = _template_for_edit(actor, question.template_id)
    SurveyTemplate.objects.filter(pk=template.pk).update(version=F("version") + 1)
    if Answer.objects.filter(question=question).exists():
        question.active = False
        question.save(update_fields=["active"])
        return False
    question.delete()
    return True


# ---------------------------------------------------------------------------------------------
# Links


def survey_token(invitation_id: int) -> str:
    """A signed token naming the invitation. No timestamp in it: the invitation's ``expires_at``
    decides validity, so the same link is sent again unchanged and stays short for an SMS."""
    return signing.Signer(salt=SURVEY_SALT).sign_object({"i": int(invitation_id)}, compress=True)


def survey_url(invitation_id: int) -> str:
    path = reverse("feedback:survey_public", args=[survey_token(invitation_id)])
    return str(settings.OUTBOX["PUBLIC_URL"]).rstrip("/") + path


def invitation_id_from_token(token: str) -> int | None:
    try:
        data = signing.Signer(salt=SURVEY_SALT).unsign_object(token)
        return int(data["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class SurveyLink:
    """What a survey link leads to: ``state`` is ok, invalid, expired, answered or cancelled."""

    state: str
    invitation: SurveyInvitation | None


def survey_link(token: str, *, now: dt.datetime | None = None) -> SurveyLink:
    now = now or timezone.now()
    pk = invitation_id_from_token(token)
    invitation = (
        SurveyInvitation.objects.select_related("template", "customer", "store", "organisation")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if invitation is None:
        return SurveyLink("invalid", None)
    return SurveyLink(_link_state(invitation, now), invitation)


def _link_state(invitation: SurveyInvitation, now: dt.datetime) -> str:
    if invitation.status == SurveyInvitation.Status.ANSWERED:
        return "answered"
    if invitation.status == SurveyInvitation.Status.CANCELLED:
        return "cancelled"
    if invitation.status == SurveyInvitation.Status.EXPIRED or invitation.expires_at < now:
        return "expired"
    return "ok"


# ---------------------------------------------------------------------------------------------
# Invitations


def _expiry(send_on: dt.date, today: dt.date, policy: FeedbackPolicy) -> dt.datetime:
    return _end_of_day(max(send_on, today) + dt.timedelta(days=policy.survey_valid_days))


def _sales_events(organisation: Organisation, first: dt.date, last: dt.date) -> QuerySet[Any]:
    from huitou.customers.models import Purchase

    # The delivery day the database keeps (``sale_day``, indexed per organisation for sales).
    return (
        Purchase.objects.filter(organisation=organisation, sale_day__gte=first, sale_day__lte=last)
        .exclude(kind=Purchase.Kind.SERVICE)
        .annotate(day=F("sale_day"))
    )


def _service_events(organisation: Organisation, first: dt.date, last: dt.date) -> QuerySet[Any]:
    from huitou.customers.models import Purchase

    return Purchase.objects.filter(
        organisation=organisation, kind=Purchase.Kind.SERVICE, ordered_on__gte=first, ordered_on__lte=last
    ).annotate(day=F("ordered_on"))


@transaction.atomic
def invitations_create(*, organisation: Organisation, today: dt.date | None = None) -> int:
    """Invite every sale delivered and every workshop visit made ``delay`` days ago (and those
    missed over the policy's catch-up window) to the active survey of its kind. Set-based: one
    scan of the purchases per kind, rows inserted in batches, events already invited skipped by
    an anti-join (and by the unique constraint should two runs overlap). Returns how many."""
    from huitou.customers.models import Customer

    today = today or timezone.localdate()
    policy = organisation.policy.feedback
    templates = {
        t.kind: t
        for t in SurveyTemplate.objects.filter(
            organisation=organisation, active=True, kind__in=[SurveyKind.SALES, SurveyKind.SERVICE]
        )
    }
    created = 0
    plans = (
        (SurveyKind.SALES, SurveyInvitation.Event.SALE, policy.sales_survey_delay_days, _sales_events),
        (
            SurveyKind.SERVICE,
            SurveyInvitation.Event.SERVICE,
            policy.service_survey_delay_days,
            _service_events,
        ),
    )
    for kind, event, delay, events in plans:
        template = templates.get(kind)
        if template is None:
            continue
        last = today - dt.timedelta(days=delay)
        first = last - dt.timedelta(days=policy.survey_catch_up_days)
        invited = SurveyInvitation.objects.filter(template=template, purchase_id=OuterRef("pk"))
        rows = (
            events(organisation, first, last)
            .filter(customer__merged_into__isnull=True)
            .exclude(customer__status=Customer.Status.ERASED)
            .filter(~Exists(invited))
            # The store that sold or serviced; a purchase without one: the customer's store now
            # (the row's store is its scope for the store-bound roles, access.py).
            .annotate(row_store=Coalesce("store_id", "customer__store_id"))
            .values_list("pk", "customer_id", "rep_id", "row_store", "day")
        )
        batch: list[SurveyInvitation] = []
        for pk, customer_id, rep_id, store_id, day in rows.iterator(chunk_size=INSERT_BATCH):
            send_on = day + dt.timedelta(days=delay)
            batch.append(
                SurveyInvitation(
                    organisation=organisation,
                    template=template,
                    customer_id=customer_id,
                    event=event,
                    purchase_id=pk,
                    rep_id=rep_id,
                    store_id=store_id,
                    event_on=day,
                    send_on=send_on,
                    channel=policy.survey_channel,
                    expires_at=_expiry(send_on, today, policy),
                )
            )
            if len(batch) >= INSERT_BATCH:
                created += len(SurveyInvitation.objects.bulk_create(batch, ignore_conflicts=True))
                batch = []
        if batch:
            created += len(SurveyInvitation.objects.bulk_create(batch, ignore_conflicts=True))
    return created


def store_of_customer(customer_id: int) -> int | None:
    """The customer's store now: the store of a feedback row whose event named none (a purchase
    or a ticket without a store). Every ticket, invitation and response carries a store, the
    scope of the store-bound roles (access.py)."""
    from huitou.customers.models import Customer

    return Customer.objects.filter(pk=customer_id).values_list("store_id", flat=True).first()


def followup_schedule(*, ticket: Ticket, today: dt.date | None = None) -> SurveyInvitation | None:
    """The satisfaction check after a closed complaint (DOMAIN §6): an invitation to the active
    complaint follow-up survey, sent ``followup_survey_delay_days`` later. None when the
    organisation runs no such survey. Idempotent (unique per ticket and template)."""
    today = today or timezone.localdate()
    template = SurveyTemplate.objects.filter(
        organisation_id=ticket.organisation_id, kind=SurveyKind.COMPLAINT_FOLLOWUP, active=True
    ).first()
    if template is None:
        return None
    policy = ticket.organisation.policy.feedback
    send_on = today + dt.timedelta(days=policy.followup_survey_delay_days)
    invitation, _created = SurveyInvitation.objects.get_or_create(
        template=template,
        ticket=ticket,
        defaults={
            "organisation_id": ticket.organisation_id,
            "customer_id": ticket.customer_id,
            "event": SurveyInvitation.Event.TICKET,
            "rep_id": ticket.owner_id,
            "store_id": ticket.store_id or store_of_customer(ticket.customer_id),
            "event_on": today,
            "send_on": send_on,
            "channel": policy.survey_channel,
            "expires_at": _expiry(send_on, today, policy),
        },
    )
    return invitation


def _invitation_text(invitation: SurveyInvitation) -> str:
    customer = invitation.customer
    store = invitation.store.name if invitation.store is not None else invitation.organisation.name
    return site_text(
        INVITATION_TEXT[invitation.event], name=customer.name, store=store, url=survey_url(invitation.pk)
    )


def invitations_send(
    *, organisation: Organisation, now: dt.datetime | None = None, limit: int = SEND_BATCH
) -> int:
    """Queue the invitations due by today in the outbox (purpose service: a survey about a
    purchase is owed to the customer, not marketing). An invitation whose customer has no address
    on the channel goes to the DCRC's phone list instead. Returns how many were handled (queued
    or moved to the phone list), so a caller loops until it gets 0.

    One message per invitation through the outbox's own rules (quiet hours, idempotency key), so a
    batch is bounded by ``limit``; a day's invitations are a day's sales and visits."""
    from huitou.followups.models import Message, Purpose
    from huitou.followups.outbox.services import address_for, message_queue

    now = now or timezone.now()
    today = timezone.localdate(now)
    due = list(
        SurveyInvitation.objects.filter(
            organisation=organisation,
            status=SurveyInvitation.Status.PENDING,
            send_on__lte=today,
            channel__in=["sms", "email"],
            expires_at__gte=now,
        )
        .select_related("customer", "store", "organisation")
        .order_by("send_on", "pk")[:limit]
    )
    handled = 0
    for invitation in due:
        if not address_for(invitation.customer, invitation.channel):
            # No number or address on the channel: the DCRC phones instead (not a failed message).
            handled += SurveyInvitation.objects.filter(
                pk=invitation.pk, status=SurveyInvitation.Status.PENDING
            ).update(channel="phone")
            continue
        with transaction.atomic():
            message = message_queue(
                organisation=organisation,
                customer=invitation.customer,
                channel=invitation.channel,
                purpose=Purpose.SERVICE,
                body=_invitation_text(invitation),
                subject=site_text(INVITATION_SUBJECT),
                idempotency_key=f"survey:{invitation.pk}",
            )
            if message.status == Message.Status.FAILED:
                handled += SurveyInvitation.objects.filter(
                    pk=invitation.pk, status=SurveyInvitation.Status.PENDING
                ).update(channel="phone", message=message)
                continue
            handled += SurveyInvitation.objects.filter(
                pk=invitation.pk, status=SurveyInvitation.Status.PENDING
            ).update(status=SurveyInvitation.Status.SENT, sent_at=now, message=message)
    return handled


def invitations_expire(*, organisation: Organisation, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    return SurveyInvitation.objects.filter(
        organisation=organisation,
        status__in=[SurveyInvitation.Status.PENDING, SurveyInvitation.Status.SENT],
        expires_at__lt=now,
    ).update(status=SurveyInvitation.Status.EXPIRED)


# ---------------------------------------------------------------------------------------------
# Answers


@dataclass(frozen=True)
class AnswerIn:
    """One answer as given: a score for scored questions, ``text`` the reason (or the free text)."""

    score: int | None = None
    text: str = ""


def is_low(question: Question, score: int | None, policy: FeedbackPolicy) -> bool:
    if score is None or question.expectation:
        return False
    if question.kind == QuestionKind.SCALE5:
        return score <= policy.low_scale_max
    if question.kind == QuestionKind.NPS:
        return score <= policy.low_nps_max
    if question.kind == QuestionKind.YES_NO:
        return policy.low_yes_no and score == 0
    return False


def active_questions(template: SurveyTemplate) -> list[Question]:
    return list(template.questions.filter(active=True).order_by("order", "id"))


def _answers_clean(
    questions: list[Question], answers: Mapping[int, AnswerIn], policy: FeedbackPolicy
) -> list[tuple[Question, int | None, str, bool]]:
    errors: dict[str, list[str]] = {}
    known = {q.pk for q in questions}
    for qid in answers:
        if qid not in known:
            errors[f"q{qid}"] = ["not a question of this survey"]
    out: list[tuple[Question, int | None, str, bool]] = []
    for q in questions:
        given = answers.get(q.pk, AnswerIn())
        text = (given.text or "").strip()[:TEXT_MAX]
        score = given.score
        if q.kind == QuestionKind.TEXT:
            if q.required and not text:
                errors[f"q{q.pk}"] = ["please answer this question"]
            out.append((q, None, text, False))
            continue
        if score is None:
            if q.required:
                errors[f"q{q.pk}"] = ["please answer this question"]
            out.append((q, None, text, False))
            continue
        low_end, high_end = SCORE_RANGE[q.kind]
        if not low_end <= score <= high_end:
            errors[f"q{q.pk}"] = ["choose one of the answers offered"]
            continue
        low = is_low(q, score, policy)
        if low and not text:
            errors[f"q{q.pk}_why"] = ["please tell us why, so we can put it right"]
        out.append((q, score, text, low))
    if errors:
        raise ValidationFailed(errors)
    return out


def _response_create(
    *,
    invitation: SurveyInvitation,
    answers: Mapping[int, AnswerIn],
    channel: str,
    taken_by: User | None,
    audit: bool,
    now: dt.datetime,
) -> SurveyResponse:
    from . import tickets

    policy = invitation.organisation.policy.feedback
    template = invitation.template
    cleaned = _answers_clean(active_questions(template), answers, policy)
    overall = next(
        (
            score
            for q, score, _t, _l in cleaned
            if q.factor == OVERALL and q.kind == QuestionKind.SCALE5 and not q.expectation
        ),
        None,
    )
    comment = "\n".join(text for q, _s, text, _l in cleaned if q.kind == QuestionKind.TEXT and text)
    period = month_start(invitation.event_on)
    store_id = invitation.store_id or store_of_customer(invitation.customer_id)
    response = SurveyResponse(
        organisation_id=invitation.organisation_id,
        invitation=invitation,
        template=template,
        kind=template.kind,
        customer_id=invitation.customer_id,
        rep_id=invitation.rep_id,
        store_id=store_id,
        event_on=invitation.event_on,
        period=period,
        channel=channel,
        audit=audit,
        taken_by=taken_by,
        submitted_at=now,
        overall=overall,
        top_box=None if overall is None else overall == TOP_BOX,
        low=any(low for *_rest, low in cleaned),
        comment=comment[:TEXT_MAX],
    )
    try:
        with transaction.atomic():
            response.save(force_insert=True)
    except IntegrityError as exc:  # the same invitation answered at the same moment elsewhere
        raise Conflict("this survey has already been answered") from exc
    Answer.objects.bulk_create(
        [
            Answer(
                response=response,
                question=q,
                score=score,
                text=text,
                low=low,
                organisation_id=invitation.organisation_id,
                store_id=store_id,
                rep_id=invitation.rep_id,
                kind=template.kind,
                period=period,
                factor=q.factor,
                question_kind=q.kind,
                expectation=q.expectation,
                audit=audit,
            )
            for q, score, text, low in cleaned
            if score is not None or text
        ]
    )
    if not audit:
        invitation.status = SurveyInvitation.Status.ANSWERED
        invitation.answered_at = now
        invitation.save(update_fields=["status", "answered_at"])
    # The timeline says that a survey was answered, never the scores: the rep reads the timeline.
    subject = (
        site_text("Audit call: %(survey)s", survey=template.name)
        if audit
        else site_text("Survey answered: %(survey)s", survey=template.name)
    )
    tickets.timeline_log(customer=invitation.customer, actor=taken_by, kind="survey", subject=subject, at=now)
    if response.low:
        tickets.ticket_from_survey(response=response, now=now)
    return response


@transaction.atomic
def response_submit(
    *, token: str, answers: Mapping[int, AnswerIn], now: dt.datetime | None = None
) -> SurveyResponse:
    """The customer's own answers from the survey link (no login: the signed token is the key)."""
    now = now or timezone.now()
    pk = invitation_id_from_token(token)
    invitation = (
        SurveyInvitation.objects.select_for_update(of=("self",))
        .select_related("template", "customer", "organisation")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if invitation is None:
        raise ValidationFailed({"token": ["this survey link is not valid"]})
    state = _link_state(invitation, now)
    if state == "answered":
        raise Conflict("this survey has already been answered")
    if state != "ok":
        raise ValidationFailed({"token": [LINK_ERRORS.get(state, "this survey link is not valid")]})
    return _response_create(
        invitation=invitation,
        answers=answers,
        channel=ResponseChannel.WEB,
        taken_by=None,
        audit=False,
        now=now,
    )


def invitation_queryset(viewer: User) -> QuerySet[SurveyInvitation]:
    return SurveyInvitation.objects.filter(access.invitation_scope(viewer))


@transaction.atomic
def response_record_phone(
    *, actor: User, invitation_id: int, answers: Mapping[int, AnswerIn], now: dt.datetime | None = None
) -> SurveyResponse:
    """Answers taken on the phone by a DCRC agent (or a manager, the owner, after-sales). On an
    event already answered the call is an audit: it checks the answers instead of replacing them."""
    now = now or timezone.now()
    if not access.can_take_phone_surveys(actor):
        raise PermissionDenied("your role does not take phone surveys")
    try:
        invitation = (
            invitation_queryset(actor)
            .select_for_update(of=("self",))
            .select_related("template", "customer", "organisation")
            .get(pk=invitation_id)
        )
    except (SurveyInvitation.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("survey") from exc
    if invitation.rep_id is not None and invitation.rep_id == actor.pk:
        raise ValidationFailed(
            {
                "taken_by": [
                    "you served this customer for this event, so you may not take their survey; "
                    "a colleague from the customer-relations centre must make the call"
                ]
            }
        )
    if invitation.status == SurveyInvitation.Status.CANCELLED:
        raise ValidationFailed({"invitation": ["this survey was cancelled"]})
    audit = invitation.status == SurveyInvitation.Status.ANSWERED
    return _response_create(
        invitation=invitation,
        answers=answers,
        channel=ResponseChannel.PHONE,
        taken_by=actor,
        audit=audit,
        now=now,
    )


@transaction.atomic
def invitation_create_for_purchase(
    *, actor: User, purchase_id: int, today: dt.date | None = None
) -> SurveyInvitation:
    """An invitation for one sale or visit now (a DCRC agent calling before the daily job has
    reached it). Returns the existing one when there is one."""
    from huitou.customers.models import Purchase

    today = today or timezone.localdate()
    if not access.can_take_phone_surveys(actor):
        raise PermissionDenied("your role does not take phone surveys")
    try:
        purchase = Purchase.objects.filter(permissions.customer_scope(actor, "customer__")).get(
            pk=purchase_id
        )
    except (Purchase.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("purchase") from exc
    kind = SurveyKind.SERVICE if purchase.kind == Purchase.Kind.SERVICE else SurveyKind.SALES
    template = SurveyTemplate.objects.filter(
        organisation_id=purchase.organisation_id, kind=kind, active=True
    ).first()
    if template is None:
        raise ValidationFailed({"template": ["no active survey of this kind"]})
    policy = _organisation_of(actor).policy.feedback
    day = purchase.ordered_on
    if kind == SurveyKind.SALES:
        day = purchase.promised_on or purchase.arrives_on or purchase.ordered_on
    invitation, _created = SurveyInvitation.objects.get_or_create(
        template=template,
        purchase=purchase,
        defaults={
            "organisation_id": purchase.organisation_id,
            "customer_id": purchase.customer_id,
            "event": SurveyInvitation.Event.SERVICE
            if kind == SurveyKind.SERVICE
            else SurveyInvitation.Event.SALE,
            "rep_id": purchase.rep_id,
            "store_id": purchase.store_id or store_of_customer(purchase.customer_id),
            "event_on": day,
            "send_on": today,
            "channel": "phone",
            "expires_at": _expiry(today, today, policy),
        },
    )
    return invitation


def _organisation_of(actor: User) -> Organisation:
    if actor.organisation is None:
        raise PermissionDenied("no organisation")
    return actor.organisation
