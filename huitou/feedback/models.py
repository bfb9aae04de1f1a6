"""Surveys, CVP, importance–satisfaction analysis and complaint tickets (DOMAIN §6).

Scores are stored as small integers: a 5-level answer 1 (非常不满意) … 5 (非常满意), yes/no 1/0,
NPS 0–10, importance 1 (not important) … 5 (very important). Answers carry copies of what the
reports group by (organisation, store, rep, month, factor, question kind), so every measure is one
GROUP BY over an index of the answer table, never a join across millions of rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from huitou.core.models import TimeStampedModel

TOP_BOX = 5
OVERALL = "overall"


class SurveyKind(models.TextChoices):
    SALES = "sales", _("Sales delivery")
    SERVICE = "service", _("Workshop visit")
    COMPLAINT_FOLLOWUP = "complaint_followup", _("Complaint follow-up")


class QuestionKind(models.TextChoices):
    SCALE5 = "scale5", _("5 levels (very satisfied … very dissatisfied)")
    YES_NO = "yes_no", _("Yes / no")
    TEXT = "text", _("Free text")
    NPS = "nps", _("0–10 (would recommend)")
    IMPORTANCE = "importance", _("Importance (5 levels)")


SCORED_KINDS = frozenset(
    {QuestionKind.SCALE5, QuestionKind.YES_NO, QuestionKind.NPS, QuestionKind.IMPORTANCE}
)
SCORE_RANGE: dict[str, tuple[int, int]] = {
    QuestionKind.SCALE5: (1, 5),
    QuestionKind.YES_NO: (0, 1),
    QuestionKind.NPS: (0, 10),
    QuestionKind.IMPORTANCE: (1, 5),
}


class ResponseChannel(models.TextChoices):
    WEB = "web", _("Web form")
    PHONE = "phone", _("Phone (DCRC)")
    SMS = "sms", _("SMS reply")


class SurveyTemplate(TimeStampedModel):
    """A questionnaire of one organisation; seeded from ``defaults.py`` and edited by the owner.

    One active template per kind: the daily job sends that one after each event of the kind.
    """

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="survey_templates"
    )
    code = models.SlugField(_("code"), max_length=48)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=SurveyKind.choices)
    intro = models.TextField(_("introduction"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("survey template")
        ordering = ["kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "code"], name="survey_template_code_unique"),
            models.UniqueConstraint(
                fields=["organisation", "kind"], condition=Q(active=True), name="survey_template_one_active"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Question(models.Model):
    template = models.ForeignKey(SurveyTemplate, on_delete=models.CASCADE, related_name="questions")
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    factor = models.SlugField(
        _("factor"), max_length=40, help_text=_("What is measured, e.g. salesperson; “overall” feeds CVP.")
    )
    text = models.CharField(_("question"), max_length=255)
    kind = models.CharField(
        _("kind"), max_length=12, choices=QuestionKind.choices, default=QuestionKind.SCALE5
    )
    weight = models.DecimalField(
        _("importance weight"),
        max_digits=3,
        decimal_places=1,
        default=3,
        help_text=_("1 (unimportant) to 5 (very important); used when no importance question is asked."),
    )
    expectation = models.BooleanField(
        _("asks the expectation"),
        default=False,
        help_text=_("The customer's expected level of this factor; satisfaction = perceived ÷ expected."),
    )
    required = models.BooleanField(_("required"), default=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("question")
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "factor", "kind", "expectation"], name="question_factor_unique"
            )
        ]

    def __str__(self) -> str:
        return self.text


class SurveyInvitation(models.Model):
    """One survey owed to a customer for one event: a sale, a workshop visit or a closed ticket."""

    class Event(models.TextChoices):
        SALE = "sale", _("Sale")
        SERVICE = "service", _("Workshop visit")
        TICKET = "ticket", _("Closed complaint")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        ANSWERED = "answered", _("Answered")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    template = models.ForeignKey(SurveyTemplate, on_delete=models.PROTECT, related_name="invitations")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="survey_invitations", db_index=False
    )
    event = models.CharField(_("event"), max_length=8, choices=Event.choices)
    purchase = models.ForeignKey(
        "customers.Purchase",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    ticket = models.ForeignKey(
        "feedback.Ticket", on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("served by"),
        db_index=False,
    )
    store = models.ForeignKey(
        "accounts.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    event_on = models.DateField(_("event date"))
    send_on = models.DateField(_("send on"))
    channel = models.CharField(_("channel"), max_length=8, default="sms")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField(_("link valid until"))
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        "followups.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("survey invitation")
        constraints = [
            models.UniqueConstraint(
                fields=["template", "purchase"],
                condition=Q(purchase__isnull=False),
                name="invitation_once_per_purchase",
            ),
            models.UniqueConstraint(
                fields=["template", "ticket"],
                condition=Q(ticket__isnull=False),
                name="invitation_once_per_ticket",
            ),
        ]
        indexes = [
            # The sender and the DCRC call list: what is due, oldest first.
            models.Index(fields=["organisation", "status", "send_on"], name="invitation_due_idx"),
            # The DCRC's call list: unanswered invitations in send order, read in index order (the
            # list filters three statuses, which the index above can only give unsorted).
            models.Index(
                fields=["organisation", "send_on", "id"],
                name="invitation_unanswered_idx",
                condition=Q(status__in=["pending", "sent", "expired"]),
            ),
            models.Index(fields=["customer", "-event_on"], name="invitation_customer_idx"),
            models.Index(
                fields=["purchase"], name="invitation_purchase_idx", condition=Q(purchase__isnull=False)
            ),
            models.Index(fields=["ticket"], name="invitation_ticket_idx", condition=Q(ticket__isnull=False)),
            # A store's call list (store-scoped roles follow the store on the row): in send order.
            models.Index(
                fields=["store", "send_on", "id"],
                name="invitation_store_open_idx",
                condition=Q(status__in=["pending", "sent", "expired"]),
            ),
        ]


class SurveyResponse(models.Model):
    """The customer's answers to one invitation. ``audit`` marks a DCRC re-check call on an event
    already answered: it never counts toward CVP, it only tests whether the answers were real."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    invitation = models.ForeignKey(SurveyInvitation, on_delete=models.CASCADE, related_name="responses")
    template = models.ForeignKey(SurveyTemplate, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(_("survey"), max_length=20, choices=SurveyKind.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="survey_responses", db_index=False
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("served by"),
        db_index=False,
    )
    store = models.ForeignKey(
        "accounts.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    event_on = models.DateField(_("event date"))
    period = models.DateField(_("month"), help_text=_("First day of the month of the event"))
    channel = models.CharField(_("channel"), max_length=8, choices=ResponseChannel.choices)
    audit = models.BooleanField(_("audit call"), default=False)
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("taken by"),
        db_index=False,
    )
    submitted_at = models.DateTimeField(_("answered at"))
    overall = models.PositiveSmallIntegerField(_("overall score"), null=True, blank=True)
    top_box = models.BooleanField(_("very satisfied overall"), null=True)
    low = models.BooleanField(_("low answer"), default=False)
    comment = models.TextField(_("comment"), blank=True)
    # The complaint a low answer opened. Kept on this side so that the foreign keys between
    # invitations, answers and tickets form no cycle (the demo's wipe deletes along them).
    ticket = models.OneToOneField(
        "feedback.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="source_response",
        verbose_name=_("complaint ticket"),
    )

    class Meta:
        verbose_name = _("survey response")
        constraints = [
            models.UniqueConstraint(
                fields=["invitation"], condition=Q(audit=False), name="response_once_per_invitation"
            )
        ]
        indexes = [
            # CVP per rep and month, per store and month, the gaming check and the trend: every
            # column they read is in the index (PostgreSQL: the included ones), so a period is one
            # index-only range (the reports count ``*``, not the id, for that).
            models.Index(
                fields=["organisation", "kind", "period", "rep", "top_box"],
                name="response_period_idx",
                include=["audit", "overall", "store"],
            ),
            models.Index(fields=["rep", "period"], name="response_rep_period_idx"),
            models.Index(fields=["customer", "-submitted_at"], name="response_customer_idx"),
            models.Index(fields=["organisation", "-submitted_at"], name="response_org_submitted_idx"),
            # The answers list's "low only" filter: 7% of the responses, newest first.
            models.Index(
                fields=["organisation", "-submitted_at"], name="response_low_idx", condition=Q(low=True)
            ),
            # The answers list of a store (managers, after-sales, store DCRC scope on the row's
            # store): newest first, one index range instead of a customer lookup per row.
            models.Index(fields=["store", "-submitted_at"], name="response_store_submitted_idx"),
        ]


class Answer(models.Model):
    response = models.ForeignKey(SurveyResponse, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers", db_index=False)
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    text = models.TextField(_("why / comment"), blank=True)
    low = models.BooleanField(default=False)
    # Copies of the response and question, for the reports' GROUP BY (see the module docstring).
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    store = models.ForeignKey(
        "accounts.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    kind = models.CharField(max_length=20, choices=SurveyKind.choices)
    period = models.DateField()
    factor = models.SlugField(max_length=40)
    question_kind = models.CharField(max_length=12, choices=QuestionKind.choices)
    expectation = models.BooleanField(default=False)
    audit = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("answer")
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_once_per_question")
        ]
        indexes = [
            models.Index(
                fields=["organisation", "kind", "period", "factor", "question_kind"],
                name="answer_org_factor_idx",
            ),
            models.Index(fields=["store", "period"], name="answer_store_period_idx"),
            # The quadrants and the trend read every answer of the period: every column they filter
            # or aggregate is a key here (no INCLUDE, so B-tree deduplication keeps it ~60 MB for
            # 8.5M answers on PostgreSQL), and a period is one index-only range (SQLite: a covering
            # index) instead of a scan of the whole table.
            models.Index(
                fields=[
                    "organisation",
                    "kind",
                    "period",
                    "audit",
                    "question_kind",
                    "factor",
                    "expectation",
                    "score",
                ],
                name="answer_report_idx",
            ),
        ]


# ---------------------------------------------------------------------------------------------
# Tickets


class Ticket(models.Model):
    """A complaint or service request, with its deadlines (first reply, resolution) and owner."""

    class Kind(models.TextChoices):
        COMPLAINT = "complaint", _("Complaint")
        REQUEST = "request", _("Service request")

    class Channel(models.TextChoices):
        PHONE = "phone", _("Phone")
        WALK_IN = "walk_in", _("Walk-in")
        SMS = "sms", _("SMS")
        SURVEY = "survey", _("Survey")
        WEB = "web", _("Web")

    class Category(models.TextChoices):
        PRODUCT = "product", _("Product quality")
        REPAIR = "repair", _("Repair / workshop quality")
        STAFF = "staff", _("Staff attitude")
        PRICE = "price", _("Price / billing")
        DELIVERY = "delivery", _("Delivery / waiting time")
        FACILITY = "facility", _("Facility")
        OTHER = "other", _("Other")

    class Severity(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")
        CRITICAL = "critical", _("Critical")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        REPLIED = "replied", _("Replied")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="tickets", db_index=False
    )
    store = models.ForeignKey(
        "accounts.Store", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.COMPLAINT)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    category = models.CharField(
        _("category"), max_length=10, choices=Category.choices, default=Category.OTHER
    )
    severity = models.CharField(
        _("severity"), max_length=8, choices=Severity.choices, default=Severity.MEDIUM
    )
    summary = models.CharField(_("summary"), max_length=200)
    detail = models.TextField(_("details"), blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled by"),
        db_index=False,
    )
    purchase = models.ForeignKey(
        "customers.Purchase",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    received_at = models.DateTimeField(_("received at"))
    first_reply_due_at = models.DateTimeField(_("first reply due"))
    resolve_due_at = models.DateTimeField(_("resolution due"))
    first_reply_at = models.DateTimeField(_("first reply at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # 0 none, 1 the missed first reply was escalated, 2 the missed resolution was escalated.
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("escalated to"),
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ticket")
        indexes = [
            models.Index(fields=["organisation", "status", "resolve_due_at"], name="ticket_org_due_idx"),
            # The open tickets, most urgent first (the list's default and its overdue filter): in
            # index order, so a page stops after its rows instead of sorting every open ticket.
            models.Index(
                fields=["organisation", "resolve_due_at", "id"],
                name="ticket_open_due_idx",
                condition=Q(status__in=["open", "replied"]),
            ),
            models.Index(fields=["organisation", "-received_at"], name="ticket_org_received_idx"),
            models.Index(fields=["owner", "status"], name="ticket_owner_idx"),
            models.Index(fields=["store", "status", "resolve_due_at"], name="ticket_store_idx"),
            # A store's open tickets, most urgent first, and its tickets newest first: the
            # store-bound roles' lists read the store's range in order (access.ticket_scope).
            models.Index(
                fields=["store", "resolve_due_at", "id"],
                name="ticket_store_open_due_idx",
                condition=Q(status__in=["open", "replied"]),
            ),
            models.Index(fields=["store", "-received_at"], name="ticket_store_received_idx"),
            models.Index(fields=["customer", "-received_at"], name="ticket_customer_idx"),
            models.Index(
                fields=["escalated_to", "status"],
                name="ticket_escalated_idx",
                condition=Q(escalated_to__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.summary}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.REPLIED)


class TicketEvent(models.Model):
    """The ticket's timeline: every change, reply and note, who and when."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        ASSIGNED = "assigned", _("Assigned")
        REPLIED = "replied", _("Replied to the customer")
        NOTE = "note", _("Note")
        ESCALATED = "escalated", _("Escalated")
        SUPERVISOR = "supervisor", _("Supervisor reply")
        CONCESSION = "concession", _("Concession")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")
        SURVEY = "survey", _("Satisfaction check scheduled")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    text = models.TextField(_("text"), blank=True)

    class Meta:
        verbose_name = _("ticket event")
        indexes = [models.Index(fields=["ticket", "at"], name="ticket_event_idx")]


class SupervisorReply(TimeStampedModel):
    """主管回复表: the manager's answer to the complaint, the measures taken, the customer's reaction
    and the manager's sign-off. A ticket cannot close before it is signed."""

    class Reaction(models.TextChoices):
        SATISFIED = "satisfied", _("Satisfied")
        ACCEPTED = "accepted", _("Accepted")
        DISSATISFIED = "dissatisfied", _("Still dissatisfied")
        UNREACHABLE = "unreachable", _("Could not be reached")

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="supervisor_reply")
    cause = models.TextField(_("cause found"), blank=True)
    answer = models.TextField(_("answer to the customer"))
    measures = models.TextField(_("measures taken"))
    customer_reaction = models.CharField(_("customer's reaction"), max_length=12, choices=Reaction.choices)
    reaction_note = models.TextField(_("what the customer said"), blank=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("manager"),
    )
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("supervisor reply")


class Concession(TimeStampedModel):
    """A concession offered in a complaint (DOMAIN §4): beyond the proposer's authority it waits
    for approval before it can be offered."""

    class Kind(models.TextChoices):
        PRICE = "price", _("Price")
        QUALITY = "quality", _("Quality (repair, replacement)")
        SERVICE = "service", _("Service")
        PAYMENT = "payment", _("Payment terms")

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        OFFERED = "offered", _("Offered")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="concessions")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    value = models.DecimalField(_("value (¥)"), max_digits=12, decimal_places=2)
    description = models.CharField(_("description"), max_length=255)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    approver_role = models.CharField(_("to be approved by"), max_length=10, blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", db_index=False
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("concession")
        indexes = [models.Index(fields=["status", "ticket"], name="concession_status_idx")]


class ValueAddedService(models.Model):
    """Value-added service given to a customer (DOMAIN §6)."""

    class Kind(models.TextChoices):
        VALUE = "value", _("Value (free or discounted extra)")
        INFORMATION = "information", _("Information")
        EFFICIENCY = "efficiency", _("Efficiency (faster service)")
        EXTRA = "extra", _("Extra service")
        CONVENIENCE = "convenience", _("Convenience")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="value_added_services", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    value = models.DecimalField(_("value (¥)"), max_digits=12, decimal_places=2, default=0)
    note = models.CharField(_("what was given"), max_length=255)
    given_on = models.DateField(_("given on"))
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", db_index=False
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.SET_NULL, null=True, blank=True, related_name="value_added_services"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("value-added service")
        indexes = [
            models.Index(fields=["customer", "-given_on"], name="vas_customer_idx"),
            models.Index(fields=["organisation", "given_on"], name="vas_org_day_idx"),
        ]
