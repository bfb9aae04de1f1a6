"""Forms of the customer pages. They only shape input; every write goes through ``services``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, ValidationFailed
from huitou.core.forms import DateInput

from . import selectors, services
from .models import Activity, Calendar, Consent, Customer, OwnedProduct, PersonalDate, Purchase

if TYPE_CHECKING:
    from huitou.accounts.models import User

PROFILE_FIELDS = [
    "kind",
    "name",
    "gender",
    "company",
    "title",
    "phone",
    "wechat",
    "email",
    "province",
    "city",
    "address",
    "birthday_calendar",
    "birthday",
    "birthday_lunar_month",
    "birthday_lunar_day",
    "birthday_lunar_leap",
    "personality",
    "preferences",
    "special_needs",
    "form_family",
    "form_occupation",
    "form_recreation",
    "form_money",
    "source",
    "source_detail",
    "owner",
    "store",
    "status",
    "tier",
    "customer_type",
    "lost_reason",
]

# Service messages are English source strings; these give the reader a clearer sentence.
_FIELD_MESSAGES = {
    "phone": _("Enter a valid mobile phone number, e.g. 13812345678 or +8613812345678."),
}


def add_service_errors(form: forms.Form, exc: ValidationFailed) -> None:
    """Put each service error next to its field (or on top of the form when the field is not shown)."""
    for field, messages in exc.errors.items():
        target = field if field in form.fields else None
        for message in messages:
            text = _FIELD_MESSAGES.get(field) or gettext(message)
            if target is None and field != "__all__":
                label = field.replace("_", " ")
                text = f"{gettext(label)}: {text}"
            form.add_error(target, str(text))


def _style(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.CheckboxSelectMultiple | forms.HiddenInput):
            continue
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        else:
            widget.attrs.setdefault("class", "form-control")
        if isinstance(widget, forms.Textarea):
            widget.attrs["rows"] = 2


class StyledForm(forms.Form):
    # Forms that share the 360 page set this so their element ids differ (both the activity and
    # the purchase form have a "kind"); field names, and so what they post, stay the same.
    id_prefix = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if self.id_prefix:
            kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)
        _style(self)


class CustomerForm(StyledForm):
    """Create or edit a customer. Built from the model's fields; saved by the services."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    referred_by_id = forms.IntegerField(
        label=_("referred by (customer no.)"),
        required=False,
        min_value=1,
        help_text=_("The number of the customer who referred this one (shown on their page)."),
    )
    tags = forms.CharField(
        label=_("tags"),
        required=False,
        help_text=_("Separate tags with commas."),
    )

    def __init__(self, *args: Any, viewer: User, instance: Customer | None = None, **kwargs: Any) -> None:
        self.viewer = viewer
        self.instance = instance
        # Viewers who may not see full numbers get the masked one; left as is, it is not saved.
        self.full_phone = permissions.sees_full_phone(viewer)
        self.shown_phone = ""
        if instance is not None and instance.phone:
            self.shown_phone = permissions.phone_for(viewer, instance.phone, full=self.full_phone)
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                **forms.model_to_dict(instance, fields=PROFILE_FIELDS),
                "phone": self.shown_phone,
                "version": instance.version,
                "referred_by_id": instance.referred_by_id,
                "tags": ", ".join(t.name for t in instance.tags.all()),
            }
        super().__init__(*args, **kwargs)
        base = forms.fields_for_model(
            Customer,
            fields=PROFILE_FIELDS,
            widgets={
                "birthday": DateInput(),
                "birthday_lunar_month": forms.NumberInput(attrs={"min": 1, "max": 12}),
                "birthday_lunar_day": forms.NumberInput(attrs={"min": 1, "max": 30}),
            },
        )
        ordered: dict[str, forms.Field] = {}
        for name in PROFILE_FIELDS:
            field = base[name]
            if field is None:
                continue
            ordered[name] = field
            if name == "source_detail":
                ordered["referred_by_id"] = self.fields["referred_by_id"]
        ordered["tags"] = self.fields["tags"]
        ordered["version"] = self.fields["version"]
        self.fields = ordered  # type: ignore[assignment]
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ModelChoiceField)
        owner.queryset = selectors.users_in_scope(viewer)
        if viewer.role == permissions.REP:
            # A rep's customers are always their own; the service sets the owner.
            del self.fields["owner"]
        store = self.fields["store"]
        assert isinstance(store, forms.ModelChoiceField)
        store.queryset = selectors.stores_in_scope(viewer)
        self.fields["phone"].widget.attrs.update({"inputmode": "tel", "autocomplete": "off"})
        _style(self)

    SECTIONS = [
        (_("Who"), ["kind", "name", "gender", "company", "title"]),
        (_("Contact"), ["phone", "wechat", "email", "province", "city", "address"]),
        (
            _("Birthday"),
            [
                "birthday_calendar",
                "birthday",
                "birthday_lunar_month",
                "birthday_lunar_day",
                "birthday_lunar_leap",
            ],
        ),
        (
            _("FORM notes and preferences"),
            [
                "form_family",
                "form_occupation",
                "form_recreation",
                "form_money",
                "personality",
                "preferences",
                "special_needs",
            ],
        ),
        (_("Source and owner"), ["source", "source_detail", "referred_by_id", "owner", "store", "tags"]),
        (_("Status"), ["status", "tier", "customer_type", "lost_reason"]),
    ]

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [
            (str(title), [self[name] for name in names if name in self.fields])
            for title, names in self.SECTIONS
        ]

    def _referrer(self) -> Customer | None:
        ref_id = self.cleaned_data.get("referred_by_id")
        if not ref_id:
            return None
        if self.instance is not None and ref_id == self.instance.referred_by_id:
            return self.instance.referred_by
        try:
            return selectors.customer_get(self.viewer, ref_id)
        except NotFound:
            self.add_error("referred_by_id", gettext("No customer with this number that you can see."))
            return None

    def save(self) -> Customer | None:
        """Create or update through the services; returns None and fills the errors on failure."""
        if not self.is_valid():
            return None
        referrer = self._referrer()
        if self.errors:
            return None
        data = {k: self.cleaned_data[k] for k in PROFILE_FIELDS if k in self.fields}
        if self.instance is not None and data.get("phone") == self.shown_phone:
            del data["phone"]  # unchanged (and possibly masked)
        data["referred_by"] = referrer
        tags = [t.strip() for t in self.cleaned_data["tags"].replace("，", ",").split(",") if t.strip()]
        try:
            if self.instance is None:
                return services.customer_create(actor=self.viewer, data=data, tags=tags)
            customer = services.customer_update(
                actor=self.viewer,
                customer_id=self.instance.pk,
                data=data,
                version=self.cleaned_data.get("version"),
            )
            if sorted(tags) != sorted(t.name for t in self.instance.tags.all()):
                services.customer_set_tags(actor=self.viewer, customer=customer, names=tags)
            return customer
        except ValidationFailed as exc:
            add_service_errors(self, exc)
        except Conflict:
            self.add_error(
                None,
                gettext(
                    "This customer was changed by someone else while you were editing. "
                    "Reload the page to see their changes, then edit again."
                ),
            )
        return None


class ActivityForm(StyledForm):
    KINDS = [
        Activity.Kind.CALL,
        Activity.Kind.VISIT,
        Activity.Kind.SMS,
        Activity.Kind.WECHAT,
        Activity.Kind.LETTER,
        Activity.Kind.EMAIL,
        Activity.Kind.GIFT,
        Activity.Kind.NOTE,
    ]
    kind = forms.ChoiceField(label=_("kind"), choices=[(k.value, k.label) for k in KINDS])
    subject = forms.CharField(label=_("subject"), max_length=200)
    body = forms.CharField(label=_("details"), required=False, widget=forms.Textarea)
    gift_name = forms.CharField(label=_("gift"), max_length=120, required=False)


class ConfidentialNoteForm(StyledForm):
    id_prefix = "note"
    body = forms.CharField(label=_("confidential note"), widget=forms.Textarea)


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(choices=Consent.Channel.choices)
    granted = forms.TypedChoiceField(choices=[("1", "1"), ("0", "0")], coerce=lambda v: v == "1")


class OwnedProductForm(StyledForm):
    id_prefix = "product"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(
            forms.fields_for_model(
                OwnedProduct,
                fields=["description", "vin", "plate", "delivered_on", "mileage_km", "mileage_on", "usage"],
                widgets={"delivered_on": DateInput(), "mileage_on": DateInput()},
            )
        )
        self.fields["vin"].widget.attrs.update({"maxlength": 17, "style": "text-transform:uppercase"})
        _style(self)


class PurchaseForm(StyledForm):
    id_prefix = "purchase"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(
            forms.fields_for_model(
                Purchase,
                fields=[
                    "ordered_on",
                    "kind",
                    "amount",
                    "margin",
                    "payment_due_on",
                    "paid_amount",
                    "promised_on",
                    "shipped_on",
                    "arrives_on",
                    "note",
                ],
                widgets={
                    "ordered_on": DateInput(),
                    "payment_due_on": DateInput(),
                    "promised_on": DateInput(),
                    "shipped_on": DateInput(),
                    "arrives_on": DateInput(),
                },
            )
        )
        for name in ("margin", "paid_amount"):
            self.fields[name].required = False
        _style(self)


class ReassignForm(StyledForm):
    from_user: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("move the customers of"), queryset=None
    )
    to_user: forms.ModelChoiceField = forms.ModelChoiceField(label=_("to"), queryset=None)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        src = self.fields["from_user"]
        dst = self.fields["to_user"]
        assert isinstance(src, forms.ModelChoiceField) and isinstance(dst, forms.ModelChoiceField)
        src.queryset = selectors.reassign_sources(viewer)
        src.label_from_instance = _user_option  # type: ignore[method-assign,assignment]
        dst.queryset = selectors.users_in_scope(viewer).order_by("username")
        dst.label_from_instance = _user_option  # type: ignore[method-assign,assignment]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("from_user") and data.get("from_user") == data.get("to_user"):
            self.add_error("to_user", gettext("Choose a different person to receive the customers."))
        return data


def _user_option(user: User) -> str:
    text = f"{user.label} ({user.username})"
    if user.left_at is not None or not user.is_active:
        text += " · " + gettext("left")
    return text


class PersonalDateForm(StyledForm):
    prefix = "date"  # the 360 page shows several forms; their field ids must not collide (id_kind)
    kind = forms.ChoiceField(label=_("kind"), choices=PersonalDate.Kind.choices)
    label = forms.CharField(label=_("label"), max_length=64, required=False)
    calendar = forms.ChoiceField(label=_("calendar"), choices=Calendar.choices, initial=Calendar.SOLAR)
    date = forms.DateField(label=_("date (solar)"), required=False, widget=DateInput())
    lunar_month = forms.IntegerField(
        label=_("lunar month"), required=False, widget=forms.NumberInput(attrs={"min": 1, "max": 12})
    )
    lunar_day = forms.IntegerField(
        label=_("lunar day"), required=False, widget=forms.NumberInput(attrs={"min": 1, "max": 30})
    )
    lunar_leap = forms.BooleanField(label=_("leap month"), required=False)


class TestimonialForm(StyledForm):
    prefix = "testimonial"
    text = forms.CharField(label=_("testimonial"), widget=forms.Textarea)
    product_id = forms.TypedChoiceField(
        label=_("product"), required=False, coerce=int, empty_value=None, choices=[]
    )
    consent_given = forms.BooleanField(label=_("customer consents to its use"), required=False)

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        product = self.fields["product_id"]
        assert isinstance(product, forms.TypedChoiceField)
        product.choices = [("", "—")] + [(p.pk, p.name) for p in selectors.products_for_org(viewer)]


class TestimonialConsentForm(forms.Form):
    consent_given = forms.TypedChoiceField(choices=[("1", "1"), ("0", "0")], coerce=lambda v: v == "1")
