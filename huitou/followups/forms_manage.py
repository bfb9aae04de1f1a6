"""Forms of the plan-management pages. They only shape input; every write goes through a service."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.accounts import permissions
from huitou.core.errors import ValidationFailed
from huitou.core.forms import DateInput, DateTimeInput

from . import compliance, plan_admin, rules
from .defaults import TRIGGER_PARAMS
from .models import Assignee, Channel, ContactRule, ProductNotice, Purpose, Trigger

if TYPE_CHECKING:
    from huitou.accounts.models import User


class ManageForm(forms.Form):
    """Bootstrap classes on every widget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.CheckboxSelectMultiple | forms.HiddenInput):
                continue
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")

    # Service field name → form field name, where they differ.
    SERVICE_FIELDS: dict[str, str] = {}

    def add_service_errors(self, exc: ValidationFailed) -> None:
        """Put each service error next to its field, or on top of the form."""
        for field, messages in exc.errors.items():
            name = self.SERVICE_FIELDS.get(field, field)
            if name.startswith("params."):
                name = "param_" + name.split(".", 1)[1]
            target = name if name in self.fields else None
            for message in messages:
                text = gettext(message)
                if target is None and field != "__all__":
                    text = f"{field}: {text}"
                self.add_error(target, text)


# ---------------------------------------------------------------------------------------------
# Rules


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace(",", ",").replace(";", ",").split(",") if p.strip()]


class IntListField(forms.CharField):
    """ "6, 10" → [6, 10]."""

    def to_python(self, value: Any) -> list[int]:  # type: ignore[override]
        text = super().to_python(value)
        try:
            return [int(p) for p in _split(text or "")]
        except ValueError as exc:
            raise forms.ValidationError(_("Enter whole numbers separated by commas.")) from exc


class TextListField(forms.CharField):
    """ "03-01, 06-01" → ["03-01", "06-01"]."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        return _split(super().to_python(value) or "")


def _activity_kinds() -> list[tuple[str, Any]]:
    from huitou.customers.models import Activity

    return list(Activity.Kind.choices)


def _personal_date_kinds() -> list[tuple[str, Any]]:
    from huitou.customers.models import PersonalDate

    return list(PersonalDate.Kind.choices)


def _customer_choices() -> dict[str, list[tuple[str, Any]]]:
    from huitou.customers.models import Customer

    return {
        "tiers": [(v or "-", label) for v, label in Customer.Tier.choices],
        "customer_types": [(v or "-", label) for v, label in Customer.Type.choices],
        "customer_kinds": list(Customer.Kind.choices),
    }


# Which trigger shows which parameter field (the page hides the others).
PARAM_FIELDS = {key for spec in TRIGGER_PARAMS.values() for key in spec}


class RuleForm(ManageForm):
    code = forms.SlugField(
        label=_("code"), max_length=48, help_text=_("Letters, digits and -; fixed once saved.")
    )
    name = forms.CharField(label=_("rule name"), max_length=120)
    description = forms.CharField(
        label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    active = forms.BooleanField(label=_("active"), required=False, initial=True)
    trigger = forms.ChoiceField(label=_("trigger"), choices=Trigger.choices)
    offset_days = forms.IntegerField(
        label=_("offset (days)"),
        initial=0,
        min_value=-rules.OFFSET_LIMIT,
        max_value=rules.OFFSET_LIMIT,
        help_text=_("Days after the trigger date; negative means before."),
    )
    channel = forms.ChoiceField(label=_("channel"), choices=Channel.choices)
    purpose = forms.ChoiceField(
        label=_("purpose"),
        choices=Purpose.choices,
        help_text=_("Only marketing counts toward the frequency cap and needs consent."),
    )
    priority = forms.IntegerField(
        label=_("priority"),
        initial=50,
        min_value=0,
        max_value=rules.PRIORITY_MAX,
        help_text=_("Higher wins when the frequency cap forces a choice."),
    )
    assignee = forms.ChoiceField(label=_("assigned to"), choices=Assignee.choices, initial=Assignee.OWNER)
    template = forms.CharField(
        label=_("message template"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Fields you can use: {name}, {product}, {date}, {store}, {rep}, {festival}, {occasion}, {notice}."
        ),
    )
    sms_template_code = forms.CharField(label=_("SMS template id"), max_length=64, required=False)
    script = forms.CharField(
        label=_("suggested script"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    # Parameters, one field per key of defaults.TRIGGER_PARAMS.
    param_festival = forms.ChoiceField(label=_("festival"), required=False)
    param_interval_days = forms.IntegerField(label=_("interval (days)"), required=False)
    param_activity_kinds = forms.MultipleChoiceField(
        label=_("touches that reset the interval"), required=False, widget=forms.CheckboxSelectMultiple
    )
    param_dates = TextListField(
        label=_("dates (MM-DD)"), required=False, help_text=_("Separated by commas, e.g. 03-01, 09-01.")
    )
    param_max_purchases_365 = forms.IntegerField(
        label=_("at most this many purchases in a year"), required=False
    )
    param_km = forms.IntegerField(label=_("every … km"), required=False)
    param_months = forms.IntegerField(label=_("or every … months"), required=False)
    param_ages = IntListField(
        label=_("inspection at these ages (years)"),
        required=False,
        help_text=_("Separated by commas, e.g. 6, 10."),
    )
    param_yearly_from = forms.IntegerField(label=_("yearly from age"), required=False)
    param_twice_yearly_from = forms.IntegerField(label=_("twice a year from age"), required=False)
    param_kinds = forms.MultipleChoiceField(
        label=_("personal dates"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked means every kind."),
    )
    # Which customers.
    tiers = forms.MultipleChoiceField(label=_("tiers"), required=False, widget=forms.CheckboxSelectMultiple)
    customer_types = forms.MultipleChoiceField(
        label=_("customer types"), required=False, widget=forms.CheckboxSelectMultiple
    )
    customer_kinds = forms.MultipleChoiceField(
        label=_("customer kinds"), required=False, widget=forms.CheckboxSelectMultiple
    )
    store_ids = forms.MultipleChoiceField(
        label=_("stores"), required=False, widget=forms.CheckboxSelectMultiple
    )
    product_ids = forms.MultipleChoiceField(
        label=_("products"), required=False, widget=forms.SelectMultiple(attrs={"size": 6})
    )
    product_categories = TextListField(
        label=_("product categories"), required=False, help_text=_("Separated by commas.")
    )
    tags = TextListField(label=_("tags"), required=False, help_text=_("Separated by commas."))
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    SECTIONS = [
        (_("Rule"), ["code", "name", "description", "active", "trigger", "offset_days", "priority"]),
        (_("Touch"), ["channel", "purpose", "assignee", "template", "sms_template_code", "script"]),
        (
            _("Parameters"),
            [
                "param_festival",
                "param_interval_days",
                "param_activity_kinds",
                "param_dates",
                "param_max_purchases_365",
                "param_km",
                "param_months",
                "param_ages",
                "param_yearly_from",
                "param_twice_yearly_from",
                "param_kinds",
            ],
        ),
        (
            _("Which customers (none ticked: all)"),
            [
                "tiers",
                "customer_types",
                "customer_kinds",
                "store_ids",
                "product_ids",
                "product_categories",
                "tags",
            ],
        ),
    ]

    def __init__(self, *args: Any, viewer: User, instance: ContactRule | None = None, **kwargs: Any) -> None:
        from huitou.accounts.models import Store
        from huitou.customers.models import Product

        self.viewer = viewer
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = rule_initial(instance)
        super().__init__(*args, **kwargs)
        if instance is not None:
            self.fields["code"].disabled = True
            self.fields["code"].required = False
        try:
            festivals = rules.festival_codes()
        except ImportError:  # the calendar module is missing: the festival trigger cannot be used
            festivals = {}
        self._choices("param_festival", [("", "—"), *festivals.items()])
        self._choices("param_activity_kinds", _activity_kinds())
        self._choices("param_kinds", _personal_date_kinds())
        for name, choices in _customer_choices().items():
            self._choices(name, choices)
        org = permissions.org_id(viewer)
        self._choices(
            "store_ids",
            [(str(s.pk), s.name) for s in Store.objects.filter(organisation_id=org).order_by("code")],
        )
        products = (
            Product.objects.filter(organisation_id=org).order_by("name").values_list("pk", "name")[:500]
        )
        self._choices("product_ids", [(str(pk), name) for pk, name in products])
        for name in PARAM_FIELDS:
            self.fields[f"param_{name}"].widget.attrs["data-param"] = name
        self.fields["trigger"].widget.attrs["data-trigger-select"] = "1"

    def _choices(self, name: str, choices: list[tuple[str, Any]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(str(title), [self[name] for name in names]) for title, names in self.SECTIONS]

    def param_triggers(self) -> dict[str, list[str]]:
        """param key → triggers using it, for the page to show only the relevant fields."""
        out: dict[str, list[str]] = {}
        for trigger, spec in TRIGGER_PARAMS.items():
            for key in spec:
                out.setdefault(key, []).append(str(trigger))
        return out

    def service_data(self) -> dict[str, Any]:
        """What ``rules.rule_create``/``rule_update`` take; call after ``is_valid()``."""
        c = self.cleaned_data
        data: dict[str, Any] = {
            f: c[f]
            for f in (
                "name",
                "description",
                "active",
                "trigger",
                "offset_days",
                "channel",
                "purpose",
                "priority",
                "assignee",
                "template",
                "sms_template_code",
                "script",
                "product_categories",
                "tags",
            )
        }
        if self.instance is None:
            data["code"] = c["code"]
        data["tiers"] = ["" if v == "-" else v for v in c["tiers"]]
        data["customer_types"] = ["" if v == "-" else v for v in c["customer_types"]]
        data["customer_kinds"] = list(c["customer_kinds"])
        data["store_ids"] = [int(v) for v in c["store_ids"]]
        data["product_ids"] = [int(v) for v in c["product_ids"]]
        params: dict[str, Any] = {}
        for key in TRIGGER_PARAMS.get(c["trigger"], {}):
            value = c.get(f"param_{key}")
            if value in (None, "") and key != "kinds":
                continue  # the service fills the default (or says it is required)
            params[key] = list(value) if isinstance(value, list | tuple) else value
        data["params"] = params
        return data


def rule_initial(rule: ContactRule) -> dict[str, Any]:
    initial: dict[str, Any] = {
        f: getattr(rule, f)
        for f in (
            "code",
            "name",
            "description",
            "active",
            "trigger",
            "offset_days",
            "channel",
            "purpose",
            "priority",
            "assignee",
            "template",
            "sms_template_code",
            "script",
            "customer_kinds",
        )
    }
    initial["tiers"] = [v or "-" for v in rule.tiers]
    initial["customer_types"] = [v or "-" for v in rule.customer_types]
    initial["store_ids"] = [str(v) for v in rule.store_ids]
    initial["product_ids"] = [str(v) for v in rule.product_ids]
    initial["product_categories"] = ", ".join(rule.product_categories)
    initial["tags"] = ", ".join(rule.tags)
    initial["version"] = rule.version
    spec = {**TRIGGER_PARAMS.get(rule.trigger, {}), **(rule.params or {})}
    for key, value in spec.items():
        if key in {"dates", "ages"}:
            value = ", ".join(str(v) for v in value)
        initial[f"param_{key}"] = value
    return initial


class PreviewForm(forms.Form):
    template = forms.CharField(required=False)
    trigger = forms.CharField(required=False)
    param_festival = forms.CharField(required=False)
    sample_customer = forms.IntegerField(required=False, min_value=1)


# ---------------------------------------------------------------------------------------------
# Reports


class PeriodForm(ManageForm):
    start = forms.DateField(label=_("start date"), widget=DateInput(), required=False)
    end = forms.DateField(label=_("end date"), widget=DateInput(), required=False)
    store = forms.TypedChoiceField(label=_("store"), required=False, coerce=int, empty_value=None)
    team = forms.TypedChoiceField(label=_("team"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        from huitou.accounts.models import Store, Team

        super().__init__(*args, **kwargs)
        org = permissions.org_id(viewer)
        stores = Store.objects.filter(organisation_id=org).order_by("code").values_list("pk", "name")
        teams = Team.objects.filter(organisation_id=org).order_by("name").values_list("pk", "name")
        self._set("store", [("", gettext("All stores")), *((str(k), v) for k, v in stores)])
        self._set("team", [("", gettext("All teams")), *((str(k), v) for k, v in teams)])

    def _set(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def period(self) -> tuple[dt.date, dt.date]:
        """The chosen period; by default the current month."""
        first, last = compliance.this_month()
        data = self.cleaned_data if self.is_valid() else {}
        return data.get("start") or first, data.get("end") or last

    def value(self, name: str) -> int | None:
        return self.cleaned_data.get(name) if self.is_valid() else None


# ---------------------------------------------------------------------------------------------
# Requests


class RequestForm(ManageForm):
    customer_id = forms.IntegerField(label=_("customer no."), min_value=1)
    summary = forms.CharField(label=_("request"), max_length=255)
    channel = forms.ChoiceField(label=_("channel"), choices=Channel.choices, initial=Channel.CALL)
    received_at = forms.DateTimeField(
        label=_("received at"),
        required=False,
        widget=DateTimeInput(),
        help_text=_("Leave empty for now."),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class ReplyForm(ManageForm):
    note = forms.CharField(label=_("reply"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


# ---------------------------------------------------------------------------------------------
# Absences and notices


class AbsenceForm(ManageForm):
    user = forms.TypedChoiceField(label=_("person away"), coerce=int)
    starts_on = forms.DateField(label=_("first day"), widget=DateInput())
    ends_on = forms.DateField(label=_("last day"), widget=DateInput())
    delegate = forms.TypedChoiceField(
        label=_("covered by"),
        coerce=int,
        required=False,
        empty_value=None,
        help_text=_("Leave empty to send the tasks to the team manager."),
    )
    reason = forms.CharField(label=_("reason"), max_length=120, required=False)

    SERVICE_FIELDS = {"user_id": "user", "delegate_id": "delegate"}

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = [(str(u.pk), u.label) for u in plan_admin.absence_people(viewer)]
        delegates = [(str(u.pk), u.label) for u in plan_admin.delegates_for(viewer)]
        user_field = self.fields["user"]
        delegate_field = self.fields["delegate"]
        assert isinstance(user_field, forms.ChoiceField) and isinstance(delegate_field, forms.ChoiceField)
        user_field.choices = [("", "—"), *people]
        delegate_field.choices = [("", "—"), *delegates]


class NoticeForm(ManageForm):
    product = forms.TypedChoiceField(label=_("product"), coerce=int)
    kind = forms.ChoiceField(label=_("kind"), choices=ProductNotice.Kind.choices)
    title = forms.CharField(label=_("title"), max_length=200)
    body = forms.CharField(label=_("text"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    effective_on = forms.DateField(label=_("effective on"), widget=DateInput(), initial=timezone.localdate)

    SERVICE_FIELDS = {"product_id": "product"}

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["product"]
        assert isinstance(field, forms.ChoiceField)
        products = plan_admin.products_for_notices(viewer).values_list("pk", "name")[:1000]
        field.choices = [("", "—"), *((str(pk), name) for pk, name in products)]
