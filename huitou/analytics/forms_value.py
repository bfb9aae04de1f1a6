"""Forms of the lifetime-value pages."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _


class ValueFilterForm(forms.Form):
    as_of = forms.TypedChoiceField(
        label=_("As of"), required=False, coerce=dt.date.fromisoformat, empty_value=None
    )
    store = forms.TypedChoiceField(label=_("Store"), required=False, coerce=int, empty_value=None)
    team = forms.TypedChoiceField(label=_("Team"), required=False, coerce=int, empty_value=None)
    rep = forms.TypedChoiceField(label=_("Rep"), required=False, coerce=int, empty_value=None)

    def __init__(
        self,
        *args: object,
        days: list[dt.date],
        stores: list[tuple[int, str]],
        teams: list[tuple[int, str]],
        reps: list[tuple[int, str]],
        **kw: object,
    ):
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.fields["as_of"].choices = [("", _("Newest")), *((d.isoformat(), d.isoformat()) for d in days)]  # type: ignore[attr-defined]
        self.fields["store"].choices = [("", _("All stores")), *stores]  # type: ignore[attr-defined]
        self.fields["team"].choices = [("", _("All teams")), *teams]  # type: ignore[attr-defined]
        self.fields["rep"].choices = [("", _("All reps")), *reps]  # type: ignore[attr-defined]
