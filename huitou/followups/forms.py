"""Forms of the plan pages. They only shape input; every write goes through ``services``.

Field names match the services' keyword arguments, so a ``ValidationFailed`` from a service lands
next to the field it is about.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.core.errors import ValidationFailed
from huitou.core.forms import DateInput, DateTimeInput

from .models import TASK_CHANNELS, Channel, Purpose, Task

TASK_KIND_CHOICES = [(value, label) for value, label in Channel.choices if value in TASK_CHANNELS]
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def add_service_errors(form: forms.Form, exc: ValidationFailed) -> None:
    """Each service error next to its field, or on top of the form when the field is not shown."""
    for name, messages in exc.errors.items():
        target = name if name in form.fields else None
        for message in messages:
            text = gettext(message)
            if target is None and name != "__all__":
                text = f"{gettext(name.replace('_', ' '))}: {text}"
            form.add_error(target, text)


class _Styled(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.HiddenInput):
                continue
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select form-select-sm")
            else:
                widget.attrs.setdefault("class", "form-control form-control-sm")
            if isinstance(widget, forms.Textarea):
                widget.attrs["rows"] = 2


class OutcomeForm(_Styled):
    """What came of a task. The Today page draws these fields by hand in every row (one gift list
    for the whole page); this form only checks what comes back."""

    outcome = forms.ChoiceField(label=_("outcome"), choices=Task.Outcome.choices)
    note = forms.CharField(label=_("note"), required=False, max_length=2000, widget=forms.Textarea)
    gift_id = forms.IntegerField(label=_("gift"), required=False, min_value=1)
    callback_at = forms.DateTimeField(
        label=_("call back at"), required=False, input_formats=DATETIME_FORMATS, widget=DateTimeInput
    )
    next_kind = forms.ChoiceField(
        label=_("next step"), required=False, choices=[("", "—"), *TASK_KIND_CHOICES]
    )
    next_due_on = forms.DateField(label=_("next step on"), required=False, widget=DateInput)
    next_title = forms.CharField(label=_("next step title"), required=False, max_length=200)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class TaskForm(_Styled):
    kind = forms.ChoiceField(label=_("kind"), choices=TASK_KIND_CHOICES)
    title = forms.CharField(label=_("title"), max_length=200)
    due_on = forms.DateField(label=_("due"), widget=DateInput)
    due_at = forms.DateTimeField(
        label=_("at (optional)"), required=False, input_formats=DATETIME_FORMATS, widget=DateTimeInput
    )
    purpose = forms.ChoiceField(label=_("purpose"), choices=Purpose.choices, initial=Purpose.SERVICE)
    script = forms.CharField(label=_("suggested script"), required=False, widget=forms.Textarea)
    assignee_id = forms.TypedChoiceField(label=_("assigned to"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, people: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if people:
            field = self.fields["assignee_id"]
            assert isinstance(field, forms.TypedChoiceField)
            field.choices = [("", _("Myself")), *[(u.pk, u.label) for u in people]]
        else:
            del self.fields["assignee_id"]


class RescheduleForm(_Styled):
    due_on = forms.DateField(label=_("new date"), widget=DateInput)
    due_at = forms.DateTimeField(
        label=_("at (optional)"), required=False, input_formats=DATETIME_FORMATS, widget=DateTimeInput
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ReassignForm(_Styled):
    assignee_id = forms.IntegerField(label=_("assigned to"), min_value=1)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class GiftForm(_Styled):
    name = forms.CharField(label=_("name"), max_length=120)
    value = forms.DecimalField(label=_("value"), max_digits=10, decimal_places=2, min_value=0, initial=0)
    note = forms.CharField(label=_("note"), max_length=255, required=False)
