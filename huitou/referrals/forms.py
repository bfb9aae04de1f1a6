"""Forms of the lead pipeline pages. They shape input; every write goes through ``services``."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huitou.core.errors import ValidationFailed
from huitou.core.forms import DateInput

from . import services
from .models import AuditOutcome, Channel, Relation, Stage

if TYPE_CHECKING:
    from huitou.accounts.models import User
    from huitou.customers.models import Purchase


class PipelineForm(forms.Form):
    """Bootstrap classes on every widget; ``large`` for the touch-friendly capture forms."""

    large = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = " form-control-lg" if self.large else ""
        select_size = " form-select-lg" if self.large else ""
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.CheckboxSelectMultiple | forms.HiddenInput | forms.RadioSelect):
                continue
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select" + select_size)
            else:
                widget.attrs.setdefault("class", "form-control" + size)

    def add_service_errors(self, exc: ValidationFailed, renames: dict[str, str] | None = None) -> None:
        """Each service error next to its field, or on top of the form."""
        for name, messages in exc.errors.items():
            target = (renames or {}).get(name, name)
            target_field = target if target in self.fields else None
            for message in messages:
                self.add_error(target_field, gettext(message))


def _choices(field: forms.Field, choices: list[tuple[Any, Any]]) -> None:
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


# ---------------------------------------------------------------------------------------------
# Capture (the delivery form and the public form)


class ReferredPersonForm(PipelineForm):
    """One referred person. An untouched row of the formset is skipped, so blank rows are fine."""

    large = True
    name = forms.CharField(label=_("name"), max_length=120)
    phone = forms.CharField(
        label=_("mobile phone"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    relation = forms.ChoiceField(label=_("relation"), choices=Relation.choices, initial=Relation.FRIEND)
    interest = forms.CharField(
        label=_("interested in"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. an SUV for the family")}),
    )
    product = forms.TypedChoiceField(label=_("model"), coerce=int, required=False, empty_value=None)
    wechat = forms.CharField(label=_("WeChat"), max_length=64, required=False)
    city = forms.CharField(label=_("city"), max_length=32, required=False)
    note = forms.CharField(label=_("note"), required=False, widget=forms.TextInput())

    def __init__(self, *args: Any, products: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self.fields["product"], [("", "—"), *(products or [])])


class BaseReferredFormSet(forms.BaseFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        people = [f for f in self.forms if f.has_changed() and f.cleaned_data]
        if not people:
            raise ValidationError(_("Enter at least one person."))

    def people(self) -> list[forms.Form]:
        return [f for f in self.forms if f.has_changed() and f.cleaned_data]


ReferredFormSet = formset_factory(
    ReferredPersonForm, formset=BaseReferredFormSet, extra=3, max_num=20, validate_max=True
)


class PublicPersonForm(PipelineForm):
    large = True
    name = forms.CharField(label=_("name"), max_length=120)
    phone = forms.CharField(
        label=_("mobile phone"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    relation = forms.ChoiceField(label=_("relation"), choices=Relation.choices, initial=Relation.FRIEND)
    interest = forms.CharField(label=_("interested in"), max_length=200, required=False)


PublicFormSet = formset_factory(
    PublicPersonForm, formset=BaseReferredFormSet, extra=3, max_num=10, validate_max=True
)


class CaptureForm(PipelineForm):
    large = True
    referrer = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    channel = forms.ChoiceField(label=_("where"), initial=Channel.DELIVERY)
    event_name = forms.CharField(label=_("event"), max_length=120, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(
            self.fields["channel"],
            [(c, label) for c, label in Channel.choices if c in services.STAFF_CHANNELS],
        )
        self.fields["referrer"].error_messages["required"] = _("Choose the customer who refers.")


class ConsentForm(PipelineForm):
    consent = forms.BooleanField(
        label=_("The people I name know that the dealer will call them, and they agree."),
        error_messages={"required": _("Please confirm that they agree to be called.")},
    )
    # A field people do not see: a form with it filled in was sent by a robot.
    website = forms.CharField(required=False, widget=forms.TextInput(attrs={"tabindex": "-1"}))


# ---------------------------------------------------------------------------------------------
# Lead list filters


class LeadFilterForm(PipelineForm):
    q = forms.CharField(
        label=_("search"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("Name, phone or its last digits")}),
    )
    stage = forms.ChoiceField(label=_("stage"), required=False)
    store = forms.TypedChoiceField(label=_("store"), coerce=int, required=False, empty_value=None)
    rep = forms.TypedChoiceField(label=_("rep"), coerce=int, required=False, empty_value=None)
    channel = forms.ChoiceField(label=_("channel"), required=False)
    flagged = forms.ChoiceField(label=_("fraud flags"), required=False)
    start = forms.DateField(label=_("submitted from"), required=False, widget=DateInput())
    end = forms.DateField(label=_("submitted until"), required=False, widget=DateInput())

    def __init__(self, *args: Any, viewer: User, **kwargs: Any) -> None:
        from huitou.customers.selectors import stores_in_scope, users_in_scope

        super().__init__(*args, **kwargs)
        everything = gettext("All")
        _choices(self.fields["stage"], [("", everything), *Stage.choices])
        _choices(self.fields["channel"], [("", everything), *Channel.choices])
        _choices(
            self.fields["flagged"],
            [("", everything), ("1", gettext("Flagged")), ("0", gettext("Not flagged"))],
        )
        stores = stores_in_scope(viewer).values_list("pk", "name")
        _choices(self.fields["store"], [("", everything), *((str(k), v) for k, v in stores)])
        reps = users_in_scope(viewer).order_by("username").values_list("pk", "display_name", "username")
        _choices(self.fields["rep"], [("", everything), *((str(k), d or u) for k, d, u in reps[:300])])

    def filters(self) -> services.LeadFilters:
        data = self.cleaned_data if self.is_valid() else {}
        flagged = data.get("flagged") or ""
        return services.LeadFilters(
            stage=data.get("stage") or "",
            store_id=data.get("store"),
            rep_id=data.get("rep"),
            channel=data.get("channel") or "",
            flagged=None if flagged == "" else flagged == "1",
            start=data.get("start"),
            end=data.get("end"),
            q=(data.get("q") or "").strip()[:64],
        )


# ---------------------------------------------------------------------------------------------
# Stage changes


class AuditForm(PipelineForm):
    outcome = forms.ChoiceField(label=_("outcome of the call"), choices=AuditOutcome.choices)
    note = forms.CharField(
        label=_("note"), required=False, widget=forms.TextInput(attrs={"placeholder": _("What they said")})
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class AdvanceForm(PipelineForm):
    to = forms.ChoiceField(
        choices=[(Stage.CONTACTED, Stage.CONTACTED.label), (Stage.QUOTED, Stage.QUOTED.label)]
    )
    note = forms.CharField(label=_("note"), required=False)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class WinForm(PipelineForm):
    purchase = forms.TypedChoiceField(label=_("the sale"), coerce=int)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, sales: list[Purchase], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(
            self.fields["purchase"],
            [
                ("", "—"),
                *(
                    (str(p.pk), f"{p.ordered_on:%Y-%m-%d} · {p.get_kind_display()} · ¥{p.amount}")
                    for p in sales
                ),
            ],
        )


class LoseForm(PipelineForm):
    reason = forms.CharField(label=_("reason"), max_length=255)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ReviewForm(PipelineForm):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    note = forms.CharField(label=_("note"), required=False)
    faked = forms.BooleanField(label=_("faked (counts as a penalty for the rep)"), required=False)


# ---------------------------------------------------------------------------------------------
# Bulk entry (events, customer clubs)


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-:：()（）*]+", "", (text or "").strip().lower())


# Column names people use, English and Chinese, for each field of a bulk row.
BULK_HEADERS: dict[str, tuple[str, ...]] = {
    "referrer": (
        "referrer",
        "referrer id",
        "referrer phone",
        "customer id",
        "推荐人",
        "推荐人编号",
        "推荐人手机",
        "推荐人电话",
        "客户编号",
    ),
    "name": ("name", "referred", "referred name", "姓名", "被推荐人", "被推荐人姓名"),
    "phone": ("phone", "mobile", "referred phone", "手机", "电话", "手机号", "被推荐人手机", "联系电话"),
    "relation": ("relation", "relationship", "关系"),
    "interest": ("interest", "interested in", "意向", "意向车型", "感兴趣"),
    "wechat": ("wechat", "微信"),
    "city": ("city", "城市"),
    "note": ("note", "notes", "备注"),
}
_HEADER_INDEX = {_header_key(alias): name for name, aliases in BULK_HEADERS.items() for alias in aliases}
REQUIRED_COLUMNS = ("referrer", "name", "phone")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


class BulkForm(PipelineForm):
    channel = forms.ChoiceField(
        label=_("where"),
        choices=[(Channel.EVENT, Channel.EVENT.label), (Channel.CLUB, Channel.CLUB.label)],
        initial=Channel.EVENT,
    )
    event_name = forms.CharField(label=_("event or club"), max_length=120)
    text = forms.CharField(
        label=_("paste the rows"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text=_("Copied from a spreadsheet (tab-separated) or CSV, with the header row first."),
    )
    file = forms.FileField(
        label=_("or upload a file"),
        required=False,
        help_text=_(".csv or .xlsx, with the header row first."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        text, upload = (data.get("text") or "").strip(), data.get("file")
        if not text and upload is None:
            raise ValidationError(_("Paste the rows or upload a file."))
        try:
            header, rows = self._read_upload(upload) if upload is not None else self._read_text(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        data["rows"] = self._rows(header, rows)
        return data

    @staticmethod
    def _read_text(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
        first = text.splitlines()[0]
        if "\t" in first:
            delimiter = "\t"
        else:
            delimiter = ","
            if "," not in first and "，" in first:
                text = text.replace("，", ",")
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        lines = [(reader.line_num, cells) for cells in reader]
        header = lines[0][1] if lines else []
        return header, [(n, cells) for n, cells in lines[1:] if any(c.strip() for c in cells)]

    @staticmethod
    def _read_upload(upload: Any) -> tuple[list[str], list[tuple[int, list[str]]]]:
        from huitou.customers.io.errors import ImportFileError
        from huitou.customers.io.readers import open_rows

        suffix = Path(upload.name or "").suffix.lower()
        if suffix not in (".csv", ".xlsx"):
            raise ValueError(gettext("Upload a .csv or .xlsx file."))
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValueError(gettext("The file is too large for one event: at most 2 MB."))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"rows{suffix}"
            with path.open("wb") as fh:
                for chunk in upload.chunks():
                    fh.write(chunk)
            try:
                opened = open_rows(path)
                try:
                    rows = list(opened.rows)
                finally:
                    opened.close()
            except ImportFileError as exc:
                raise ValueError(str(exc)) from exc
        return opened.header, rows

    @staticmethod
    def _rows(header: list[str], lines: list[tuple[int, list[str]]]) -> list[dict[str, Any]]:
        columns: dict[int, str] = {}
        for i, title in enumerate(header):
            name = _HEADER_INDEX.get(_header_key(title))
            if name and name not in columns.values():
                columns[i] = name
        missing = [c for c in REQUIRED_COLUMNS if c not in columns.values()]
        if missing:
            raise ValidationError(
                _("The first row must name the columns: referrer, name and phone (推荐人, 姓名, 手机).")
            )
        if not lines:
            raise ValidationError(_("There is nothing to import under the header row."))
        out = []
        for line, cells in lines:
            row: dict[str, Any] = {"_row": line}
            for i, name in columns.items():
                row[name] = cells[i].strip() if i < len(cells) else ""
            out.append(row)
        return out
