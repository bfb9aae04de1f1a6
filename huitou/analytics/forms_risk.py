"""Forms of the crisis-signal pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import CustomerLoss, WinBack


class RiskFilterForm(forms.Form):
    store = forms.TypedChoiceField(label=_("Store"), required=False, coerce=int, empty_value=None)
    team = forms.TypedChoiceField(label=_("Team"), required=False, coerce=int, empty_value=None)
    rep = forms.TypedChoiceField(label=_("Rep"), required=False, coerce=int, empty_value=None)
    min_score = forms.IntegerField(label=_("Minimum score"), required=False, min_value=0, max_value=100)

    def __init__(
        self,
        *args: object,
        stores: list[tuple[int, str]],
        reps: list[tuple[int, str]],
        teams: list[tuple[int, str]] | None = None,
        **kw: object,
    ):
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.fields["store"].choices = [("", _("All stores")), *stores]  # type: ignore[attr-defined]
        self.fields["team"].choices = [("", _("All teams")), *(teams or [])]  # type: ignore[attr-defined]
        self.fields["rep"].choices = [("", _("All reps")), *reps]  # type: ignore[attr-defined]
        for name in ("store", "team", "rep"):
            self.fields[name].widget.attrs.setdefault("class", "form-select form-select-sm")


class WinBackForm(forms.Form):
    approach = forms.ChoiceField(label=_("Approach"), choices=WinBack.Approach.choices)


class LostForm(forms.Form):
    reason = forms.ChoiceField(label=_("Termination reason"), choices=CustomerLoss.Reason.choices)
    note = forms.CharField(label=_("Note"), required=False, max_length=255)
