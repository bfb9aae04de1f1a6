"""Customer pages: list, 360, create/edit, timeline, consent, products, purchases, reassignment.

Views are thin: selectors decide what the viewer may see (out of scope → 404), services do every
write, forms turn service errors into messages next to the right field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from huitou.accounts import permissions
from huitou.core.errors import NotFound, ValidationFailed
from huitou.core.http import AuthedRequest, positive_int

from . import selectors, services
from .forms import (
    ActivityForm,
    ConfidentialNoteForm,
    ConsentForm,
    CustomerForm,
    OwnedProductForm,
    PersonalDateForm,
    PurchaseForm,
    ReassignForm,
    TestimonialConsentForm,
    TestimonialForm,
    add_service_errors,
)
from .models import Activity, Consent, Customer, PersonalDate

PAGE_SIZE = 50
SORT_CHOICES = [
    ("-id", gettext_lazy("Newest first")),
    ("id", gettext_lazy("Oldest first")),
    ("name", gettext_lazy("Name A→Z")),
    ("-name", gettext_lazy("Name Z→A")),
    ("-updated_at", gettext_lazy("Recently changed")),
]
# URL parameter → CustomerFilters field; short names keep shared links readable.
_CHOICE_FILTERS = {
    "status": ("status", Customer.Status.choices),
    "tier": ("tier", Customer.Tier.choices),
    "type": ("customer_type", Customer.Type.choices),
    "source": ("source", Customer.Source.choices),
    "kind": ("kind", Customer.Kind.choices),
}
_HISTORY_HIDDEN = {"version", "id", "organisation", "anonymised_at", "merged_into"}


def _verbose(field_name: str) -> str:
    return str(getattr(Customer._meta.get_field(field_name), "verbose_name", field_name))


def _customer_or_404(request: AuthedRequest, pk: int) -> Customer:
    try:
        return selectors.customer_get(request.user, pk)
    except NotFound as exc:
        raise Http404 from exc


def _list_rows(viewer: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Everything a result row shows, resolved once in Python.

    The template engine is most of a list page's cost (LIMITS.md): every variable lookup, tag and
    translation inside the row loop runs 50 times, so the rows arrive as plain values and the
    loop does nothing but print them.
    """
    full = permissions.sees_full_phone(viewer)  # once per page, not per row
    statuses = {k: str(v) for k, v in Customer.Status.choices}
    tiers = {k: str(v) for k, v in Customer.Tier.choices}
    detail = reverse("customers:detail", args=[0])[: -len("0/")]
    for r in rows:
        r["url"] = f"{detail}{r['id']}/"
        r["company"] = r["kind"] == Customer.Kind.COMPANY
        r["phone"] = permissions.phone_for(viewer, r["phone"], full=full) if r["phone"] else ""
        r["status_label"] = statuses.get(r["status"], r["status"])
        r["tier_label"] = tiers.get(r["tier"], "")
    return rows


@login_required
@require_GET
def customer_list_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    params = request.GET
    sort = params.get("sort", "-id")
    if sort not in selectors.SORTS:
        sort = "-id"
    chosen: dict[str, Any] = {
        field: params.get(param, "")
        for param, (field, choices) in _CHOICE_FILTERS.items()
        if params.get(param, "") in {value for value, _label in choices if value}
    }
    filters = selectors.CustomerFilters(
        q=params.get("q", "").strip()[:64],
        owner_id=positive_int(params.get("owner")),
        store_id=positive_int(params.get("store")),
        sort=sort,
        **chosen,
    )
    page_number = positive_int(params.get("page")) or 1
    page = selectors.customer_list_rows(viewer, filters, page=page_number, size=PAGE_SIZE)
    rows = _list_rows(viewer, page.items)

    kept = {k: v for k, v in params.items() if k != "page" and v}
    prev_url = next_url = ""
    if page.has_previous:
        prev_url = request.path + "?" + urlencode({**kept, "page": page.number - 1})
    if page.has_next:
        next_url = request.path + "?" + urlencode({**kept, "page": page.number + 1})
    context: dict[str, Any] = {
        "page": page,
        "rows": rows,
        "filters": filters,
        "prev_url": prev_url,
        "next_url": next_url,
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        return render(request, "customers/_results.html", context)
    context.update(
        owners=selectors.users_in_scope(viewer).order_by("username")
        if viewer.role != permissions.REP
        else [],
        stores=selectors.stores_in_scope(viewer),
        choice_filters=[
            (
                param,
                _("person or company") if param == "kind" else _verbose(field),
                choices,
                params.get(param, ""),
            )
            for param, (field, choices) in _CHOICE_FILTERS.items()
        ],
        sorts=SORT_CHOICES,
        can_create=viewer.role in permissions.WRITE_ROLES,
    )
    return render(request, "customers/list.html", context)


def _history_value(field: Any, value: Any) -> Any:
    """A stored value as a person reads it: choice labels, linked records by number."""
    if value is None or value == "":
        return value
    if field is not None and field.choices:
        return dict(field.flatchoices).get(value, value)
    if field is not None and field.is_relation:
        return f"#{value}"
    return value


def _history_rows(request: AuthedRequest, pk: int) -> list[dict[str, Any]]:
    rows = selectors.customer_history(request.user, pk)
    for row in rows:
        shown = []
        for change in row["changes"]:
            if change["field"] in _HISTORY_HIDDEN:
                continue
            try:
                field = Customer._meta.get_field(change["field"])
            except Exception:  # a field dropped since the record was written
                field = None
            shown.append(
                {
                    "label": getattr(field, "verbose_name", change["field"]),
                    "old": _history_value(field, change["old"]),
                    "new": _history_value(field, change["new"]),
                }
            )
        row["changes"] = shown
    return rows


# System entries are written by the services in English; shown in the reader's language.
_SYSTEM_SUBJECTS = [
    (re.compile(r"^Customer created$"), gettext_lazy("Customer created")),
    (re.compile(r"^Profile updated: (?P<fields>.*)$"), gettext_lazy("Profile updated: %(fields)s")),
    (re.compile(r"^Consent granted: (?P<channel>\w+)$"), gettext_lazy("Consent granted: %(channel)s")),
    (
        re.compile(r"^Consent withdrawn \(opt-out\): (?P<channel>\w+)$"),
        gettext_lazy("Consent withdrawn (opt-out): %(channel)s"),
    ),
    (re.compile(r"^Reassigned to (?P<user>.*)$"), gettext_lazy("Reassigned to %(user)s")),
    (re.compile(r"^Personal date added: (?P<kind>\w+)$"), gettext_lazy("Personal date added: %(kind)s")),
    (
        re.compile(r"^Personal date removed: (?P<kind>\w+)$"),
        gettext_lazy("Personal date removed: %(kind)s"),
    ),
    (re.compile(r"^Testimonial recorded$"), gettext_lazy("Testimonial recorded")),
    (re.compile(r"^Testimonial consent given$"), gettext_lazy("Testimonial consent given")),
    (re.compile(r"^Testimonial consent withdrawn$"), gettext_lazy("Testimonial consent withdrawn")),
]
_CHANNELS = dict(Consent.Channel.choices)
_DATE_KINDS = dict(PersonalDate.Kind.choices)


def _field_label(name: str) -> str:
    try:
        return str(getattr(Customer._meta.get_field(name), "verbose_name", name))
    except FieldDoesNotExist:
        return name  # older entries hold labels, or a field since removed


def activity_subject(activity: Activity) -> str:
    if activity.kind != Activity.Kind.SYSTEM:
        return activity.subject
    for pattern, template in _SYSTEM_SUBJECTS:
        match = pattern.match(activity.subject)
        if match:
            parts = match.groupdict()
            if "channel" in parts:
                parts["channel"] = str(_CHANNELS.get(parts["channel"], parts["channel"]))
            if "kind" in parts:
                parts["kind"] = str(_DATE_KINDS.get(parts["kind"], parts["kind"]))
            if "fields" in parts:
                parts["fields"] = ", ".join(_field_label(f.strip()) for f in parts["fields"].split(","))
            return str(template) % parts
    return activity.subject


def _render_detail(request: AuthedRequest, pk: int, status: int = 200, **forms: Any) -> HttpResponse:
    try:
        data = selectors.customer_360(request.user, pk)
    except NotFound as exc:
        raise Http404 from exc
    customer = data.customer
    consents = [(value, label, data.consents.get(value)) for value, label in Consent.Channel.choices]
    for activity in data.activities:
        activity.display_subject = activity_subject(activity)  # type: ignore[attr-defined]
    context = {
        "c": data,
        "customer": customer,
        "phone": permissions.phone_for(request.user, customer.phone, full=data.full_phone)
        if customer.phone
        else "",
        "extra_phones": [
            (permissions.phone_for(request.user, p.number, full=data.full_phone), p.label)
            for p in customer.phones.all()
        ],
        "consents": consents,
        "history": _history_rows(request, pk),
        "activity_form": forms.get("activity_form") or ActivityForm(),
        "note_form": forms.get("note_form") or ConfidentialNoteForm(),
        "product_form": forms.get("product_form") or OwnedProductForm(),
        "purchase_form": forms.get("purchase_form") or PurchaseForm(initial={"margin": 0, "paid_amount": 0}),
        "date_form": forms.get("date_form") or PersonalDateForm(),
        "testimonial_form": forms.get("testimonial_form")
        or (TestimonialForm(viewer=request.user) if data.can_edit else None),
        "open_section": forms.get("open_section", ""),
        "can_log": permissions.can_log_activity(request.user),
    }
    return render(request, "customers/detail.html", context, status=status)


@login_required
@require_GET
def customer_detail_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _render_detail(request, pk)


@login_required
@require_http_methods(["GET", "POST"])
def customer_create_view(request: AuthedRequest) -> HttpResponse:
    if request.user.role not in permissions.WRITE_ROLES:
        raise DjangoPermissionDenied
    form = CustomerForm(request.POST or None, viewer=request.user)
    if request.method == "POST":
        customer = form.save()
        if customer is not None:
            messages.success(request, _("Customer %(name)s created.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/form.html", {"form": form, "customer": None})


@login_required
@require_http_methods(["GET", "POST"])
def customer_edit_view(request: AuthedRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    if not permissions.can_edit_customer(request.user, customer):
        raise DjangoPermissionDenied
    form = CustomerForm(request.POST or None, viewer=request.user, instance=customer)
    if request.method == "POST":
        saved = form.save()
        if saved is not None:
            messages.success(request, _("Changes to %(name)s saved.") % {"name": saved.name})
            return redirect("customers:detail", pk=saved.pk)
    return render(request, "customers/form.html", {"form": form, "customer": customer})


@login_required
@require_POST
def activity_add_view(request: AuthedRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    form = ActivityForm(request.POST)
    htmx = getattr(request, "htmx", None)
    if form.is_valid():
        try:
            activity = services.activity_log(
                actor=request.user,
                customer_id=customer.pk,
                kind=form.cleaned_data["kind"],
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                gift_name=form.cleaned_data["gift_name"],
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            if htmx:
                activity.display_subject = activity_subject(activity)  # type: ignore[attr-defined]
                return render(request, "customers/_activity.html", {"a": activity, "new": True})
            messages.success(request, _("Added to the timeline."))
            return redirect(reverse("customers:detail", args=[pk]) + "#timeline")
    if htmx:
        response = render(
            request, "customers/_activity_form.html", {"activity_form": form, "customer": customer}
        )
        return reswap(retarget(response, "#activity-form"), "outerHTML")
    return _render_detail(request, pk, status=422, activity_form=form, open_section="timeline")


@login_required
@require_POST
def consent_set_view(request: AuthedRequest, pk: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return HttpResponse(status=400)
    services.consent_set(
        actor=request.user,
        customer=customer,
        channel=form.cleaned_data["channel"],
        granted=form.cleaned_data["granted"],
        source=Consent.Source.VERBAL,
    )
    if getattr(request, "htmx", None):
        data = selectors.customer_360(request.user, pk, timeline_limit=0)
        consents = [(v, label, data.consents.get(v)) for v, label in Consent.Channel.choices]
        return render(request, "customers/_consent.html", {"customer": customer, "consents": consents})
    messages.success(request, _("Consent recorded."))
    return redirect(reverse("customers:detail", args=[pk]) + "#consent")


@login_required
@require_POST
def confidential_note_add_view(request: AuthedRequest, pk: int) -> HttpResponse:
    form = ConfidentialNoteForm(request.POST)
    if form.is_valid():
        try:
            services.confidential_note_add(actor=request.user, customer_id=pk, body=form.cleaned_data["body"])
        except ValidationFailed as exc:  # NotFound / PermissionDenied: ServiceErrorMiddleware
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Confidential note saved."))
            return redirect(reverse("customers:detail", args=[pk]) + "#confidential")
    _customer_or_404(request, pk)
    return _render_detail(request, pk, status=422, note_form=form, open_section="confidential")


def _save_on_detail(
    request: AuthedRequest,
    pk: int,
    form: Any,
    save: Callable[[dict[str, Any]], object],
    *,
    message: str,
    anchor: str,
    form_key: str,
    open_section: str | None = None,
) -> HttpResponse:
    """The shared flow of the forms on the customer page that only editors use: check the role,
    validate, save through a service, then redirect to the section, or show the page again with
    the form's errors (422)."""
    customer = _customer_or_404(request, pk)
    if not permissions.can_edit_customer(request.user, customer):
        raise DjangoPermissionDenied
    if form.is_valid():
        try:
            save(dict(form.cleaned_data))
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, message)
            return redirect(reverse("customers:detail", args=[pk]) + "#" + anchor)
    extra = {"open_section": open_section} if open_section else {}
    return _render_detail(request, pk, status=422, **{form_key: form}, **extra)


@login_required
@require_POST
def owned_product_add_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _save_on_detail(
        request,
        pk,
        OwnedProductForm(request.POST),
        lambda data: services.owned_product_add(actor=request.user, customer_id=pk, data=data),
        message=_("Product added."),
        anchor="products",
        form_key="product_form",
        open_section="products",
    )


def _purchase_save(request: AuthedRequest, pk: int, data: dict[str, Any]) -> object:
    data["margin"] = data.get("margin") or Decimal("0")
    data["paid_amount"] = data.get("paid_amount") or Decimal("0")
    return services.purchase_add(actor=request.user, customer_id=pk, data=data)


@login_required
@require_POST
def purchase_add_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _save_on_detail(
        request,
        pk,
        PurchaseForm(request.POST),
        lambda data: _purchase_save(request, pk, data),
        message=_("Purchase recorded."),
        anchor="purchases",
        form_key="purchase_form",
        open_section="purchases",
    )


@login_required
@require_http_methods(["GET", "POST"])
def reassign_view(request: AuthedRequest) -> HttpResponse:
    if not permissions.can_reassign(request.user):
        raise DjangoPermissionDenied
    form = ReassignForm(request.POST or None, viewer=request.user)
    if request.method == "POST" and form.is_valid():
        source, target = form.cleaned_data["from_user"], form.cleaned_data["to_user"]
        try:
            moved = services.customers_reassign(
                actor=request.user, from_user_id=source.pk, to_user_id=target.pk
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                ngettext(
                    "%(count)d customer moved from %(source)s to %(target)s, with their whole history.",
                    "%(count)d customers moved from %(source)s to %(target)s, with their whole history.",
                    moved,
                )
                % {"count": moved, "source": source.label, "target": target.label},
            )
            return HttpResponseRedirect(reverse("customers:reassign"))
    return render(request, "customers/reassign.html", {"form": form})


@login_required
@require_POST
def personal_date_add_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _save_on_detail(
        request,
        pk,
        PersonalDateForm(request.POST),
        lambda data: services.personal_date_add(actor=request.user, customer_id=pk, **data),
        message=_("Personal date added."),
        anchor="personal-dates",
        form_key="date_form",
    )


@login_required
@require_POST
def personal_date_remove_view(request: AuthedRequest, pk: int, date_id: int) -> HttpResponse:
    # Out of scope (404) and refused (403) are mapped by core.middleware.ServiceErrorMiddleware.
    services.personal_date_remove(actor=request.user, date_id=date_id, customer_id=pk)
    messages.success(request, _("Personal date removed."))
    return redirect(reverse("customers:detail", args=[pk]) + "#personal-dates")


@login_required
@require_POST
def testimonial_add_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _save_on_detail(
        request,
        pk,
        TestimonialForm(request.POST, viewer=request.user),
        lambda data: services.testimonial_add(actor=request.user, customer_id=pk, **data),
        message=_("Testimonial recorded."),
        anchor="testimonials",
        form_key="testimonial_form",
    )


@login_required
@require_POST
def testimonial_consent_view(request: AuthedRequest, pk: int, testimonial_id: int) -> HttpResponse:
    customer = _customer_or_404(request, pk)
    form = TestimonialConsentForm(request.POST)
    if not form.is_valid():
        return HttpResponse(status=400)
    services.testimonial_set_consent(
        actor=request.user,
        testimonial_id=testimonial_id,
        consent_given=form.cleaned_data["consent_given"],
        customer_id=customer.pk,
    )
    messages.success(request, _("Consent to use the testimonial recorded."))
    return redirect(reverse("customers:detail", args=[pk]) + "#testimonials")
