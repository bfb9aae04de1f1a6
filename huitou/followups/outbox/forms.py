"""Forms of the outbox pages: the list filters and the print-batch request."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ..models import Channel, Message, Purpose
from .selectors import MessageFilters

_ALL = [("", _("All"))]


class OutboxFilterForm(forms.Form):
    q = forms.CharField(label=_("Customer"), required=False, max_length=64)
    status = forms.ChoiceField(label=_("status"), required=False, choices=_ALL + list(Message.Status.choices))
    channel = forms.ChoiceField(
        label=_("channel"),
        required=False,
        choices=_ALL
        + [(c.value, c.label) for c in (Channel.SMS, Channel.EMAIL, Channel.LETTER, Channel.CARD)],
    )
    purpose = forms.ChoiceField(label=_("purpose"), required=False, choices=_ALL + list(Purpose.choices))
    date_from = forms.DateField(
        label=pgettext_lazy("date range", "from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=pgettext_lazy("date range", "to"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def filters(self) -> MessageFilters:
        """The valid filters; a wrong value is dropped rather than failing the whole list."""
        self.is_valid()
        data: dict[str, Any] = getattr(self, "cleaned_data", {})
        return MessageFilters(
            q=(data.get("q") or "").strip(),
            status=data.get("status") or "",
            channel=data.get("channel") or "",
            purpose=data.get("purpose") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


class PrintBatchForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("What to print"),
        required=False,
        choices=[
            ("", _("Letters and cards")),
            (Channel.LETTER.value, _("Letters")),
            (Channel.CARD.value, _("Cards")),
        ],
    )
