"""The retention calculator's inputs: the period, a store, and the figures the organisation edits.

Each editable figure defaults to the seeds' value and says where it comes from. Nothing is saved:
the inputs travel in the query string, so a page with chosen figures can be bookmarked or shared.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.core.forms import MonthField
from huitou.core.months import month_first, month_start_after
from huitou.customers.selectors import stores_in_scope

from . import retention as rt
from .retention_data import MAX_MONTHS

if TYPE_CHECKING:
    from huitou.accounts.models import User


def _money(label: Any, help_text: Any) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        help_text=help_text,
        required=False,
        min_value=Decimal("0"),
        max_value=Decimal("100000000"),
        max_digits=12,
        decimal_places=2,
    )


def _percent(label: Any, help_text: Any, *, max_value: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        help_text=help_text,
        required=False,
        min_value=Decimal("0"),
        max_value=Decimal(max_value),
        max_digits=6,
        decimal_places=2,
    )


class RetentionForm(forms.Form):
    start = MonthField(label=_("from month"), required=False)
    end = MonthField(label=_("to month"), required=False)
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)
    acquisition_cost = _money(
        _("acquisition cost per new customer"),
        _("Seed: $118 to attract a new customer (American Management Association)."),
    )
    retention_cost = _money(
        _("retention cost per customer kept a year"),
        _("Seed: winning a customer costs 6 times keeping one; blank means acquisition cost ÷ 6."),
    )
    discount_rate = _percent(
        _("discount rate (% a year)"),
        _("Not a seed figure: 10% a year, a common cost of capital."),
        max_value="100",
    )
    target_churn = _percent(
        _("target churn (% a year)"),
        _("Seed: churn from 20% down to 10%; blank means half of your churn."),
        max_value="99.99",
    )

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        store = self.fields["store"]
        assert isinstance(store, forms.TypedChoiceField)
        store.choices = [
            ("", gettext("All stores")),
            *((str(pk), name) for pk, name in stores_in_scope(viewer).values_list("pk", "name")),
        ]
        for f in self.fields.values():
            w = f.widget
            w.attrs.setdefault(
                "class",
                "form-select form-select-sm"
                if isinstance(w, forms.Select)
                else "form-control form-control-sm",
            )
        self.fields["acquisition_cost"].widget.attrs["placeholder"] = f"{rt.SEED_ACQUISITION_COST:g}"
        self.fields["retention_cost"].widget.attrs["placeholder"] = gettext("acquisition ÷ 6")
        self.fields["discount_rate"].widget.attrs["placeholder"] = f"{rt.DEFAULT_DISCOUNT_RATE * 100:g}"
        self.fields["target_churn"].widget.attrs["placeholder"] = gettext("half of yours")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", gettext("must not be before the start"))
            elif rt.months_between(start, end) > MAX_MONTHS:
                self.add_error("end", gettext("a period covers at most %(n)s months") % {"n": MAX_MONTHS})
        return data

    def _data(self) -> dict[str, Any]:
        return self.cleaned_data if self.is_valid() else {}

    def period(self, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
        """The chosen months; by default the twelve months up to the current one."""
        this = month_first(today or timezone.localdate())
        data = self._data()
        end = data.get("end") or this
        start = data.get("start") or month_start_after(end, -11)
        return start, end

    def store_id(self) -> int | None:
        value = self._data().get("store")
        return int(value) if value else None

    def inputs(self) -> rt.Inputs:
        data = self._data()

        def number(name: str, scale: float = 1.0) -> float | None:
            value = data.get(name)
            return None if value is None else float(value) / scale

        acquisition = number("acquisition_cost")
        rate = number("discount_rate", 100.0)
        return rt.Inputs(
            acquisition_cost=rt.SEED_ACQUISITION_COST if acquisition is None else acquisition,
            retention_cost=number("retention_cost"),
            discount_rate=rt.DEFAULT_DISCOUNT_RATE if rate is None else rate,
            target_churn=number("target_churn", 100.0),
        )
