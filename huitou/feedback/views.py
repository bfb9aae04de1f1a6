"""Staff pages of satisfaction and complaints: tickets with their clocks and the supervisor reply
form, survey templates, the DCRC's phone surveys, answers, CVP and its award, quadrants, trend,
gaming flags, and the block on the customer page.

Thin: role checks here, row filtering in the selectors, every write through a service. Outside
the viewer's scope is 404 (``NotFound``, mapped by the middleware); a role that may never do
something gets 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.core.http import is_htmx as _htmx
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import paginate

from . import access, exports, measures, selectors, services, sla, tickets
from .forms import (
    AssignForm,
    ConcessionForm,
    NoteForm,
    PeriodForm,
    QuestionForm,
    ReplyForm,
    ResolveForm,
    SupervisorReplyForm,
    TemplateForm,
    TicketFilterForm,
    TicketForm,
    ValueAddedServiceForm,
    answers_from_post,
    people_choices,
    survey_rows,
)
from .models import QuestionKind, ResponseChannel, SurveyInvitation, SurveyKind, SurveyResponse, Ticket

PAGE_SIZE = 50
SOON = dt.timedelta(hours=2)
QUADRANT_LABELS = {
    "urgent": gettext_noop("Urgent to improve"),
    "keep": gettext_noop("Keep up"),
    "low_priority": gettext_noop("Low priority"),
    "over_served": gettext_noop("Over-served"),
}


def _member(request: AuthedRequest) -> None:
    _require(permissions.is_active_member(request.user))


def _stores(viewer: Any) -> list[tuple[int, str]]:
    from huitou.customers.selectors import stores_in_scope

    return [(s.pk, s.name) for s in stores_in_scope(viewer)]


def _clock_texts() -> dict[str, str]:
    return {
        "left": _("%(time)s left"),
        "over": _("%(time)s overdue"),
        "h": pgettext("clock", "h"),
        "m": pgettext("clock", "min"),
        "d": pgettext("clock", "d"),
    }


def _clocks(ticket: Ticket, now: dt.datetime) -> dict[str, str]:
    return {
        "reply": sla.clock_state(ticket.first_reply_due_at, ticket.first_reply_at, now, soon=SOON),
        "resolve": sla.clock_state(ticket.resolve_due_at, ticket.resolved_at, now, soon=SOON),
    }


# A clock's badge: (css classes, label); the running ones also count down in the browser.
_CLOCK_BADGES = {
    "met": ("text-bg-success sla-met", gettext_noop("met")),
    "late": ("text-bg-warning sla-late", gettext_noop("late")),
    "overdue": ("text-bg-danger sla-overdue", gettext_noop("overdue")),
    "due_soon": ("text-bg-warning sla-soon", gettext_noop("due soon")),
    "running": ("text-bg-light border sla-running", gettext_noop("due")),
}


def _clock_badge(state: str, due: dt.datetime) -> dict[str, str]:
    """What ``feedback/_clock.html`` shows, built in Python for the long tables (an include per
    cell costs more than the rest of the row)."""
    css, label = _CLOCK_BADGES.get(state, _CLOCK_BADGES["running"])
    live = state not in ("met", "late")
    return {"css": css, "label": _(label), "due": timezone.localtime(due).isoformat() if live else ""}


def _ticket_rows(tickets: list[Ticket], now: dt.datetime) -> list[dict[str, Any]]:
    """Rows of a ticket table with their clocks and choice labels. The labels are translated once
    per page: ``get_FOO_display`` per row translates every choice of the field again (four fields,
    fifty rows: a third of the page's time at scale, see bench/feedback_notes.md)."""
    labels = {
        name: {value: str(label) for value, label in choices}
        for name, choices in (
            ("channel", Ticket.Channel.choices),
            ("category", Ticket.Category.choices),
            ("severity", Ticket.Severity.choices),
            ("status", Ticket.Status.choices),
        )
    }
    # Links and dates too: reversing two URLs and formatting three dates per row in the template
    # was a quarter of the page's Python.
    ticket_url = _url_pattern("feedback:ticket_detail")
    customer_url = _url_pattern("customers:detail")
    return [
        {
            "t": t,
            "clock": clock,
            "reply": _clock_badge(clock["reply"], t.first_reply_due_at),
            "resolve": _clock_badge(clock["resolve"], t.resolve_due_at),
            "url": ticket_url(t.pk),
            "customer_url": customer_url(t.customer_id),
            "received": f"{timezone.localtime(t.received_at):%Y-%m-%d %H:%M}",
            "reply_due": f"{timezone.localtime(t.first_reply_due_at):%m-%d %H:%M}",
            "resolve_due": f"{timezone.localtime(t.resolve_due_at):%m-%d}",
            **{name: labels[name].get(getattr(t, name), getattr(t, name)) for name in labels},
        }
        for t in tickets
        for clock in [_clocks(t, now)]
    ]


_URL_SLOT = 987654321


def _url_pattern(name: str) -> Any:
    """``reverse(name, args=[pk])`` for many pks: reversed once, the id put in by text."""
    head, _slot, tail = reverse(name, args=[_URL_SLOT]).partition(str(_URL_SLOT))
    return lambda pk: f"{head}{pk}{tail}"


def _version(request: AuthedRequest) -> int | None:
    return positive_int(request.POST.get("version"))


# ---------------------------------------------------------------------------------------------
# Tickets


@login_required
@require_GET
def ticket_list_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _member(request)
    form = TicketFilterForm(request.GET or None, stores=_stores(viewer))
    data = form.cleaned_data if form.is_valid() else {}
    filters = selectors.TicketFilters(
        status=data.get("status") or "active",
        mine=bool(data.get("mine")),
        escalated=bool(data.get("escalated")),
        overdue=bool(data.get("overdue")),
        store_id=data.get("store"),
        channel=data.get("channel") or "",
        severity=data.get("severity") or "",
    )
    now = timezone.now()
    page = paginate(
        selectors.ticket_list(viewer, filters, now=now),
        page=positive_int(request.GET.get("page")) or 1,
        size=PAGE_SIZE,
        count=False,
    )
    prev_url, next_url = _pager(request, page)
    approvals = list(selectors.pending_concessions(viewer)[:20])
    return render(
        request,
        "feedback/tickets.html",
        {
            "form": form,
            "rows": _ticket_rows(page.items, now),
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "approvals": approvals,
            "clock_texts": _clock_texts(),
            "policy": viewer.organisation.policy.feedback,  # type: ignore[union-attr]
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def ticket_create_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(access.can_open_ticket(viewer))
    initial: dict[str, Any] = {}
    customer = None
    customer_id = positive_int(request.GET.get("customer"))
    if customer_id:
        from huitou.customers.selectors import customer_get

        customer = customer_get(viewer, customer_id)
        initial["customer_id"] = customer.pk
    form = TicketForm(request.POST or None, initial=initial, people=people_choices(viewer))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                ticket = tickets.ticket_open(
                    actor=viewer,
                    customer_id=data["customer_id"],
                    summary=data["summary"],
                    channel=data["channel"],
                    kind=data["kind"],
                    category=data["category"],
                    severity=data["severity"],
                    detail=data.get("detail") or "",
                    owner_id=data.get("owner"),
                    received_at=data.get("received_at"),
                )
            except ValidationFailed as exc:
                form.add_service_errors(exc)
            except NotFound:
                form.add_error("customer_id", _("No such customer within your reach."))
            else:
                messages.success(request, _("Ticket #%(id)s opened.") % {"id": ticket.pk})
                return redirect("feedback:ticket_detail", pk=ticket.pk)
        status = 422
    return render(request, "feedback/ticket_form.html", {"form": form, "customer": customer}, status=status)


def _detail_context(request: AuthedRequest, pk: int, **forms: Any) -> dict[str, Any]:
    viewer = request.user
    detail = selectors.ticket_detail(viewer, pk)
    ticket = detail.ticket
    now = timezone.now()
    version = {"version": ticket.version}
    return {
        "d": detail,
        "t": ticket,
        "clock": _clocks(ticket, now),
        "can_work": tickets.can_work(viewer, ticket),
        "can_supervise": access.can_supervise(viewer),
        "reply_form": forms.get("reply_form") or ReplyForm(initial=version),
        "resolve_form": forms.get("resolve_form") or ResolveForm(initial=version),
        "note_form": forms.get("note_form") or NoteForm(),
        "assign_form": forms.get("assign_form")
        or AssignForm(initial={**version, "owner": ticket.owner_id}, people=people_choices(viewer)),
        "concession_form": forms.get("concession_form") or ConcessionForm(),
        "concessions": [{"c": c, "may_approve": tickets.may_approve(viewer, c)} for c in detail.concessions],
        "clock_texts": _clock_texts(),
        "phone": permissions.phone_for(viewer, ticket.customer.phone) if ticket.customer.phone else "",
    }


@login_required
@require_GET
def ticket_detail_view(request: AuthedRequest, pk: int) -> HttpResponse:
    _member(request)
    return render(request, "feedback/ticket_detail.html", _detail_context(request, pk))


def _ticket_action(
    request: AuthedRequest, pk: int, form: Any, form_name: str, run: Any, done: str
) -> HttpResponse:
    if form.is_valid():
        try:
            run(form.cleaned_data)
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        except Conflict:
            form.add_error(None, _("Someone else changed this ticket meanwhile; it is shown as it is now."))
        else:
            messages.success(request, done)
            return redirect("feedback:ticket_detail", pk=pk)
    return render(
        request, "feedback/ticket_detail.html", _detail_context(request, pk, **{form_name: form}), status=422
    )


@login_required
@require_POST
def ticket_reply_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    return _ticket_action(
        request,
        pk,
        ReplyForm(request.POST),
        "reply_form",
        lambda d: tickets.ticket_reply(actor=viewer, ticket_id=pk, text=d["text"], version=d.get("version")),
        _("Reply recorded."),
    )


@login_required
@require_POST
def ticket_resolve_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    return _ticket_action(
        request,
        pk,
        ResolveForm(request.POST),
        "resolve_form",
        lambda d: tickets.ticket_resolve(
            actor=viewer, ticket_id=pk, text=d["text"], version=d.get("version")
        ),
        _("Marked as resolved. A manager fills in the supervisor reply before closing."),
    )


@login_required
@require_POST
def ticket_note_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    return _ticket_action(
        request,
        pk,
        NoteForm(request.POST),
        "note_form",
        lambda d: tickets.ticket_note(actor=viewer, ticket_id=pk, text=d["text"]),
        _("Note added."),
    )


@login_required
@require_POST
def ticket_assign_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    selectors.ticket_get(viewer, pk)  # 404 before 403
    _require(access.can_supervise(viewer))
    return _ticket_action(
        request,
        pk,
        AssignForm(request.POST, people=people_choices(viewer)),
        "assign_form",
        lambda d: tickets.ticket_assign(
            actor=viewer, ticket_id=pk, owner_id=d["owner"], version=d.get("version")
        ),
        _("Ticket assigned."),
    )


@login_required
@require_POST
def ticket_close_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    selectors.ticket_get(viewer, pk)
    _require(access.can_supervise(viewer))
    try:
        tickets.ticket_close(actor=viewer, ticket_id=pk, version=_version(request))
    except ValidationFailed as exc:
        messages.error(request, error_text(exc))
    except Conflict:
        messages.error(request, _("Someone else changed this ticket meanwhile; it is shown as it is now."))
    else:
        messages.success(request, _("Ticket closed; the satisfaction check is scheduled."))
    return redirect("feedback:ticket_detail", pk=pk)


@login_required
@require_POST
def ticket_reopen_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    selectors.ticket_get(viewer, pk)
    _require(access.can_supervise(viewer))
    try:
        tickets.ticket_reopen(actor=viewer, ticket_id=pk, reason=request.POST.get("reason", ""))
    except ValidationFailed as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Ticket reopened."))
    return redirect("feedback:ticket_detail", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def supervisor_reply_view(request: AuthedRequest, pk: int) -> HttpResponse:
    """主管回复表: the manager's answer, measures, the customer's reaction and the sign-off."""
    viewer = request.user
    detail = selectors.ticket_detail(viewer, pk)  # 404 outside the scope
    _require(access.can_supervise(viewer))
    reply = detail.reply
    initial: dict[str, Any] = {"sign": True}
    if reply is not None:
        initial.update(
            cause=reply.cause,
            answer=reply.answer,
            measures=reply.measures,
            customer_reaction=reply.customer_reaction,
            reaction_note=reply.reaction_note,
            version=reply.version,
        )
    form = SupervisorReplyForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                tickets.supervisor_reply_save(
                    actor=viewer,
                    ticket_id=pk,
                    cause=data.get("cause") or "",
                    answer=data["answer"],
                    measures=data["measures"],
                    customer_reaction=data["customer_reaction"],
                    reaction_note=data.get("reaction_note") or "",
                    sign=bool(data.get("sign")),
                    version=data.get("version"),
                )
            except ValidationFailed as exc:
                form.add_service_errors(exc)
            except Conflict:
                form.add_error(None, _("Someone else changed this reply meanwhile; reload the page."))
                status = 409
            else:
                if data.get("sign"):
                    messages.success(request, _("Supervisor reply signed. The ticket can be closed."))
                else:
                    messages.success(request, _("Supervisor reply saved as a draft."))
                return redirect("feedback:ticket_detail", pk=pk)
        status = status if status != 200 else 422
    return render(
        request,
        "feedback/supervisor_reply.html",
        {"form": form, "d": detail, "t": detail.ticket},
        status=status,
    )


@login_required
@require_POST
def concession_add_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    return _ticket_action(
        request,
        pk,
        ConcessionForm(request.POST),
        "concession_form",
        lambda d: tickets.concession_propose(
            actor=viewer, ticket_id=pk, kind=d["kind"], value=d["value"], description=d["description"]
        ),
        _("Concession recorded."),
    )


@login_required
@require_POST
def concession_decide_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    action = request.POST.get("action", "")
    try:
        if action == "offer":
            concession = tickets.concession_offer(actor=viewer, concession_id=pk)
        elif action in ("approve", "reject"):
            concession = tickets.concession_decide(
                actor=viewer, concession_id=pk, approve=action == "approve", note=request.POST.get("note", "")
            )
        else:
            raise ValidationFailed({"action": ["not a valid choice"]})
    except ValidationFailed as exc:
        messages.error(request, error_text(exc))
        back = request.POST.get("ticket")
        return (
            redirect("feedback:ticket_detail", pk=positive_int(back) or 0)
            if back
            else redirect("feedback:tickets")
        )
    except PermissionDenied as exc:
        raise DjangoPermissionDenied from exc
    messages.success(request, _("Concession updated."))
    return redirect("feedback:ticket_detail", pk=concession.ticket_id)


# ---------------------------------------------------------------------------------------------
# Survey templates


@login_required
@require_GET
def template_list_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(access.can_read_templates(viewer))
    return render(
        request,
        "feedback/templates.html",
        {"templates": selectors.template_list(viewer), "can_edit": access.can_edit_templates(viewer)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def template_edit_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    _require(access.can_read_templates(viewer))
    template = selectors.template_get(viewer, pk)
    can_edit = access.can_edit_templates(viewer)
    if request.method == "POST":
        _require(can_edit)
    form = TemplateForm(
        request.POST or None,
        initial={
            "name": template.name,
            "intro": template.intro,
            "active": template.active,
            "version": template.version,
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.template_update(
                    actor=viewer,
                    template_id=pk,
                    name=data["name"],
                    intro=data.get("intro") or "",
                    active=bool(data.get("active")),
                    version=data.get("version"),
                )
            except ValidationFailed as exc:
                form.add_service_errors(exc)
            except Conflict:
                form.add_error(None, _("Someone else changed this survey meanwhile; reload the page."))
            else:
                messages.success(request, _("Survey saved."))
                return redirect("feedback:template_edit", pk=pk)
        status = 422
    return _render_template_edit(request, template, form, QuestionForm(), status, can_edit)


def _render_template_edit(
    request: AuthedRequest, template: Any, form: Any, question_form: Any, status: int, can_edit: bool
) -> HttpResponse:
    questions = list(template.questions.order_by("order", "id"))
    return render(
        request,
        "feedback/template_edit.html",
        {
            "template": template,
            "form": form,
            "question_form": question_form,
            "questions": questions,
            "can_edit": can_edit,
            "preview_url": None,
        },
        status=status,
    )


@login_required
@require_POST
def question_add_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    template = selectors.template_get(viewer, pk)
    _require(access.can_edit_templates(viewer))
    form = QuestionForm(request.POST)
    if form.is_valid():
        try:
            services.question_add(actor=viewer, template_id=pk, data=form.service_data())
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Question added."))
            return redirect("feedback:template_edit", pk=pk)
    template_form = TemplateForm(
        initial={
            "name": template.name,
            "intro": template.intro,
            "active": template.active,
            "version": template.version,
        }
    )
    return _render_template_edit(request, template, template_form, form, 422, True)


@login_required
@require_POST
def question_update_view(request: AuthedRequest, pk: int, question_id: int) -> HttpResponse:
    viewer = request.user
    selectors.template_get(viewer, pk)
    _require(access.can_edit_templates(viewer))
    try:
        if request.POST.get("action") == "remove":
            deleted = services.question_remove(actor=viewer, question_id=question_id)
            messages.success(
                request,
                _("Question deleted.") if deleted else _("The question has answers; it was deactivated."),
            )
        else:
            data: dict[str, Any] = {}
            if "active" in request.POST:
                data["active"] = request.POST.get("active") == "1"
            if "order" in request.POST:
                data["order"] = positive_int(request.POST.get("order")) or 0
            if "text" in request.POST:
                data["text"] = request.POST.get("text", "")
            if "weight" in request.POST:
                data["weight"] = request.POST.get("weight", "")
            services.question_update(actor=viewer, question_id=question_id, data=data)
            messages.success(request, _("Question saved."))
    except ValidationFailed as exc:
        messages.error(request, error_text(exc))
    return redirect("feedback:template_edit", pk=pk)


# ---------------------------------------------------------------------------------------------
# Phone surveys (DCRC)


@login_required
@require_GET
def phone_queue_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(access.can_take_phone_surveys(viewer))
    mode = "audit" if request.GET.get("mode") == "audit" else "survey"
    kind = request.GET.get("kind", "")
    page = paginate(
        selectors.phone_queue(viewer, mode=mode, kind=kind),
        page=positive_int(request.GET.get("page")) or 1,
        size=PAGE_SIZE,
        count=False,
    )
    prev_url, next_url = _pager(request, page)
    full = permissions.sees_full_phone(viewer)
    rows = [
        {
            "i": inv,
            "phone": permissions.phone_for(viewer, inv.customer.phone, full=full)
            if inv.customer.phone
            else "",
        }
        for inv in page.items
    ]
    return render(
        request,
        "feedback/phone_queue.html",
        {
            "rows": rows,
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "mode": mode,
            "kind": kind,
            "kinds": SurveyKind.choices,
        },
    )


def _low_max(viewer: Any) -> dict[str, int]:
    policy = viewer.organisation.policy.feedback
    return {
        QuestionKind.SCALE5: policy.low_scale_max,
        QuestionKind.NPS: policy.low_nps_max,
        QuestionKind.YES_NO: 0 if policy.low_yes_no else -1,
    }


@login_required
@require_http_methods(["GET", "POST"])
def phone_entry_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    invitation = selectors.invitation_get(viewer, pk)
    _require(access.can_take_phone_surveys(viewer))
    questions = services.active_questions(invitation.template)
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    status = 200
    if request.method == "POST":
        try:
            response = services.response_record_phone(
                actor=viewer, invitation_id=pk, answers=answers_from_post(questions, request.POST)
            )
        except ValidationFailed as exc:
            errors = exc.errors
            general = [_(m) for key, msgs in exc.errors.items() if not key.startswith("q") for m in msgs]
            status = 422
        else:
            if response.audit:
                messages.success(request, _("Audit call recorded."))
            elif response.low:
                messages.warning(request, _("Answers recorded. A low answer opened a complaint ticket."))
            else:
                messages.success(request, _("Answers recorded."))
            return redirect(reverse("feedback:phone") + ("?mode=audit" if response.audit else ""))
    served_by_me = invitation.rep_id == viewer.pk
    return render(
        request,
        "feedback/phone_entry.html",
        {
            "i": invitation,
            "rows": survey_rows(
                questions, request.POST if request.method == "POST" else None, errors, _low_max(viewer)
            ),
            "general_errors": general,
            "served_by_me": served_by_me,
            "audit": invitation.status == SurveyInvitation.Status.ANSWERED,
            "phone": permissions.phone_for(viewer, invitation.customer.phone)
            if invitation.customer.phone
            else "",
        },
        status=status,
    )


@login_required
@require_POST
def phone_for_purchase_view(request: AuthedRequest, purchase_id: int) -> HttpResponse:
    """Start a phone survey on a sale or visit from the customer page, before the daily run."""
    viewer = request.user
    _require(access.can_take_phone_surveys(viewer))
    try:
        invitation = services.invitation_create_for_purchase(actor=viewer, purchase_id=purchase_id)
    except ValidationFailed as exc:
        messages.error(request, error_text(exc))
        return redirect("feedback:phone")
    return redirect("feedback:phone_entry", pk=invitation.pk)


# ---------------------------------------------------------------------------------------------
# Answers


@login_required
@require_GET
def response_list_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(access.reads_answers(viewer))
    form = PeriodForm(request.GET or None, stores=_stores(viewer))
    start, end = form.period(months_back=2)
    filters = selectors.ResponseFilters(
        kind=form.value("kind") or "",
        store_id=form.value("store"),
        low=request.GET.get("low") == "1",
        audit=None,
        start=start,
        end=measures.month_end(end),
    )
    page = paginate(
        selectors.response_list(viewer, filters),
        page=positive_int(request.GET.get("page")) or 1,
        size=PAGE_SIZE,
        count=False,
    )
    prev_url, next_url = _pager(request, page)
    return render(
        request,
        "feedback/responses.html",
        {
            "form": form,
            "page": page,
            "rows": _response_rows(page.items),
            "prev_url": prev_url,
            "next_url": next_url,
        },
    )


def _response_rows(responses: list[SurveyResponse]) -> list[dict[str, Any]]:
    """Rows of the answers list with their links, date and channel label made once per page (as
    ``_ticket_rows``)."""
    detail_url = _url_pattern("feedback:response_detail")
    customer_url = _url_pattern("customers:detail")
    channels = {value: str(label) for value, label in ResponseChannel.choices}
    return [
        {
            "r": r,
            "url": detail_url(r.pk),
            "customer_url": customer_url(r.customer_id),
            "submitted": f"{timezone.localtime(r.submitted_at):%Y-%m-%d %H:%M}",
            "channel": channels.get(r.channel, r.channel),
        }
        for r in responses
    ]


@login_required
@require_GET
def response_detail_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    response = selectors.response_get(viewer, pk)
    answers = sorted(response.answers.all(), key=lambda a: (a.question.order, a.question_id))
    return render(request, "feedback/response_detail.html", {"r": response, "answers": answers})


# ---------------------------------------------------------------------------------------------
# Measures


def _period_context(request: AuthedRequest) -> tuple[PeriodForm, dt.date, dt.date, str, int | None]:
    form = PeriodForm(request.GET or None, stores=_stores(request.user))
    start, end = form.period()
    return form, start, end, form.survey_kind(), form.value("store")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@login_required
@require_GET
def cvp_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _member(request)
    form, start, end, kind, store_id = _period_context(request)
    month = measures.month_start(
        _month(request.GET.get("month"))
        or measures.add_months(measures.month_start(timezone.localdate()), -1)
    )
    if request.GET.get("format") == "xlsx":
        rows = measures.cvp_award(viewer, month=month, store_id=store_id)
        response = HttpResponse(
            exports.award_xlsx(rows),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="cvp-award-{month:%Y-%m}.xlsx"'
        return response
    error = ""
    try:
        by_rep, by_store, award = measures.cvp_page(
            viewer, start=start, end=end, month=month, kind=kind, store_id=store_id
        )
    except ValidationFailed as exc:
        by_rep, by_store, award, error = [], [], [], error_text(exc)
    span = measures.months(start, end) if not error else []
    table = _pivot(by_rep, span)
    stores = _pivot(by_store, span)
    chart = {
        "labels": [f"{m:%Y-%m}" for m in span],
        "datasets": [
            {"label": r["name"], "data": [None if c is None else round(c * 100, 1) for c in r["cvp"]]}
            for r in stores
        ],
    }
    return render(
        request,
        "feedback/cvp.html",
        {
            "form": form,
            "months": span,
            "table": table,
            "stores": stores,
            "award": award,
            "award_total": sum(r.amount for r in award),
            "month": month,
            "month_value": f"{month:%Y-%m}",
            "xlsx_url": reverse("feedback:cvp")
            + "?"
            + urlencode(
                {"format": "xlsx", "month": f"{month:%Y-%m}", **({"store": store_id} if store_id else {})}
            ),
            "chart": chart,
            "error": error,
            "policy": viewer.organisation.policy.feedback,  # type: ignore[union-attr]
        },
    )


def _month(value: str | None) -> dt.date | None:
    try:
        year, month = (int(p) for p in (value or "").split("-")[:2])
        return dt.date(year, month, 1)
    except ValueError:
        return None


def _pivot(rows: list[measures.CvpRow], span: list[dt.date]) -> list[dict[str, Any]]:
    """Rows of (key, month) → one row per key with a cell per month and the period's total."""
    by_key: dict[Any, dict[str, Any]] = {}
    index = {m: i for i, m in enumerate(span)}
    for r in rows:
        row = by_key.setdefault(
            r.key, {"key": r.key, "name": r.name, "cells": [None] * len(span), "answers": 0, "top": 0}
        )
        row["cells"][index[r.period]] = r
        row["answers"] += r.answers
        row["top"] += r.top
    out = []
    for row in by_key.values():
        row["cvp"] = [c.cvp if c is not None else None for c in row["cells"]]
        row["total"] = row["top"] / row["answers"] if row["answers"] else None
        row["cells_html"] = mark_safe("".join(_cvp_cell(c) for c in row["cells"]))
        out.append(row)
    return out


def _percent(top: int, answers: int) -> str:
    """As ``{% widthratio top answers 100 %}``."""
    return str(round(float(top) / float(answers) * 100)) if answers else "0"


def _cvp_cell(c: measures.CvpRow | None) -> str:
    """One month's cell of the CVP tables, built here instead of a dozen template nodes per cell
    (a 100-rep × 12-month table was ~1,300 cells of template work). Only integers go in."""
    if c is None:
        return '<td><span class="text-body-secondary">—</span></td>'
    a, t = int(c.answers), int(c.top)
    return (
        f'<td><span title="{t} / {a}">{_percent(t, a)}%</span> '
        f'<span class="small text-body-secondary">({a})</span></td>'
    )


@login_required
@require_GET
def quadrant_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(access.can_read_measures(viewer))
    form, start, end, kind, store_id = _period_context(request)
    error = ""
    try:
        result = measures.quadrant_analysis(viewer, start=start, end=end, kind=kind, store_id=store_id)
    except ValidationFailed as exc:
        result, error = measures.QuadrantResult([], 0, 0, ""), error_text(exc)
    labels = {k: _(v) for k, v in QUADRANT_LABELS.items()}
    chart = {
        "points": [
            {"x": p.satisfaction, "y": p.importance, "label": p.label, "quadrant": p.quadrant}
            for p in result.points
        ],
        "imp_cut": result.importance_cut,
        "sat_cut": result.satisfaction_cut,
        "labels": labels,
        "x_title": _("Satisfaction (mean score, 1–5)"),
        "y_title": _("Importance (1–5)"),
    }
    return render(
        request,
        "feedback/quadrants.html",
        {"form": form, "result": result, "labels": labels, "chart": chart, "error": error},
    )


@login_required
@require_GET
def trend_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(access.can_read_measures(viewer))
    form, start, end, kind, store_id = _period_context(request)
    error = ""
    try:
        points = measures.satisfaction_trend(viewer, start=start, end=end, kind=kind, store_id=store_id)
    except ValidationFailed as exc:
        points, error = [], error_text(exc)
    chart = {
        "labels": [f"{p.period:%Y-%m}" for p in points],
        "ratio": [None if p.ratio is None else round(p.ratio, 3) for p in points],
        "cvp": [None if p.cvp is None else round(p.cvp * 100, 1) for p in points],
        "names": {"ratio": _("Perceived ÷ expected"), "cvp": _("CVP (% very satisfied)")},
    }
    return render(
        request, "feedback/trend.html", {"form": form, "points": points, "chart": chart, "error": error}
    )


@login_required
@require_GET
def gaming_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(access.can_read_gaming(viewer))
    form, start, end, kind, _store = _period_context(request)
    error = ""
    try:
        rows = measures.gaming_check(viewer, start=start, end=end, kind=kind)
    except ValidationFailed as exc:
        rows, error = [], error_text(exc)
    return render(
        request,
        "feedback/gaming.html",
        {
            "form": form,
            "rows": rows,
            "flagged": sum(1 for r in rows if r.flagged),
            "error": error,
            "policy": viewer.organisation.policy.feedback,  # type: ignore[union-attr]
        },
    )


# ---------------------------------------------------------------------------------------------
# The customer page


def _card(request: AuthedRequest, customer_id: int, form: Any = None, status: int = 200) -> HttpResponse:
    viewer = request.user
    data = selectors.customer_feedback(viewer, customer_id)
    now = timezone.now()
    return render(
        request,
        "feedback/_customer_card_body.html",
        {
            "f": data,
            "rows": [{"t": t, "clock": _clocks(t, now)} for t in data.tickets],
            "vas_form": form or ValueAddedServiceForm(),
            "can_log": permissions.can_log_activity(viewer),
            "can_phone": access.can_take_phone_surveys(viewer),
        },
        status=status,
    )


@login_required
@require_GET
def customer_card_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    _member(request)
    return _card(request, customer_id)


@login_required
@require_POST
def value_added_add_view(request: AuthedRequest, customer_id: int) -> HttpResponse:
    viewer = request.user
    _member(request)
    form = ValueAddedServiceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            tickets.value_added_service_add(
                actor=viewer,
                customer_id=customer_id,
                kind=data["kind"],
                note=data["note"],
                value=data["value"],
                given_on=data["given_on"],
            )
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        else:
            if _htmx(request):
                return _card(request, customer_id)
            messages.success(request, _("Value-added service recorded."))
            return redirect("customers:detail", pk=customer_id)
    if _htmx(request):
        return _card(request, customer_id, form=form, status=422)
    messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("customers:detail", pk=customer_id)
