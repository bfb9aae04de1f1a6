"""Pages of the lead pipeline: capture (delivery form, printable form, public self-service form,
bulk entry), the lead list and page, the DCRC audit queue and the managers' review queue.

Thin: role checks here, row filtering in ``services``' reads (on ``referral_queryset``), every
write through a service. Outside the viewer's scope is 404 (``NotFound``, mapped by the
middleware); a role that may never do something is 403.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.core.http import is_htmx as _htmx
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import COUNT_CAP

from . import fraud, links, services
from .forms import (
    AdvanceForm,
    AuditForm,
    BulkForm,
    CaptureForm,
    ConsentForm,
    LeadFilterForm,
    LoseForm,
    PublicFormSet,
    ReferredFormSet,
    ReviewForm,
    WinForm,
)
from .models import OPEN_STAGES, AuditOutcome, Referral, Review, Stage

PAGE_SIZE = 50
STAGE_BADGES: dict[str, str] = {
    Stage.SUBMITTED: "text-bg-secondary",
    Stage.VERIFIED: "text-bg-info",
    Stage.CONTACTED: "text-bg-primary",
    Stage.QUOTED: "text-bg-warning",
    Stage.WON: "text-bg-success",
    Stage.LOST: "text-bg-light border",
    Stage.REJECTED: "text-bg-danger",
}
ACTION_LABELS = {
    "submit": gettext_lazy("Submitted"),
    "contact": gettext_lazy("Contacted / visited"),
    "quote": gettext_lazy("Test drive / quote"),
    "convert": gettext_lazy("Customer record"),
    "win": gettext_lazy("Won"),
    "lose": gettext_lazy("Lost"),
    "approve": gettext_lazy("Review: approved"),
    "reject": gettext_lazy("Review: rejected"),
}


def _next_or(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _service_message(exc: Exception) -> str:
    """A service's refusal in the reader's language (services speak English source strings)."""
    if isinstance(exc, ValidationFailed):
        return error_text(exc)
    text = str(exc)
    translated = _(text)
    return translated[:1].upper() + translated[1:] if translated else translated


def _audit_label(event: Any) -> str:
    if event.to_stage == Stage.VERIFIED:
        return _("Phone audit: confirmed")
    if event.to_stage == Stage.LOST:
        return _("Phone audit: not interested")
    if event.to_stage == Stage.REJECTED:
        return _("Phone audit: not real")
    return _("Phone audit: no answer")


def _timeline(referral: Referral) -> list[dict[str, Any]]:
    out = []
    for e in services.referral_events(referral):
        label = _audit_label(e) if e.action == "audit" else str(ACTION_LABELS.get(e.action, e.action))
        out.append(
            {"event": e, "label": label, "actor": e.actor.label if e.actor else _("the customer / system")}
        )
    return out


# ---------------------------------------------------------------------------------------------
# Lead list and lead page


def _stage_tabs(request: AuthedRequest, filters: Any, counts: dict[str, int] | None) -> dict[str, Any]:
    """The stage tab bar: one link per stage under the current filters, with its lead count when
    ``counts`` is given (the fragment) and without it on the page itself, which loads the counts
    with htmx after the list (counting a manager's ``won`` leads can take a few hundred ms)."""
    kept = {k: v for k, v in request.GET.items() if k not in {"page", "stage"} and v}
    path = reverse("referrals:pipeline")
    stages = [
        {
            "code": code,
            "label": label,
            "count": min(counts.get(code, 0), COUNT_CAP) if counts is not None else None,
            "capped": counts is not None and counts.get(code, 0) > COUNT_CAP,
            "url": path + "?" + urlencode({**kept, "stage": code}),
            "active": filters.stage == code,
        }
        for code, label in Stage.choices
    ]
    total = sum(counts.values()) if counts is not None else None
    query = urlencode({k: v for k, v in request.GET.items() if k != "page" and v})
    return {
        "stages": stages,
        "all_url": path + ("?" + urlencode(kept) if kept else ""),
        "all_active": not filters.stage,
        "total_all": min(total, COUNT_CAP) if total is not None else None,
        "total_all_capped": total is not None and total > COUNT_CAP,
        "counts_url": reverse("referrals:stage_counts") + ("?" + query if query else ""),
    }


@login_required
@require_GET
def pipeline_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    form = LeadFilterForm(request.GET or None, viewer=viewer)
    filters = form.filters()
    page = services.referral_list(
        viewer, filters, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE
    )
    for row in page.items:
        row["badge"] = STAGE_BADGES.get(row["stage"], "text-bg-secondary")
    prev_url, next_url = _pager(request, page)
    return render(
        request,
        "referrals/pipeline/list.html",
        {
            "form": form,
            "page": page,
            "rows": page.items,
            **_stage_tabs(request, filters, None),
            "prev_url": prev_url,
            "next_url": next_url,
        },
    )


@login_required
@require_GET
def stage_counts_view(request: AuthedRequest) -> HttpResponse:
    """The stage tab bar with each stage's lead count (capped, cached for a minute), under the
    same filters as the list; the list page swaps it in after loading."""
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    filters = LeadFilterForm(request.GET or None, viewer=viewer).filters()
    counts = services.referral_stage_counts(viewer, filters)
    return render(request, "referrals/pipeline/_stage_tabs.html", _stage_tabs(request, filters, counts))


@login_required
@require_GET
def detail_view(request: AuthedRequest, pk: int) -> HttpResponse:
    from .rewards import rewards_by_referral

    viewer = request.user
    referral = services.referral_get(viewer, pk)
    policy = referral.organisation.policy.referrals
    can_work = services.can_work(viewer, referral)
    working = referral.stage in services.WORKING_STAGES
    sales = services.referral_sales(referral) if can_work and working else []
    refund_window = referral.stage == Stage.WON and can_work
    context = {
        "r": referral,
        "badge": STAGE_BADGES.get(referral.stage, ""),
        "phone": permissions.phone_for(viewer, referral.phone),
        "reasons": fraud.explain(referral, policy=policy),
        "timeline": _timeline(referral),
        "rewards": rewards_by_referral([referral.pk]).get(referral.pk, []),
        "customer_visible": services.referral_customer_visible(viewer, referral),
        "original_visible": services.referral_original_visible(viewer, referral),
        "can_audit": services.can_audit(viewer, referral) and referral.stage == Stage.SUBMITTED,
        "can_work": can_work,
        "can_advance": can_work and referral.stage in (Stage.VERIFIED, Stage.CONTACTED),
        "can_contact": referral.stage == Stage.VERIFIED,
        "can_convert": can_work and working and referral.customer_id is None,
        "can_win": can_work and working and referral.customer_id is not None,
        "win_blocked": referral.review == Review.PENDING,
        "can_lose": can_work and (referral.stage in OPEN_STAGES or refund_window),
        "can_review": services.can_review(viewer) and referral.review == Review.PENDING,
        "audit_form": AuditForm(initial={"version": referral.version}),
        "audit_outcomes": AuditOutcome.choices,
        "win_form": WinForm(initial={"version": referral.version}, sales=sales),
        "has_sales": bool(sales),
        "lose_form": LoseForm(initial={"version": referral.version}),
        "review_form": ReviewForm(),
    }
    return render(request, "referrals/pipeline/detail.html", context)


def _stage_action(request: AuthedRequest, pk: int, action: Any) -> HttpResponse:
    """Run a stage change from a lead page form: its refusals become a message on that page."""
    try:
        action()
    except (ValidationFailed, Conflict) as exc:
        messages.error(request, _service_message(exc))
    return redirect(_next_or(request, reverse("referrals:detail", args=[pk])))


@login_required
@require_POST
def audit_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    form = AuditForm(request.POST)
    if not form.is_valid():
        if _htmx(request):
            return _queue_row(request, pk, error=_("Choose the outcome of the call."))
        messages.error(request, _("Choose the outcome of the call."))
        return redirect("referrals:detail", pk=pk)
    data = form.cleaned_data

    def run() -> Referral:
        return services.referral_audit(
            actor=viewer, referral_id=pk, outcome=data["outcome"], note=data["note"], version=data["version"]
        )

    if _htmx(request):
        try:
            referral = run()
        except (ValidationFailed, Conflict) as exc:
            return _queue_row(request, pk, error=_service_message(exc))
        return render(
            request,
            "referrals/pipeline/_audit_done.html",
            {"r": referral, "outcome": AuditOutcome(data["outcome"]).label},
        )
    return _stage_action(request, pk, run)


def _queue_row(request: AuthedRequest, pk: int, *, error: str) -> HttpResponse:
    row = services.referral_row(request.user, pk)
    return render(
        request,
        "referrals/pipeline/_audit_row.html",
        {"row": row, "error": error, "outcomes": AuditOutcome.choices},
    )


@login_required
@require_POST
def advance_view(request: AuthedRequest, pk: int) -> HttpResponse:
    form = AdvanceForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose contacted or quoted."))
        return redirect("referrals:detail", pk=pk)
    data = form.cleaned_data
    return _stage_action(
        request,
        pk,
        lambda: services.referral_advance(
            actor=request.user, referral_id=pk, to=data["to"], note=data["note"], version=data["version"]
        ),
    )


@login_required
@require_POST
def convert_view(request: AuthedRequest, pk: int) -> HttpResponse:
    def run() -> None:
        customer = services.referral_convert(actor=request.user, referral_id=pk)
        messages.success(
            request, _("Customer record: %(name)s (No. %(id)s).") % {"name": customer.name, "id": customer.pk}
        )

    return _stage_action(request, pk, run)


@login_required
@require_POST
def win_view(request: AuthedRequest, pk: int) -> HttpResponse:
    purchase_id = positive_int(request.POST.get("purchase"))
    if purchase_id is None:
        messages.error(request, _("Choose the sale."))
        return redirect("referrals:detail", pk=pk)
    version = positive_int(request.POST.get("version"))

    def run() -> None:
        services.referral_win(actor=request.user, referral_id=pk, purchase_id=purchase_id, version=version)
        messages.success(request, _("Won. The referrer will be thanked and rewarded."))

    return _stage_action(request, pk, run)


@login_required
@require_POST
def lose_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _stage_action(
        request,
        pk,
        lambda: services.referral_lose(
            actor=request.user,
            referral_id=pk,
            reason=request.POST.get("reason", ""),
            version=positive_int(request.POST.get("version")),
        ),
    )


@login_required
@require_POST
def review_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    post = request.POST

    def run() -> Referral:
        return services.referral_review(
            actor=viewer,
            referral_id=pk,
            decision=post.get("decision", ""),
            note=post.get("note", ""),
            faked=post.get("faked") in {"on", "1", "true"},
        )

    if _htmx(request):
        try:
            referral = run()
        except (ValidationFailed, Conflict) as exc:
            return render(
                request,
                "referrals/pipeline/_review_done.html",
                {"r": services.referral_get(viewer, pk), "error": _service_message(exc)},
            )
        return render(request, "referrals/pipeline/_review_done.html", {"r": referral})
    return _stage_action(request, pk, run)


# ---------------------------------------------------------------------------------------------
# Queues


@login_required
@require_GET
def audit_queue_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(viewer.role in services.AUDIT_ROLES)
    page = services.referral_audit_queue(
        viewer, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE
    )
    prev_url, next_url = _pager(request, page)
    return render(
        request,
        "referrals/pipeline/audit_queue.html",
        {
            "page": page,
            "rows": page.items,
            "outcomes": AuditOutcome.choices,
            "prev_url": prev_url,
            "next_url": next_url,
        },
    )


@login_required
@require_GET
def review_queue_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(services.can_review(viewer))
    page = services.referral_review_queue(
        viewer, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE
    )
    prev_url, next_url = _pager(request, page)
    return render(
        request,
        "referrals/pipeline/review_queue.html",
        {"page": page, "items": page.items, "prev_url": prev_url, "next_url": next_url},
    )


# ---------------------------------------------------------------------------------------------
# Capture at delivery


def _products(viewer: Any) -> list[tuple[str, str]]:
    from huitou.customers.selectors import products_for_org

    return [(str(p.pk), p.name) for p in products_for_org(viewer)]


def _saved_summary(viewer: Any, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    policy = viewer.organisation.policy.referrals
    found = services.referral_queryset(viewer).filter(pk__in=ids[:20]).select_related("duplicate_of")
    full = permissions.sees_full_phone(viewer)
    return [
        {
            "r": r,
            "phone": permissions.phone_for(viewer, r.phone, full=full),
            "reasons": fraud.explain(r, policy=policy),
        }
        for r in found.order_by("id")
    ]


@login_required
@require_http_methods(["GET", "POST"])
def capture_view(request: AuthedRequest) -> HttpResponse:
    from huitou.customers.selectors import customer_get

    viewer = request.user
    _require(permissions.is_active_member(viewer))
    products = _products(viewer)
    referrer = None
    status = 200
    if request.method == "POST":
        form = CaptureForm(request.POST)
        formset = ReferredFormSet(request.POST, prefix="p", form_kwargs={"products": products})
        if form.is_valid():
            try:
                referrer = customer_get(viewer, form.cleaned_data["referrer"])
            except NotFound:
                form.add_error(None, _("Choose the customer who refers."))
        if form.is_valid() and formset.is_valid() and referrer is not None:
            saved = _submit_people(viewer, referrer, form.cleaned_data, formset)
            if saved:
                query = urlencode({"customer": referrer.pk, "saved": ",".join(map(str, saved))})
                return redirect(reverse("referrals:capture") + "?" + query)
        status = 422
    else:
        customer_id = positive_int(request.GET.get("customer"))
        if customer_id is not None:
            referrer = customer_get(viewer, customer_id)
        form = CaptureForm(initial={"referrer": referrer.pk if referrer else None})
        formset = ReferredFormSet(prefix="p", form_kwargs={"products": products})
    saved_ids = [int(x) for x in request.GET.get("saved", "").split(",") if x.isdigit()]
    return render(
        request,
        "referrals/pipeline/capture.html",
        {
            "form": form,
            "formset": formset,
            "referrer": referrer,
            "referrer_phone": permissions.phone_for(viewer, referrer.phone)
            if referrer and referrer.phone
            else "",
            "saved": _saved_summary(viewer, saved_ids),
        },
        status=status,
    )


def _submit_people(viewer: Any, referrer: Any, data: dict[str, Any], formset: Any) -> list[int]:
    """Save every person of the form, or none: a person at the desk corrects and sends again."""
    from huitou.customers.models import Product

    saved: list[int] = []
    failed = False
    with transaction.atomic():
        for person in formset.people():
            c = person.cleaned_data
            product = Product.objects.filter(pk=c["product"]).first() if c.get("product") else None
            try:
                with transaction.atomic():
                    referral = services.referral_submit(
                        actor=viewer,
                        referrer=referrer,
                        name=c["name"],
                        phone=c["phone"],
                        relation=c["relation"],
                        interest=c.get("interest", ""),
                        product=product,
                        wechat=c.get("wechat", ""),
                        city=c.get("city", ""),
                        note=c.get("note", ""),
                        channel=data["channel"],
                        event_name=data.get("event_name", ""),
                    )
            except ValidationFailed as exc:
                person.add_service_errors(exc)
                failed = True
            else:
                saved.append(referral.pk)
        if failed:
            transaction.set_rollback(True)
            return []
    return saved


@login_required
@require_GET
def referrer_search_view(request: AuthedRequest) -> HttpResponse:
    """Referrer picker of the capture form: up to 10 customers in scope matching what was typed."""
    from huitou.customers import selectors as customer_selectors

    viewer = request.user
    _require(permissions.is_active_member(viewer))
    q = request.GET.get("q", "").strip()[:64]
    found = customer_selectors.customer_pick(viewer, q)
    return render(request, "referrals/pipeline/_referrer_options.html", {"found": found, "q": q})


@login_required
@require_GET
def capture_print_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    """The printable 推荐表 (A4) with a QR code of the referrer's self-service link."""
    viewer = request.user
    link, token = services.referral_link_for_print(actor=viewer, referrer_id=customer_id)
    url = links.public_url(token)
    referrer = link.referrer
    return render(
        request,
        "referrals/pipeline/print.html",
        {
            "referrer": referrer,
            "organisation": link.organisation,
            "store": referrer.store,
            "link": link,
            "url": url,
            "qr": mark_safe(links.qr_svg(url, scale=3)),
            "blank_rows": range(6),
            "rep": referrer.owner,
        },
    )


# ---------------------------------------------------------------------------------------------
# Self-service links


@login_required
@require_POST
def link_create_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    link, _token = services.referral_link_create(actor=request.user, referrer_id=customer_id)
    return redirect("referrals:link_detail", link_id=link.pk)


@login_required
@require_GET
def link_detail_view(request: AuthedRequest, link_id: int) -> HttpResponse:
    viewer = request.user
    link = services.referral_link_get(viewer, link_id)
    url = links.public_url(links.token_for(link.pk))
    now = timezone.now()
    return render(
        request,
        "referrals/pipeline/link.html",
        {
            "link": link,
            "url": url,
            "qr": mark_safe(links.qr_svg(url, scale=5)),
            "live": link.revoked_at is None and link.expires_at > now,
            "expired": link.expires_at <= now,
            "has_phone": bool(link.referrer.phone),
        },
    )


@login_required
@require_POST
def link_sms_view(request: AuthedRequest, link_id: int) -> HttpResponse:
    try:
        services.referral_link_send(actor=request.user, link_id=link_id)
    except ValidationFailed as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("The SMS with the link is in the outbox."))
    return redirect("referrals:link_detail", link_id=link_id)


@login_required
@require_POST
def link_revoke_view(request: AuthedRequest, link_id: int) -> HttpResponse:
    services.referral_link_revoke(actor=request.user, link_id=link_id)
    messages.success(request, _("The link no longer works."))
    return redirect("referrals:link_detail", link_id=link_id)


# ---------------------------------------------------------------------------------------------
# The public self-service form (no login; the signed token is the credential)


def _public_error(request: HttpRequest, reason: str) -> HttpResponse:
    status = {"invalid": 404, "expired": 410, "revoked": 410, "limited": 429}[reason]
    return render(request, "referrals/pipeline/public_error.html", {"reason": reason}, status=status)


@require_http_methods(["GET", "POST"])
def public_view(request: HttpRequest, token: str) -> HttpResponse:
    now = timezone.now()
    try:
        link = services.referral_link_read(token, now=now)
    except links.LinkError as exc:
        return _public_error(request, exc.reason)
    referrer = link.referrer
    context: dict[str, Any] = {
        "greeting": links.salutation(referrer),
        "dealer": referrer.store.name if referrer.store else link.organisation.name,
        "organisation": link.organisation.name,
    }
    if request.method == "GET" and request.GET.get("done"):
        return render(request, "referrals/pipeline/public_thanks.html", context)
    if request.method == "POST":
        if links.ip_limited(request, now=now):
            return _public_error(request, "limited")
        consent = ConsentForm(request.POST)
        formset = PublicFormSet(request.POST, prefix="p")
        if consent.is_valid() and consent.cleaned_data.get("website"):
            return redirect(request.path + "?done=1")  # a robot: thank it and store nothing
        if consent.is_valid() and formset.is_valid():
            try:
                saved = _public_submit(link, formset, now=now)
            except services.RateLimited:
                return _public_error(request, "limited")
            if saved:
                return redirect(request.path + "?done=1")
        status = 422
    else:
        consent = ConsentForm()
        formset = PublicFormSet(prefix="p")
        status = 200
    return render(
        request,
        "referrals/pipeline/public.html",
        {**context, "consent": consent, "formset": formset},
        status=status,
    )


def _public_submit(link: Any, formset: Any, *, now: Any) -> int:
    saved = 0
    failed = False
    with transaction.atomic():
        for person in formset.people():
            c = person.cleaned_data
            try:
                with transaction.atomic():
                    services.referral_submit(
                        actor=None,
                        referrer=link.referrer,
                        name=c["name"],
                        phone=c["phone"],
                        relation=c["relation"],
                        interest=c.get("interest", ""),
                        channel="self",
                        link=link,
                        now=now,
                    )
            except ValidationFailed as exc:
                person.add_service_errors(exc)
                failed = True
            else:
                saved += 1
        if failed:
            transaction.set_rollback(True)
            return 0
    return saved


# ---------------------------------------------------------------------------------------------
# Bulk entry


@login_required
@require_http_methods(["GET", "POST"])
def bulk_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    result = None
    status = 200
    if request.method == "POST":
        form = BulkForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = services.referrals_bulk_submit(
                    actor=viewer, rows=data["rows"], channel=data["channel"], event_name=data["event_name"]
                )
            except ValidationFailed as exc:
                form.add_service_errors(exc)
                status = 422
        else:
            status = 422
    else:
        form = BulkForm()
    report = None
    if result is not None:
        labels = {
            "referrer": _("referrer"),
            "name": _("name"),
            "phone": _("mobile phone"),
            "relation": _("relation"),
            "interest": _("interested in"),
            "wechat": _("WeChat"),
            "city": _("city"),
        }
        report = {
            "result": result,
            "errors": [
                {"row": e.row, "field": labels.get(e.field, e.field), "message": _(e.message)}
                for e in result.errors
            ],
            "pipeline_url": reverse("referrals:pipeline")
            + "?"
            + urlencode({"channel": form.cleaned_data["channel"]}),
        }
    return render(request, "referrals/pipeline/bulk.html", {"form": form, "report": report}, status=status)
