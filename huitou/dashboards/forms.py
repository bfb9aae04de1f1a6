"""Filters of the unified rep scorecard."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.accounts import permissions
from huitou.core.forms import MonthField
from huitou.core.months import month_first

from .scorecard import people

if TYPE_CHECKING:
    from huitou.accounts.models import User


class ScorecardForm(forms.Form):
    month = MonthField(label=_("month"), required=False)
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)
    team = forms.TypedChoiceField(label=_("team"), required=False, coerce=int, empty_value=None)
    rep = forms.TypedChoiceField(label=_("rep"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        from huitou.accounts.models import Store, Team

        super().__init__(*args, **kwargs)
        org = permissions.org_id(viewer)
        stores = Store.objects.filter(organisation_id=org).order_by("code").values_list("pk", "name")
        teams = Team.objects.filter(organisation_id=org).order_by("name").values_list("pk", "name")
        self._set("store", [("", gettext("All stores")), *((str(k), v) for k, v in stores)])
        self._set("team", [("", gettext("All teams")), *((str(k), v) for k, v in teams)])
        reps = [(str(p["pk"]), p["display_name"] or p["username"]) for p in people(viewer)]
        self._set("rep", [("", gettext("All reps")), *reps])
        for f in self.fields.values():
            css = (
                "form-select form-select-sm"
                if isinstance(f.widget, forms.Select)
                else "form-control form-control-sm"
            )
            f.widget.attrs.setdefault("class", css)

    def _set(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def value(self, name: str) -> Any:
        return self.cleaned_data.get(name) if self.is_valid() else None

    def chosen_month(self, today: dt.date | None = None) -> dt.date:
        return self.value("month") or month_first(today or timezone.localdate())
