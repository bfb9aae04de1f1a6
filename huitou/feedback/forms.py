"""Forms of the feedback pages. They only shape input; every write goes through a service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from huitou.core.errors import ValidationFailed
from huitou.core.forms import DateInput, DateTimeInput

from .models import (
    Concession,
    Question,
    QuestionKind,
    SupervisorReply,
    SurveyKind,
    Ticket,
    ValueAddedService,
)
from .services import AnswerIn

if TYPE_CHECKING:
    from huitou.accounts.models import User

# The 5-level answers, best first as the customer reads them (DOMAIN §6: 非常满意 … 非常不满意).
SCALE_LABELS = [
    (5, _("Very satisfied")),
    (4, _("Satisfied")),
    (3, _("Neutral")),
    (2, _("Dissatisfied")),
    (1, _("Very dissatisfied")),
]
IMPORTANCE_LABELS = [
    (5, _("Very important")),
    (4, _("Important")),
    (3, pgettext_lazy("importance", "Somewhat important")),
    (2, _("Not very important")),
    (1, _("Not important")),
]
EXPECTATION_LABELS = [
    (5, _("Very high")),
    (4, _("High")),
    (3, pgettext_lazy("expectation", "Average")),
    (2, _("Low")),
    (1, _("Very low")),
]
YES_NO_LABELS = [(1, _("Yes")), (0, _("No"))]


def choices_for(question: Question) -> list[tuple[int, Any]]:
    if question.kind == QuestionKind.SCALE5 and question.expectation:
        return list(EXPECTATION_LABELS)
    if question.kind == QuestionKind.SCALE5:
        return list(SCALE_LABELS)
    if question.kind == QuestionKind.IMPORTANCE:
        return list(IMPORTANCE_LABELS)
    if question.kind == QuestionKind.YES_NO:
        return list(YES_NO_LABELS)
    if question.kind == QuestionKind.NPS:
        return [(n, str(n)) for n in range(11)]
    return []


def answers_from_post(questions: list[Question], data: Mapping[str, Any]) -> dict[int, AnswerIn]:
    """``q<id>`` holds the score (or the text of a free-text question), ``q<id>_why`` the reason."""
    out: dict[int, AnswerIn] = {}
    for q in questions:
        raw = str(data.get(f"q{q.pk}", "") or "").strip()
        why = str(data.get(f"q{q.pk}_why", "") or "")
        if q.kind == QuestionKind.TEXT:
            out[q.pk] = AnswerIn(text=raw)
            continue
        try:
            score = int(raw) if raw else None
        except ValueError:
            score = -1  # the service names the range
        out[q.pk] = AnswerIn(score=score, text=why)
    return out


def survey_rows(
    questions: list[Question],
    data: Mapping[str, Any] | None,
    errors: Mapping[str, list[str]],
    low_max: dict[str, int],
) -> list[dict[str, Any]]:
    """What the survey form template needs per question: choices, the value given, its errors, and
    the score at or below which the reason becomes required (-1: never)."""
    rows = []
    for q in questions:
        value = str((data or {}).get(f"q{q.pk}", "") or "")
        rows.append(
            {
                "q": q,
                "name": f"q{q.pk}",
                "choices": [(str(v), label) for v, label in choices_for(q)],
                "value": value,
                "why": str((data or {}).get(f"q{q.pk}_why", "") or ""),
                "errors": [gettext(m) for m in errors.get(f"q{q.pk}", [])],
                "why_errors": [gettext(m) for m in errors.get(f"q{q.pk}_why", [])],
                "low_max": -1 if q.expectation else low_max.get(q.kind, -1),
            }
        )
    return rows


class FeedbackForm(forms.Form):
    """Bootstrap classes on every widget; service errors next to their fields."""

    SERVICE_FIELDS: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            elif not isinstance(widget, forms.HiddenInput):
                widget.attrs.setdefault("class", "form-control")

    def add_service_errors(self, exc: ValidationFailed) -> None:
        for field, messages in exc.errors.items():
            name = self.SERVICE_FIELDS.get(field, field)
            target = name if name in self.fields else None
            for message in messages:
                text = gettext(message)
                if target is None and field != "__all__":
                    text = f"{field}: {text}"
                self.add_error(target, text)


# ---------------------------------------------------------------------------------------------
# Tickets


def _staff_channels() -> list[tuple[str, Any]]:
    return [(v, label) for v, label in Ticket.Channel.choices if v != Ticket.Channel.SURVEY]


class TicketForm(FeedbackForm):
    customer_id = forms.IntegerField(label=_("Customer number"), min_value=1)
    kind = forms.ChoiceField(label=_("kind"), choices=Ticket.Kind.choices, initial=Ticket.Kind.COMPLAINT)
    channel = forms.ChoiceField(label=_("channel"), choices=_staff_channels, initial=Ticket.Channel.PHONE)
    category = forms.ChoiceField(label=_("category"), choices=Ticket.Category.choices, initial="other")
    severity = forms.ChoiceField(label=_("severity"), choices=Ticket.Severity.choices, initial="medium")
    summary = forms.CharField(label=_("summary"), max_length=200)
    detail = forms.CharField(label=_("details"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    owner = forms.TypedChoiceField(label=_("handled by"), required=False, coerce=int, empty_value=None)
    received_at = forms.DateTimeField(
        label=_("received at"), required=False, widget=DateTimeInput(), help_text=_("Empty: now")
    )

    SERVICE_FIELDS = {"owner_id": "owner"}

    def __init__(self, *args: Any, people: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.TypedChoiceField)
        owner.choices = [("", _("The customer's rep"))] + [(str(pk), name) for pk, name in people]


class ReplyForm(FeedbackForm):
    text = forms.CharField(label=_("What the customer was told"), widget=forms.Textarea(attrs={"rows": 3}))
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ResolveForm(FeedbackForm):
    text = forms.CharField(label=_("How it was solved"), widget=forms.Textarea(attrs={"rows": 3}))
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class NoteForm(FeedbackForm):
    text = forms.CharField(label=_("Internal note"), widget=forms.Textarea(attrs={"rows": 2}))


class AssignForm(FeedbackForm):
    owner = forms.TypedChoiceField(label=_("handled by"), coerce=int)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, people: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.TypedChoiceField)
        owner.choices = [(str(pk), name) for pk, name in people]


class SupervisorReplyForm(FeedbackForm):
    """主管回复表."""

    cause = forms.CharField(label=_("cause found"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    answer = forms.CharField(label=_("answer to the customer"), widget=forms.Textarea(attrs={"rows": 3}))
    measures = forms.CharField(label=_("measures taken"), widget=forms.Textarea(attrs={"rows": 3}))
    customer_reaction = forms.ChoiceField(
        label=_("customer's reaction"), choices=SupervisorReply.Reaction.choices
    )
    reaction_note = forms.CharField(
        label=_("what the customer said"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    sign = forms.BooleanField(label=_("I sign this reply off"), required=False, initial=True)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ConcessionForm(FeedbackForm):
    kind = forms.ChoiceField(label=_("kind"), choices=Concession.Kind.choices)
    value = forms.DecimalField(label=_("value (¥)"), min_value=0, max_digits=12, decimal_places=2)
    description = forms.CharField(label=_("description"), max_length=255)


class ValueAddedServiceForm(FeedbackForm):
    # Shown on the customer page beside other apps' forms: its own ids (two "id_kind" would clash).
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "vas_%s")
        super().__init__(*args, **kwargs)

    kind = forms.ChoiceField(label=_("kind"), choices=ValueAddedService.Kind.choices)
    note = forms.CharField(label=_("what was given"), max_length=255)
    value = forms.DecimalField(label=_("value (¥)"), min_value=0, max_digits=12, decimal_places=2, initial=0)
    given_on = forms.DateField(label=_("given on"), widget=DateInput(), initial=timezone.localdate)


class TicketFilterForm(FeedbackForm):
    status = forms.ChoiceField(
        label=_("status"),
        required=False,
        choices=[("active", _("Open or replied")), *Ticket.Status.choices, ("all", _("All"))],
    )
    severity = forms.ChoiceField(
        label=_("severity"), required=False, choices=[("", _("All")), *Ticket.Severity.choices]
    )
    channel = forms.ChoiceField(
        label=_("channel"), required=False, choices=[("", _("All")), *Ticket.Channel.choices]
    )
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)
    mine = forms.BooleanField(label=_("Handled by me"), required=False)
    escalated = forms.BooleanField(label=_("Escalated to me"), required=False)
    overdue = forms.BooleanField(label=_("Overdue"), required=False)

    def __init__(self, *args: Any, stores: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        store = self.fields["store"]
        assert isinstance(store, forms.TypedChoiceField)
        store.choices = [("", _("All stores"))] + [(str(pk), name) for pk, name in stores]


# ---------------------------------------------------------------------------------------------
# Measures


def _month_value(value: str | None) -> dt.date | None:
    try:
        year, month = (int(p) for p in (value or "").split("-")[:2])
        return dt.date(year, month, 1)
    except ValueError:
        return None


class PeriodForm(FeedbackForm):
    """A period in months and a store; defaults to the last 12 months."""

    start = forms.CharField(
        label=_("From (month)"), required=False, widget=forms.TextInput(attrs={"type": "month"})
    )
    end = forms.CharField(
        label=_("To (month)"), required=False, widget=forms.TextInput(attrs={"type": "month"})
    )
    kind = forms.ChoiceField(
        label=_("survey"), required=False, choices=SurveyKind.choices, initial=SurveyKind.SALES
    )
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, stores: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        store = self.fields["store"]
        assert isinstance(store, forms.TypedChoiceField)
        store.choices = [("", _("All stores"))] + [(str(pk), name) for pk, name in stores]
        self.is_valid()
        start, end = self.period()
        # Show the period in use even when none was asked for.
        for name, day in (("start", start), ("end", end)):
            if not (self.data.get(name) if self.is_bound else None):
                self.fields[name].widget.attrs["value"] = f"{day:%Y-%m}"

    def period(self, today: dt.date | None = None, months_back: int = 11) -> tuple[dt.date, dt.date]:
        from .measures import add_months, month_start

        today = today or timezone.localdate()
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        end = _month_value(data.get("end")) or month_start(today)
        start = _month_value(data.get("start")) or add_months(end, -months_back)
        return start, end

    def value(self, name: str) -> Any:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return data.get(name) or None

    def survey_kind(self) -> str:
        return str(self.value("kind") or SurveyKind.SALES)


class QuestionForm(FeedbackForm):
    factor = forms.SlugField(label=_("factor"), max_length=40)
    text = forms.CharField(label=_("question"), max_length=255)
    kind = forms.ChoiceField(label=_("kind"), choices=QuestionKind.choices)
    weight = forms.DecimalField(
        label=_("importance weight"), min_value=1, max_value=5, decimal_places=1, initial=3
    )
    expectation = forms.BooleanField(label=_("asks the expectation"), required=False)
    required = forms.BooleanField(label=_("required"), required=False, initial=True)
    order = forms.IntegerField(label=_("order"), min_value=0, required=False)

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data.get("order") is None:
            data.pop("order", None)
        return data


class TemplateForm(FeedbackForm):
    name = forms.CharField(label=_("name"), max_length=120)
    intro = forms.CharField(label=_("introduction"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    active = forms.BooleanField(label=_("active"), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


def people_choices(viewer: User) -> list[tuple[int, str]]:
    """People a ticket may be handed to: the active members of the viewer's organisation."""
    from huitou.accounts.models import User as UserModel

    if viewer.organisation_id is None:
        return []
    return [
        (u.pk, f"{u.label} · {u.get_role_display()}")
        for u in UserModel.objects.filter(
            organisation_id=viewer.organisation_id, is_active=True, left_at__isnull=True
        ).order_by("role", "username")
    ]
