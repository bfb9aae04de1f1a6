"""Outbox pages (list, cancel/retry, print batches), the public unsubscribe page and the provider
webhooks. Thin: selectors decide what the viewer sees, services do every write."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, ValidationFailed
from huitou.core.http import AuthedRequest, pager_links, positive_int
from huitou.customers.models import Consent, Customer

from ..models import Channel, Message, Purpose
from . import selectors, services
from .forms import OutboxFilterForm, PrintBatchForm

logger = logging.getLogger("huitou.outbox")
PAGE_SIZE = 50
BODY_PREVIEW = 80
CANCELLABLE = {Message.Status.QUEUED, Message.Status.FAILED}


def _outbox_viewer(request: AuthedRequest) -> Any:
    if not selectors.can_use_outbox(request.user):
        raise DjangoPermissionDenied
    return request.user


def _labels() -> dict[str, dict[str, str]]:
    """Choice labels in the request's language, resolved once per page rather than per row."""
    return {
        "status": {k: str(v) for k, v in Message.Status.choices},
        "channel": {k: str(v) for k, v in Channel.choices},
        "purpose": {k: str(v) for k, v in Purpose.choices},
    }


def _row(row: dict[str, Any], viewer: Any, full: bool, labels: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Everything a list row shows, resolved once in Python (no per-row lookups in the template)."""
    to = row["to"]
    if row["channel"] == Channel.SMS and to:
        to = permissions.phone_for(viewer, to, full=full)
    body = row["body"] or ""
    local = timezone.localtime(row["scheduled_for"]) if row["scheduled_for"] else None
    row.update(
        to_shown=to,
        # Reasons the outbox writes are English source strings with catalogue entries; a
        # provider's own error text has none and shows as received.
        last_error=_(row["last_error"]) if row["last_error"] else "",
        preview=body if len(body) <= BODY_PREVIEW else body[: BODY_PREVIEW - 1] + "…",
        status_label=labels["status"].get(row["status"], row["status"]),
        channel_label=labels["channel"].get(row["channel"], row["channel"]),
        purpose_label=labels["purpose"].get(row["purpose"], row["purpose"]),
        when=local.strftime("%Y-%m-%d %H:%M") if local else "",
        can_cancel=row["status"] in CANCELLABLE,
        can_retry=row["status"] == Message.Status.FAILED,
        customer_url=reverse("customers:detail", args=[row["customer_id"]]),
    )
    return row


def _message_row(viewer: Any, message: Message) -> dict[str, Any]:
    row = {field: getattr(message, field, None) for field in selectors.LIST_FIELDS if "__" not in field}
    row["customer__name"] = message.customer.name
    return _row(row, viewer, permissions.sees_full_phone(viewer), _labels())


@login_required
@require_GET
def outbox_list_view(request: AuthedRequest) -> HttpResponse:
    viewer = _outbox_viewer(request)
    form = OutboxFilterForm(request.GET or None)
    filters = form.filters() if request.GET else selectors.MessageFilters()
    page = selectors.message_list_rows(
        viewer, filters, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE
    )
    full = permissions.sees_full_phone(viewer)
    labels = _labels()
    rows = [_row(r, viewer, full, labels) for r in page.items]
    kept = {k: v for k, v in request.GET.items() if k != "page" and v}
    prev_url, next_url = pager_links(request, page)
    counts = selectors.message_status_counts(viewer, filters)
    status_links = [
        (value, label, counts.get(value, 0), request.path + "?" + urlencode({**kept, "status": value}))
        for value, label in Message.Status.choices
    ]
    context = {
        "form": form if request.GET else OutboxFilterForm(),
        "page": page,
        "rows": rows,
        "prev_url": prev_url,
        "next_url": next_url,
        "status_links": status_links,
        "current_status": filters.status,
        "all_url": request.path + "?" + urlencode({k: v for k, v in kept.items() if k != "status"}),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request and htmx.target == "outbox-results":
        return render(request, "followups/outbox/_results.html", context)
    return render(request, "followups/outbox/list.html", context)


def _act(request: AuthedRequest, pk: int, action: str) -> HttpResponse:
    viewer = _outbox_viewer(request)
    service = services.message_cancel if action == "cancel" else services.message_retry
    error = ""
    try:
        message = service(actor=viewer, message_id=pk)
    except NotFound as exc:
        raise Http404 from exc
    except (ValidationFailed, Conflict) as exc:
        error = _("This message cannot be changed any more; reload the list.")
        logger.info("outbox %s refused for %s: %s", action, pk, exc)
        message = selectors.message_get(viewer, pk)
    htmx = getattr(request, "htmx", None)
    if htmx:
        row = _message_row(viewer, message)
        return render(request, "followups/outbox/_row.html", {"r": row, "error": error})
    if error:
        messages.error(request, error)
    elif action == "cancel":
        messages.success(request, _("Message cancelled."))
    else:
        messages.success(request, _("Message queued again."))
    return redirect("followups:outbox")


@login_required
@require_POST
def message_cancel_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "cancel")


@login_required
@require_POST
def message_retry_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "retry")


# ---------------------------------------------------------------- print batches


@login_required
@require_http_methods(["GET", "POST"])
def print_view(request: AuthedRequest) -> HttpResponse:
    viewer = _outbox_viewer(request)
    form = PrintBatchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            batch = services.print_batch_create(actor=viewer, channel=form.cleaned_data["channel"] or None)
        except ValidationFailed:
            messages.warning(request, _("No letters or cards are due for printing."))
        else:
            messages.success(
                request,
                _("Print batch %(id)s created with %(n)s pages.") % {"id": batch.pk, "n": batch.count},
            )
        return redirect("followups:outbox_print")
    page = selectors.print_batches(viewer, page=positive_int(request.GET.get("page")) or 1)
    due = selectors.print_due_counts(viewer)
    context = {
        "form": form,
        "page": page,
        "due_letters": due.get(Channel.LETTER, 0),
        "due_cards": due.get(Channel.CARD, 0),
        "prev_url": f"?page={page.number - 1}" if page.has_previous else "",
        "next_url": f"?page={page.number + 1}" if page.has_next else "",
    }
    return render(request, "followups/outbox/print.html", context)


@login_required
@require_GET
def print_pdf_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = _outbox_viewer(request)
    try:
        data = services.print_batch_pdf(actor=viewer, batch_id=pk)
    except NotFound as exc:
        raise Http404 from exc
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="print-batch-{pk}.pdf"'
    return response


# ---------------------------------------------------------------- unsubscribe (public)


def _masked_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


@csrf_exempt  # the signed token is the credential; mail clients' one-click POST carries no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        customer_id, channel = services.unsubscribe_read(token)
        customer = Customer.objects.select_related("organisation").get(pk=customer_id)
    except (ValidationFailed, Customer.DoesNotExist):
        return render(request, "followups/outbox/unsubscribe_invalid.html", status=400)
    context = {
        "token": token,
        "channel_label": dict(Consent.Channel.choices).get(channel, channel),
        "organisation": customer.organisation.name,
        "name": _masked_name(customer.name),
    }
    if request.method == "POST":
        try:
            services.unsubscribe_confirm(token=token)
        except ValidationFailed:
            return render(request, "followups/outbox/unsubscribe_invalid.html", status=400)
        return render(request, "followups/outbox/unsubscribe_done.html", context)
    return render(request, "followups/outbox/unsubscribe.html", context)


# ---------------------------------------------------------------- provider webhooks (public)

WEBHOOK_HEADER = "X-Huitou-Webhook-Secret"
WEBHOOK_PROVIDERS = ("aliyun", "tencent", "generic")
WEBHOOK_KINDS = ("status", "inbound")


def _secret_ok(request: HttpRequest, secret: str | None) -> bool:
    expected = str(settings.OUTBOX.get("WEBHOOK_SECRET") or "")
    given = secret or request.headers.get(WEBHOOK_HEADER, "")
    return bool(expected) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _report_time(value: Any) -> dt.datetime | None:
    try:
        naive = dt.datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None
    return timezone.make_aware(naive, timezone.get_default_timezone())


def _as_list(payload: Any) -> list[dict[str, Any]]:
    items = payload if isinstance(payload, list) else [payload]
    return [item for item in items if isinstance(item, dict)]


def _phone(item: dict[str, Any], number_key: str) -> str:
    number = str(item.get(number_key) or "").strip()
    code = str(item.get("nationcode") or "").strip()
    return f"+{code}{number}" if code and not number.startswith("+") else number


def _handle(provider: str, kind: str, payload: Any) -> int:
    changed = 0
    for item in _as_list(payload):
        if kind == "status":
            if provider == "aliyun":
                changed += services.delivery_report_record(
                    provider="aliyun",
                    provider_message_id=str(item.get("biz_id") or ""),
                    out_id=str(item.get("out_id") or ""),
                    delivered=item.get("success") in (True, "true", "True", 1),
                    error=f"{item.get('err_code', '')} {item.get('err_msg', '')}".strip(),
                    at=_report_time(item.get("report_time")),
                )
            elif provider == "tencent":
                changed += services.delivery_report_record(
                    provider="tencent",
                    provider_message_id=str(item.get("sid") or ""),
                    delivered=str(item.get("report_status", "")).upper() == "SUCCESS",
                    error=f"{item.get('errmsg', '')} {item.get('description', '')}".strip(),
                    at=_report_time(item.get("user_receive_time")),
                )
            else:
                changed += services.delivery_report_record(
                    provider=str(item.get("provider") or settings.OUTBOX.get("SMS_PROVIDER", "")),
                    provider_message_id=str(item.get("provider_message_id") or ""),
                    out_id=str(item.get("out_id") or ""),
                    delivered=str(item.get("status", "")).lower() == "delivered",
                    error=str(item.get("error") or ""),
                )
        else:
            if provider == "aliyun":
                phone, text = _phone(item, "phone_number"), str(item.get("content") or "")
            elif provider == "tencent":
                phone, text = _phone(item, "mobile"), str(item.get("text") or "")
            else:
                phone, text = str(item.get("phone") or ""), str(item.get("text") or "")
            changed += services.inbound_sms_record(phone=phone, text=text, provider=provider)
    return changed


def _ack(provider: str, changed: int) -> JsonResponse:
    if provider == "aliyun":
        return JsonResponse({"code": 0, "msg": "OK"})
    if provider == "tencent":
        return JsonResponse({"result": 0, "errmsg": "OK"})
    return JsonResponse({"ok": True, "changed": changed})


@csrf_exempt  # called by the SMS provider's servers, authenticated by the shared secret
@require_POST
def webhook_view(request: HttpRequest, provider: str, kind: str, secret: str | None = None) -> HttpResponse:
    if provider not in WEBHOOK_PROVIDERS or kind not in WEBHOOK_KINDS:
        raise Http404
    if not _secret_ok(request, secret):
        return JsonResponse({"detail": "forbidden"}, status=403)
    try:
        payload = json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return JsonResponse({"detail": "body is not JSON"}, status=400)
    changed = _handle(provider, kind, payload)
    return _ack(provider, changed)
