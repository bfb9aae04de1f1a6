"""Forms of the voucher pages. They only shape input; every write goes through a service."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.accounts import permissions
from huitou.core.errors import ValidationFailed
from huitou.core.forms import DateInput

from .models import Voucher

if TYPE_CHECKING:
    from huitou.accounts.models import User


class MonthField(forms.DateField):
    """``2025-06`` (what ``<input type="month">`` sends) → the first day of that month."""

    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
    input_formats = ["%Y-%m", "%Y-%m-%d"]

    def to_python(self, value: Any) -> dt.date | None:
        day = super().to_python(value)
        return day.replace(day=1) if day else None


class _Form(forms.Form):
    """Bootstrap classes on every widget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            css = "form-select" if isinstance(f.widget, forms.Select) else "form-control"
            f.widget.attrs.setdefault("class", css)

    def add_service_errors(self, exc: ValidationFailed) -> None:
        for name, messages in exc.errors.items():
            target = name if name in self.fields else None
            for message in messages:
                self.add_error(target, gettext(message))

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        f = self.fields[name]
        assert isinstance(f, forms.ChoiceField)
        f.choices = choices


def _stores(viewer: User) -> list[tuple[str, str]]:
    from huitou.accounts.models import Store

    if not permissions.is_active_member(viewer):
        return []
    rows = Store.objects.filter(organisation_id=permissions.org_id(viewer)).order_by("code")
    return [(str(pk), name) for pk, name in rows.values_list("pk", "name")]


def _people(viewer: User) -> list[tuple[str, str]]:
    """Reps (and managers) the viewer may filter by; a rep only themselves."""
    from huitou.accounts.models import User as UserModel

    if not permissions.is_active_member(viewer):
        return []
    qs = UserModel.objects.filter(
        organisation_id=permissions.org_id(viewer), role__in=[permissions.REP, permissions.MANAGER]
    )
    if viewer.role == permissions.REP:
        qs = qs.filter(pk=viewer.pk)
    elif viewer.role == permissions.MANAGER:
        from django.db.models import Q

        qs = qs.filter(Q(store_id=viewer.store_id) | Q(team__manager_id=viewer.pk) | Q(pk=viewer.pk))
    rows = qs.order_by("username").values_list("pk", "display_name", "username")
    return [(str(pk), display or username) for pk, display, username in rows]


class VoucherFilterForm(_Form):
    code = forms.CharField(label=_("code"), required=False, max_length=32)
    status = forms.ChoiceField(label=_("status"), required=False)
    kind = forms.ChoiceField(label=_("kind"), required=False)
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)
    rep = forms.TypedChoiceField(label=_("rep"), required=False, coerce=int, empty_value=None)
    month = MonthField(label=_("month of issue"), required=False)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices(
            "status", [("", gettext("Any status")), *((k, str(v)) for k, v in Voucher.Status.choices)]
        )
        self._choices("kind", [("", gettext("Any kind")), *((k, str(v)) for k, v in Voucher.Kind.choices)])
        self._choices("store", [("", gettext("All stores")), *_stores(viewer)])
        self._choices("rep", [("", gettext("Everyone")), *_people(viewer)])

    def value(self, name: str) -> Any:
        if not self.is_bound or not self.is_valid():
            return None
        return self.cleaned_data.get(name)


class VoidForm(_Form):
    reason = forms.CharField(
        label=_("reason"),
        max_length=255,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. refunded, issued by mistake")}),
    )


class RedeemForm(_Form):
    code = forms.CharField(
        label=_("Voucher code"),
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "class": "form-control form-control-lg font-monospace text-uppercase",
                "placeholder": _("Scan the QR code or type the code"),
            }
        ),
    )
    store = forms.TypedChoiceField(label=_("desk of"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("store", [("", gettext("My store")), *_stores(viewer)])
        if viewer.store_id and not self.is_bound:
            self.initial.setdefault("store", viewer.store_id)


class StatsForm(_Form):
    start = forms.DateField(label=_("issued from"), widget=DateInput(), required=False)
    end = forms.DateField(label=_("issued until"), widget=DateInput(), required=False)
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)
    rep = forms.TypedChoiceField(label=_("rep"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("store", [("", gettext("All stores")), *_stores(viewer)])
        self._choices("rep", [("", gettext("Everyone")), *_people(viewer)])

    def value(self, name: str) -> Any:
        if not self.is_bound or not self.is_valid():
            return None
        return self.cleaned_data.get(name)

    def period(self, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
        """The period asked for; by default this year up to today."""
        today = today or timezone.localdate()
        return self.value("start") or today.replace(month=1, day=1), self.value("end") or today
