"""Forms of the account pages. The policy form is generated from the typed policy model, so a
section that a later capability adds to ``OrgPolicy`` appears on the settings page by itself."""

from __future__ import annotations

import json
import typing
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from huitou.core.errors import ValidationFailed

from .models import User
from .policy import OrgPolicy

_ROLE_LABELS = dict(User.Role.choices)
# What the settings page shows for the values of the policy's choice fields (``Literal``); a value
# without an entry shows as written.
_CHOICE_LABELS: dict[str, Any] = {
    **_ROLE_LABELS,
    "revenue": _("Revenue"),
    "margin": _("Margin"),
    "maintenance_voucher": _("Maintenance voucher"),
    "gift_voucher": _("Gift voucher"),
    "bgnbd": "BG/NBD",
    "paretonbd": "Pareto/NBD",
    "sms": _("SMS"),
    "email": _("Email"),
    "low": _("Low"),
    "medium": _("Medium"),
    "high": _("High"),
    "critical": _("Critical"),
    "mean": _("At the means of the factors"),
    "fixed": _("At fixed cut-offs"),
    "companies": _("Company accounts"),
    "all": _("All accounts"),
    "none": _("No accounts"),
}


def _label(name: str, info: FieldInfo) -> str:
    # Policy fields carry English titles/descriptions; the catalogue translates them.
    text = info.title or info.description or name.replace("_", " ").capitalize()
    return gettext(text)


def _bounds(info: FieldInfo) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    for meta in info.metadata:
        for attr, key in (("ge", "min_value"), ("le", "max_value"), ("gt", "min_value"), ("lt", "max_value")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds[key] = value
    return bounds


def _choices(values: tuple[Any, ...]) -> list[tuple[str, str]]:
    return [(str(v), str(_CHOICE_LABELS.get(v, v))) for v in values]


def _field_for(name: str, info: FieldInfo) -> forms.Field:
    annotation = info.annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    common: dict[str, Any] = {"label": _label(name, info), "required": False}
    if info.description and info.title:
        common["help_text"] = gettext(info.description)
    if annotation is bool:
        return forms.BooleanField(**common)
    if annotation is int:
        return forms.IntegerField(**common, **_bounds(info))
    if annotation is float:
        return forms.FloatField(**common, **_bounds(info))
    if annotation is Decimal:
        return forms.DecimalField(**common, **_bounds(info))
    if annotation is str:
        return forms.CharField(**common)
    if origin is typing.Literal:
        return forms.ChoiceField(choices=_choices(args), **common)
    if origin is list and args and typing.get_origin(args[0]) is typing.Literal:
        return forms.MultipleChoiceField(
            choices=_choices(typing.get_args(args[0])), widget=forms.CheckboxSelectMultiple, **common
        )
    if origin is list and args and args[0] in (str, int):
        return forms.CharField(help_text=_("Separate values with commas."), **common)
    # Anything richer is edited as JSON; the policy model still validates it.
    return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text=_("JSON value."), **common)


def _walk(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, FieldInfo]]:
    """(dotted name, section, field info) for every leaf field of the policy model."""
    out: list[tuple[str, str, FieldInfo]] = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_walk(ann, f"{prefix}{name}."))
        else:
            out.append((f"{prefix}{name}", prefix.rstrip("."), info))
    return out


def _get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


class PolicyForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, policy: OrgPolicy, version: int, **kwargs: Any) -> None:
        self.policy_data = policy.model_dump(mode="json")
        self.leaves = _walk(OrgPolicy)
        initial: dict[str, Any] = {"version": version}
        for dotted, _section, info in self.leaves:
            value = _get(self.policy_data, dotted)
            ann_origin = typing.get_origin(info.annotation)
            ann_args = typing.get_args(info.annotation)
            if ann_origin is list and ann_args and ann_args[0] in (str, int):
                value = ", ".join(str(v) for v in value or [])
            elif not isinstance(value, str | int | float | bool | list) and value is not None:
                value = json.dumps(value, ensure_ascii=False)
            initial[dotted] = value
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for dotted, _section, info in self.leaves:
            field = _field_for(dotted.rsplit(".", 1)[-1], info)
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
                widget.attrs["class"] = "form-check-input"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select"
            else:
                widget.attrs["class"] = "form-control"
            self.fields[dotted] = field

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        grouped: dict[str, list[forms.BoundField]] = {}
        for dotted, section, _info in self.leaves:
            grouped.setdefault(section, []).append(self[dotted])
        return [(gettext(s.replace("_", " ").capitalize() or "General"), fs) for s, fs in grouped.items()]

    def policy_payload(self) -> dict[str, Any]:
        """The whole policy document with this form's values, for ``policy_update`` to validate."""
        data = json.loads(json.dumps(self.policy_data))
        for dotted, _section, info in self.leaves:
            value = self.cleaned_data.get(dotted)
            origin = typing.get_origin(info.annotation)
            args = typing.get_args(info.annotation)
            if isinstance(self.fields[dotted], forms.CharField) and not (
                info.annotation is str or origin is typing.Literal
            ):
                text = (value or "").strip()
                if origin is list and args and args[0] in (str, int):
                    value = [v.strip() for v in text.replace("，", ",").split(",") if v.strip()]
                else:
                    try:
                        value = json.loads(text) if text else None
                    except json.JSONDecodeError:
                        self.add_error(dotted, gettext("Not valid JSON."))
                        continue
            if value is None and info.annotation in (int, float, Decimal):
                self.add_error(dotted, gettext("Enter a number."))
                continue
            if isinstance(value, Decimal):
                value = str(value)
            _set(data, dotted, value)
        return data

    def add_service_errors(self, exc: ValidationFailed) -> None:
        names = sorted(self.fields, key=len, reverse=True)
        for key, messages in exc.errors.items():
            target = next((n for n in names if key == n or key.startswith(n + ".")), None)
            for message in messages:
                if "changed by someone else" in message:
                    message = gettext(
                        "The settings were changed by someone else while you were editing. "
                        "Reload the page to see their changes, then edit again."
                    )
                self.add_error(target, message)


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"),
        max_length=64,
        initial="default",
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": _("e.g. mobile app")}),
    )
