"""Filters of the report pages and the share-of-wallet form. They only shape input."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.accounts import permissions
from huitou.core.forms import MonthField
from huitou.core.months import add_months, month_first
from huitou.customers.models import Customer

from .models import WalletEstimate
from .selectors import MAX_FUNNEL_MONTHS

if TYPE_CHECKING:
    from huitou.accounts.models import User


class _Form(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            w = f.widget
            if isinstance(w, forms.Select):
                w.attrs.setdefault("class", "form-select form-select-sm")
            elif not isinstance(w, forms.HiddenInput):
                w.attrs.setdefault("class", "form-control form-control-sm")

    def _choices(self, name: str, choices: list[tuple[Any, Any]]) -> None:
        f = self.fields[name]
        assert isinstance(f, forms.ChoiceField)
        f.choices = choices

    def value(self, name: str) -> Any:
        return self.cleaned_data.get(name) if self.is_valid() else None


def _year_choices(today: dt.date) -> list[tuple[Any, Any]]:
    return [(str(y), str(y)) for y in range(today.year + 1, today.year - 10, -1)]


class ScopeForm(_Form):
    """Store, team and rep, limited to the viewer's organisation (rows are scoped in selectors)."""

    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)
    team = forms.TypedChoiceField(label=_("team"), required=False, coerce=int, empty_value=None)
    rep = forms.TypedChoiceField(label=_("rep"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from huitou.accounts.models import Store, Team, User

        org = permissions.org_id(viewer)
        stores = Store.objects.filter(organisation_id=org).order_by("code").values_list("pk", "name")
        teams = Team.objects.filter(organisation_id=org).order_by("name").values_list("pk", "name")
        reps = User.objects.filter(
            organisation_id=org, role__in=[permissions.REP, permissions.MANAGER], is_active=True
        ).order_by("username")
        if viewer.role == permissions.REP:
            reps = reps.filter(pk=viewer.pk)
        self._choices("store", [("", gettext("All stores")), *((str(k), v) for k, v in stores)])
        self._choices("team", [("", gettext("All teams")), *((str(k), v) for k, v in teams)])
        self._choices("rep", [("", gettext("All reps")), *((str(u.pk), u.label) for u in reps)])


class AccountsForm(ScopeForm):
    year = forms.TypedChoiceField(label=_("year"), required=False, coerce=int, empty_value=None)
    kind = forms.ChoiceField(label=_("kind"), required=False)
    sort = forms.ChoiceField(
        label=_("order"),
        required=False,
        choices=[("-id", _("Newest first")), ("id", _("Oldest first")), ("name", _("Name"))],
    )

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, viewer=viewer, **kwargs)
        self._choices("year", _year_choices(timezone.localdate()))
        self._choices("kind", [("", gettext("All kinds")), *Customer.Kind.choices])

    def chosen_year(self) -> int:
        return self.value("year") or timezone.localdate().year


class YearForm(_Form):
    year = forms.TypedChoiceField(label=_("year"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("year", _year_choices(timezone.localdate()))

    def chosen_year(self) -> int:
        return self.value("year") or timezone.localdate().year


class ReceivablesForm(ScopeForm):
    group = forms.ChoiceField(
        label=_("per"), required=False, choices=[("store", _("Store")), ("rep", _("Rep"))]
    )


class FunnelForm(ScopeForm):
    start = MonthField(label=_("from month"), required=False)
    end = MonthField(label=_("to month"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", gettext("must not be before the start"))
            elif (end.year * 12 + end.month) - (start.year * 12 + start.month) >= MAX_FUNNEL_MONTHS:
                self.add_error(
                    "end", gettext("a period covers at most %(n)s months") % {"n": MAX_FUNNEL_MONTHS}
                )
        return data

    def period(self, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
        """The chosen months; by default the twelve months up to this one."""
        this = month_first(today or timezone.localdate())
        data = self.cleaned_data if self.is_valid() else {}
        end = data.get("end") or this
        start = data.get("start") or add_months(end, -11)
        return start, end


class WalletForm(_Form):
    year = forms.IntegerField(label=_("year"), min_value=1900, max_value=2200)
    amount = forms.DecimalField(
        label=_("total purchases in the category"), min_value=0, max_digits=16, decimal_places=2
    )
    source = forms.ChoiceField(label=_("source"), choices=WalletEstimate.Source.choices)
    category = forms.CharField(label=_("category"), max_length=64, required=False)
    note = forms.CharField(label=_("note"), max_length=255, required=False)
