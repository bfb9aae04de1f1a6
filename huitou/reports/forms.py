"""Filters of the report pages and the forms of wallet estimates, promotions, promotion tags and
display and stock checks. They only shape input; the services validate and write."""

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
from huitou.customers.models import Customer, Purchase

from .models import StockCheck, WalletEstimate
from .selectors import MAX_FUNNEL_MONTHS

if TYPE_CHECKING:
    from huitou.accounts.models import User


class _Form(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            w = f.widget
            if isinstance(w, (forms.CheckboxSelectMultiple, forms.CheckboxInput)):
                w.attrs.setdefault("class", "form-check-input")
            elif isinstance(w, forms.Select):
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
    stock_out = forms.BooleanField(label=_("stock out at last check"), required=False)

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
        # The report shows this year when none is chosen: the menu must say so (its first
        # choice is next year's).
        self.fields["year"].initial = str(timezone.localdate().year)

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


class _DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class PromotionForm(_Form):
    """Create or change a promotion. Service errors come back on these fields (``store_ids``
    is the ``stores`` field here)."""

    name = forms.CharField(label=_("name"), max_length=120)
    starts_on = forms.DateField(label=_("starts on"), widget=_DateInput())
    ends_on = forms.DateField(label=_("ends on"), widget=_DateInput())
    stores = forms.TypedMultipleChoiceField(
        label=_("stores (none: all)"), required=False, coerce=int, widget=forms.CheckboxSelectMultiple
    )
    purchase_kinds = forms.MultipleChoiceField(
        label=_("purchase kinds (none: all)"),
        required=False,
        choices=Purchase.Kind.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    note = forms.CharField(label=_("note"), max_length=255, required=False)

    SERVICE_FIELDS = {"store_ids": "stores"}

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from huitou.accounts.models import Store

        stores = Store.objects.filter(organisation_id=permissions.org_id(viewer)).order_by("code")
        self._choices("stores", [(s.pk, s.name) for s in stores])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("starts_on"), data.get("ends_on")
        if start and end and end < start:
            self.add_error("ends_on", gettext("must not be before the start"))
        return data

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        for key, messages in errors.items():
            name = self.SERVICE_FIELDS.get(key, key)
            for m in messages:
                self.add_error(name if name in self.fields else None, gettext(m))


class TagForm(_Form):
    purchase = forms.IntegerField(label=_("purchase"), min_value=1)
    promotion = forms.IntegerField(label=_("promotion"), min_value=1)


class UntagForm(_Form):
    purchase = forms.IntegerField(label=_("purchase"), min_value=1)


class StockCheckForm(_Form):
    checked_on = forms.DateField(label=_("checked on"), widget=_DateInput())
    display = forms.ChoiceField(label=_("display"), choices=StockCheck.Display.choices)
    facings = forms.IntegerField(label=_("facings"), min_value=1, required=False)
    stock = forms.ChoiceField(label=_("stock"), choices=StockCheck.Stock.choices)
    out_of_stock = forms.CharField(label=_("products out of stock"), max_length=255, required=False)
    note = forms.CharField(label=_("note"), max_length=255, required=False)

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        for key, messages in errors.items():
            for m in messages:
                self.add_error(key if key in self.fields else None, gettext(m))
