"""Forms of the lead-qualification and cost-to-serve pages."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.accounts import permissions
from huitou.core.forms import DateInput
from huitou.customers.models import Customer

from . import qualify
from .models_qualify import Qualification

if TYPE_CHECKING:
    from huitou.accounts.models import User

MAX_PERIOD_DAYS = 3 * 366


class QualifyForm(forms.Form):
    need = forms.BooleanField(label=_("Has a need"), required=False)
    money = forms.BooleanField(label=_("Has the money"), required=False)
    authority = forms.BooleanField(label=_("Has decision power"), required=False)
    note = forms.CharField(label=_("Note"), required=False, max_length=255)
    version = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class _FilterForm(forms.Form):
    """Store, team and rep filters limited to what the viewer may see; bootstrap classes."""

    store = forms.TypedChoiceField(label=_("Store"), required=False, coerce=int, empty_value=None)
    team = forms.TypedChoiceField(label=_("Team"), required=False, coerce=int, empty_value=None)
    rep = forms.TypedChoiceField(label=_("Rep"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        from huitou.customers.selectors import stores_in_scope, users_in_scope

        super().__init__(*args, **kwargs)
        self.is_rep = viewer.role == permissions.REP
        stores = [] if self.is_rep else [(s.pk, s.name) for s in stores_in_scope(viewer)]
        reps = [] if self.is_rep else [(u.pk, str(u)) for u in users_in_scope(viewer).order_by("username")]
        self._set("store", [("", gettext("All stores")), *stores])
        self._set("team", [("", gettext("All teams")), *qualify.teams_in_scope(viewer)])
        self._set("rep", [("", gettext("All reps")), *reps])
        for f in self.fields.values():
            f.widget.attrs.setdefault(
                "class",
                "form-select form-select-sm"
                if isinstance(f, forms.ChoiceField)
                else "form-control form-control-sm",
            )

    def _set(self, name: str, choices: list[tuple[Any, Any]]) -> None:
        f = self.fields[name]
        assert isinstance(f, forms.ChoiceField)
        f.choices = choices

    def value(self, name: str) -> Any:
        if not self.is_bound or not self.is_valid():
            return None
        return self.cleaned_data.get(name)


class QualifyListForm(_FilterForm):
    apple = forms.ChoiceField(label=_("Apple"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)
    updated_from = forms.DateField(label=_("Updated from"), widget=DateInput(), required=False)
    updated_until = forms.DateField(label=_("Updated until"), widget=DateInput(), required=False)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, viewer=viewer, **kwargs)
        self._set("apple", [("", gettext("All apples")), *Qualification.Apple.choices])
        self._set(
            "status",
            [
                ("", gettext("Prospects and customers")),
                (Customer.Status.PROSPECT, Customer.Status.PROSPECT.label),
                (Customer.Status.ACTIVE, Customer.Status.ACTIVE.label),
                (Customer.Status.LOST, Customer.Status.LOST.label),
            ],
        )

    def filters(self) -> qualify.QualifyFilters:
        return qualify.QualifyFilters(
            apple=self.value("apple") or "",
            store_id=self.value("store"),
            team_id=self.value("team"),
            rep_id=self.value("rep"),
            status=self.value("status") or "",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("updated_from"), data.get("updated_until")
        if start and end and end < start:
            self.add_error("updated_until", gettext("The end comes before the start."))
        return data

    def period(self) -> tuple[dt.date | None, dt.date | None]:
        """The days the qualification was last updated between (either may be open)."""
        return self.value("updated_from"), self.value("updated_until")


class PeriodFilterForm(_FilterForm):
    start = forms.DateField(label=_("From"), widget=DateInput(), required=False)
    end = forms.DateField(label=_("Until"), widget=DateInput(), required=False)

    default_days = 90

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", gettext("The end comes before the start."))
            elif (end - start).days > MAX_PERIOD_DAYS:
                self.add_error("start", gettext("Choose a period of at most three years."))
        return data

    def period(self, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
        """The period asked for; by default the last ``default_days`` days up to today."""
        today = today or timezone.localdate()
        end = self.value("end") or today
        start = self.value("start") or end - dt.timedelta(days=self.default_days - 1)
        return start, end


class CostFilterForm(PeriodFilterForm):
    default_days = 365
