"""Forms of the insight pages. They only shape input; the one write goes through a service."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.accounts import permissions
from huitou.core.errors import ValidationFailed
from huitou.core.forms import MonthField

from .insights import MAX_MONTHS, add_months, month_first
from .models import ReferrerType

if TYPE_CHECKING:
    from huitou.accounts.models import User


class _Form(forms.Form):
    """Bootstrap classes on every widget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            w = f.widget
            if isinstance(w, forms.CheckboxInput):
                w.attrs.setdefault("class", "form-check-input")
            elif isinstance(w, forms.HiddenInput):
                continue
            elif isinstance(w, forms.Select):
                w.attrs.setdefault("class", "form-select form-select-sm")
            else:
                w.attrs.setdefault("class", "form-control form-control-sm")

    def _choices(self, name: str, choices: list[tuple[Any, Any]]) -> None:
        f = self.fields[name]
        assert isinstance(f, forms.ChoiceField)
        f.choices = choices

    def value(self, name: str) -> Any:
        return self.cleaned_data.get(name) if self.is_valid() else None

    def add_service_errors(self, exc: ValidationFailed) -> None:
        for name, messages in exc.errors.items():
            target = name if name in self.fields else None
            for m in messages:
                self.add_error(target, gettext(m))


def _stores(viewer: User) -> list[tuple[Any, Any]]:
    from huitou.accounts.models import Store

    rows = Store.objects.filter(organisation_id=permissions.org_id(viewer)).order_by("code")
    return [("", gettext("All stores")), *((str(pk), name) for pk, name in rows.values_list("pk", "name"))]


def _teams(viewer: User) -> list[tuple[Any, Any]]:
    from huitou.accounts.models import Team

    rows = Team.objects.filter(organisation_id=permissions.org_id(viewer)).order_by("name")
    return [("", gettext("All teams")), *((str(pk), name) for pk, name in rows.values_list("pk", "name"))]


class InsightsForm(_Form):
    start = MonthField(label=_("from month"), required=False)
    end = MonthField(label=_("to month"), required=False)
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("store", _stores(viewer))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", gettext("must not be before the start"))
            elif (end.year * 12 + end.month) - (start.year * 12 + start.month) >= MAX_MONTHS:
                self.add_error("end", gettext("a period covers at most %(n)s months") % {"n": MAX_MONTHS})
        return data

    def period(self, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
        """The chosen months; by default the twelve months up to this one."""
        this = month_first(today or timezone.localdate())
        data = self.cleaned_data if self.is_valid() else {}
        end = data.get("end") or this
        start = data.get("start") or add_months(end, -11)
        return start, end


class ScorecardForm(_Form):
    month = MonthField(label=_("month"), required=False)
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)
    team = forms.TypedChoiceField(label=_("team"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("store", _stores(viewer))
        self._choices("team", _teams(viewer))

    def chosen_month(self, today: dt.date | None = None) -> dt.date:
        data = self.cleaned_data if self.is_valid() else {}
        return data.get("month") or month_first(today or timezone.localdate())


class BaseCustomersForm(_Form):
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)
    type = forms.ChoiceField(label=_("referrer type"), required=False)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("store", _stores(viewer))
        self._choices("type", [("", gettext("All types")), *ReferrerType.choices])


class ReferrerTypeForm(_Form):
    referrer_type = forms.ChoiceField(label=_("referrer type"), required=False)
    refuses_rewards = forms.BooleanField(label=_("refuses rewards"), required=False)
    asked_for_help = forms.CharField(label=_("asked us for help with"), max_length=255, required=False)
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    version = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("referrer_type", [("", gettext("Not set")), *ReferrerType.choices])
