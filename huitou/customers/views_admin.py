"""Archive housekeeping pages: duplicates and merge, PIPL export and erasure.

Role checks happen here (403 for roles that may never do this); the selectors and services apply
the row scope (404 for customers out of scope) and do the work.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.core.http import AuthedRequest, error_text

from . import dedupe, privacy, selectors

REASON_LABELS = {
    dedupe.REASON_PHONE: gettext_lazy("Same phone"),
    dedupe.REASON_PLATE: gettext_lazy("Same plate"),
    dedupe.REASON_NAME_BIRTHDAY: gettext_lazy("Same name and birthday"),
}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@login_required
@require_http_methods(["GET"])
def duplicates_view(request: AuthedRequest) -> HttpResponse:
    if not dedupe.can_merge(request.user):
        raise DjangoPermissionDenied
    reason = request.GET.get("reason", dedupe.REASON_PHONE)
    if reason not in dedupe.REASONS:
        reason = dedupe.REASON_PHONE
    page = dedupe.duplicate_groups(request.user, page=_int(request.GET.get("page")) or 1, reason=reason)
    return render(
        request,
        "customers/duplicates.html",
        {
            "page": page,
            "reason": reason,
            "reasons": list(REASON_LABELS.items()),
            "reason_labels": REASON_LABELS,
        },
    )


class MergeForm(forms.Form):
    keep = forms.IntegerField(widget=forms.HiddenInput)
    merge = forms.TypedMultipleChoiceField(coerce=int, widget=forms.MultipleHiddenInput)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, merge_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["merge"].choices = [(i, i) for i in merge_ids]  # type: ignore[attr-defined]


@login_required
@require_http_methods(["GET", "POST"])
def merge_view(request: AuthedRequest) -> HttpResponse:
    if not dedupe.can_merge(request.user):
        raise DjangoPermissionDenied
    source = request.POST if request.method == "POST" else request.GET
    keep_id = _int(source.get("keep"))
    merge_ids = [i for i in (_int(v) for v in source.getlist("merge")) if i is not None]
    if keep_id is None or not merge_ids:
        raise Http404
    try:
        preview = dedupe.merge_preview(request.user, keep_id=keep_id, merge_ids=merge_ids)
    except NotFound as exc:
        raise Http404 from exc
    form = MergeForm(
        request.POST or None,
        merge_ids=[s.customer.pk for s in preview.merge],
        initial={
            "keep": keep_id,
            "merge": [s.customer.pk for s in preview.merge],
            "version": preview.keep.customer.version,
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                dedupe.customer_merge(
                    actor=request.user,
                    keep_id=form.cleaned_data["keep"],
                    merge_ids=form.cleaned_data["merge"],
                    version=form.cleaned_data["version"],
                )
            except NotFound as exc:
                raise Http404 from exc
            except PermissionDenied as exc:
                raise DjangoPermissionDenied from exc
            except ValidationFailed as exc:
                form.add_error(None, error_text(exc))
            except Conflict:
                form.add_error(None, _("This customer was changed by someone else; reload and try again."))
            else:
                messages.success(
                    request,
                    _("Merged %(count)d customer(s) into this one; nothing was lost.")
                    % {"count": len(form.cleaned_data["merge"])},
                )
                return redirect(reverse("customers:detail", args=[keep_id]))
        status = 422
    swap = [
        (s.customer.pk, [keep_id, *[o.customer.pk for o in preview.merge if o.customer.pk != s.customer.pk]])
        for s in preview.merge
    ]
    return render(
        request, "customers/merge.html", {"preview": preview, "form": form, "swap": swap}, status=status
    )


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[("xlsx", gettext_lazy("Excel workbook (.xlsx)")), ("json", gettext_lazy("JSON"))],
        initial="xlsx",
        widget=forms.RadioSelect,
    )


@login_required
@require_http_methods(["GET", "POST"])
def privacy_export_view(request: AuthedRequest, pk: int) -> HttpResponse:
    if not privacy.can_export(request.user):
        raise DjangoPermissionDenied
    try:
        customer = selectors.customer_get(request.user, pk)
    except NotFound as exc:
        raise Http404 from exc
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data = privacy.customer_personal_data_export(actor=request.user, customer_id=pk)
        except NotFound as exc:
            raise Http404 from exc
        except PermissionDenied as exc:
            raise DjangoPermissionDenied from exc
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        if form.cleaned_data["format"] == "json":
            response = HttpResponse(
                json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8"
            )
            name = f"customer-{pk}-personal-data-{stamp}.json"
        else:
            response = HttpResponse(
                privacy.personal_data_xlsx(data),
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            name = f"customer-{pk}-personal-data-{stamp}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return render(
        request,
        "customers/privacy_export.html",
        {"customer": customer, "form": form, "can_erase": privacy.can_erase(request.user)},
    )


class EraseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=200,
        help_text=gettext_lazy("The person's request: when, how it was received, reference."),
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
    )
    confirm_id = forms.IntegerField(
        label=gettext_lazy("Type the customer number to confirm"),
        widget=forms.TextInput(
            attrs={"class": "form-control", "inputmode": "numeric", "autocomplete": "off"}
        ),
    )

    def __init__(self, *args: Any, customer_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.customer_id = customer_id

    def clean_confirm_id(self) -> int:
        value = self.cleaned_data["confirm_id"]
        if value != self.customer_id:
            raise forms.ValidationError(_("This is not the number of this customer."))
        return int(value)


@login_required
@require_http_methods(["GET", "POST"])
def privacy_erase_view(request: AuthedRequest, pk: int) -> HttpResponse:
    if not privacy.can_erase(request.user):
        raise DjangoPermissionDenied
    try:
        customer = selectors.customer_get(request.user, pk)
    except NotFound as exc:
        raise Http404 from exc
    form = EraseForm(request.POST or None, customer_id=customer.pk)
    if request.method == "POST" and form.is_valid():
        try:
            privacy.customer_erase(actor=request.user, customer_id=pk, reason=form.cleaned_data["reason"])
        except NotFound as exc:
            raise Http404 from exc
        except PermissionDenied as exc:
            raise DjangoPermissionDenied from exc
        except ValidationFailed as exc:
            form.add_error("reason", error_text(exc))
        else:
            messages.success(
                request,
                _("The personal data of customer #%(id)d was erased; the sales figures were kept.")
                % {"id": pk},
            )
            return redirect(reverse("customers:list"))
    status = 422 if request.method == "POST" else 200
    return render(
        request, "customers/privacy_erase.html", {"customer": customer, "form": form}, status=status
    )
