"""Pages that manage the contact plan: rules, compliance, request clocks, absences, product notices.

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
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huitou.accounts import permissions
from huitou.core.errors import Conflict, NotFound, ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.core.http import is_htmx as _htmx
from huitou.core.http import pager_links as _pager
from huitou.core.http import require as _require
from huitou.core.pagination import paginate

from . import compliance, plan_admin, requests, rules
from .forms_manage import (
    AbsenceForm,
    NoticeForm,
    PeriodForm,
    PreviewForm,
    ReplyForm,
    RequestForm,
    RuleForm,
)
from .models import Channel, CustomerRequest, ProductNotice, Task

PAGE_SIZE = 50


def _labels() -> dict[str, str]:
    return {
        "on_time": _("Done on time"),
        "late": _("Done late"),
        "missed": _("Missed"),
        "open_overdue": _("Open, overdue"),
        "open_upcoming": _("Open, not yet due"),
    }


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Rules


@login_required
@require_GET
def rules_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(rules.can_read_rules(viewer))
    groups = rules.rules_grouped(viewer)
    return render(
        request,
        "followups/manage/rules.html",
        {"groups": groups, "can_edit": rules.can_edit_rules(viewer), "count": sum(len(g[2]) for g in groups)},
    )


@login_required
@require_POST
def rule_active_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    rule = rules.rule_get(viewer, pk)  # 404 outside the organisation, 403 for a rep
    _require(rules.can_edit_rules(viewer))
    active = request.POST.get("active") in {"1", "true", "on"}
    error = ""
    try:
        rule = rules.rule_set_active(
            actor=viewer, rule_id=rule.pk, active=active, version=positive_int(request.POST.get("version"))
        )
    except Conflict:
        rule = rules.rule_get(viewer, pk)
        error = _("This rule was changed by someone else; it is shown as it is now.")
    if _htmx(request):
        return render(
            request, "followups/manage/_rule_row.html", {"rule": rule, "can_edit": True, "error": error}
        )
    if error:
        messages.error(request, error)
    return redirect("followups:rules")


@login_required
@require_http_methods(["GET", "POST"])
def rule_create_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(rules.can_edit_rules(viewer))
    form = RuleForm(request.POST or None, viewer=viewer)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                rule = rules.rule_create(actor=viewer, data=form.service_data())
            except ValidationFailed as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, _("Rule “%(name)s” created.") % {"name": rule.name})
                return redirect("followups:rule_edit", pk=rule.pk)
        status = 422
    return render(
        request,
        "followups/manage/rule_form.html",
        {"form": form, "rule": None, "can_edit": True, "preview": _preview_for(viewer, form)},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    rule = rules.rule_get(viewer, pk)
    can_edit = rules.can_edit_rules(viewer)
    if request.method == "POST":
        _require(can_edit)
    form = RuleForm(request.POST or None, viewer=viewer, instance=rule)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                rule = rules.rule_update(
                    actor=viewer,
                    rule_id=rule.pk,
                    data=form.service_data(),
                    version=form.cleaned_data.get("version") or 0,
                )
            except ValidationFailed as exc:
                form.add_service_errors(exc)
            except Conflict:
                form.add_error(
                    None,
                    _(
                        "Someone else changed this rule after you opened it. Reload the page to see "
                        "their changes, then make yours again."
                    ),
                )
                status = 409
            else:
                messages.success(request, _("Rule “%(name)s” saved.") % {"name": rule.name})
                return redirect("followups:rule_edit", pk=rule.pk)
        status = status if status != 200 else 422
    return render(
        request,
        "followups/manage/rule_form.html",
        {"form": form, "rule": rule, "can_edit": can_edit, "preview": _preview_for(viewer, form, rule)},
        status=status,
    )


def _preview_for(viewer: Any, form: RuleForm, rule: Any = None) -> dict[str, Any]:
    if form.is_bound:
        template = form.data.get("template", "")
        festival = form.data.get("param_festival", "")
    else:
        template = rule.template if rule is not None else ""
        festival = (rule.params or {}).get("festival", "") if rule is not None else ""
    return rules.rule_preview(viewer, template=template, params={"festival": festival} if festival else None)


@login_required
@require_GET
def rule_preview_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(rules.can_read_rules(viewer))
    form = PreviewForm(request.GET)
    form.is_valid()
    data = form.cleaned_data
    festival = data.get("param_festival") or ""
    try:
        preview = rules.rule_preview(
            viewer,
            template=data.get("template") or "",
            params={"festival": festival} if festival else None,
            customer_id=data.get("sample_customer"),
        )
    except NotFound:
        preview = rules.rule_preview(viewer, template=data.get("template") or "")
        preview["problems"].append("sample customer not found")
    return render(request, "followups/manage/_preview.html", {"preview": preview})


# ---------------------------------------------------------------------------------------------
# Compliance


@login_required
@require_GET
def compliance_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    form = PeriodForm(request.GET or None, viewer=viewer)
    start, end = form.period()
    store_id, team_id = form.value("store"), form.value("team")
    error = ""
    try:
        rows = compliance.plan_compliance(viewer, start=start, end=end, store_id=store_id, team_id=team_id)
    except ValidationFailed as exc:
        rows, error = [], error_text(exc)
    labels = _labels()
    base = {"start": start.isoformat(), "end": end.isoformat()}
    if store_id:
        base["store"] = str(store_id)
    if team_id:
        base["team"] = str(team_id)
    tasks_url = reverse("followups:task_report")
    table = []
    for row in rows:
        cells = [
            (
                state,
                row.count(state),
                tasks_url + "?" + urlencode({**base, "assignee": row.user_id, "state": state}),
            )
            for state in compliance.STATES
        ]
        table.append(
            {
                "row": row,
                "cells": cells,
                "rate": None if row.on_time_rate is None else round(row.on_time_rate * 100),
                "all_url": tasks_url + "?" + urlencode({**base, "assignee": row.user_id}),
            }
        )
    totals = [sum(r.count(state) for r in rows) for state in compliance.STATES]
    chart = {
        "labels": [r.name for r in rows],
        "datasets": [
            {"key": s, "label": labels[s], "data": [r.count(s) for r in rows]} for s in compliance.STATES
        ],
    }
    return render(
        request,
        "followups/manage/compliance.html",
        {
            "form": form,
            "start": start,
            "end": end,
            "table": table,
            "totals": totals,
            "states": [(s, labels[s]) for s in compliance.STATES],
            "chart": chart,
            "chart_height": 80 + 34 * len(rows),
            "error": error,
            "missed_after_days": viewer.organisation.policy.contact.missed_after_days,  # type: ignore[union-attr]
        },
    )


@login_required
@require_GET
def task_report_view(request: AuthedRequest) -> HttpResponse:
    """The tasks behind a number of the compliance page."""
    viewer = request.user
    _require(permissions.is_active_member(viewer))
    params = request.GET
    first, last = compliance.this_month()
    start = _date(params.get("start")) or first
    end = _date(params.get("end")) or last
    state = params.get("state", "")
    if state not in compliance.STATES:
        state = ""
    assignee_id = positive_int(params.get("assignee"))
    error = ""
    try:
        qs = compliance.compliance_tasks(
            viewer,
            start=start,
            end=end,
            assignee_id=assignee_id,
            state=state,
            store_id=positive_int(params.get("store")),
            team_id=positive_int(params.get("team")),
        )
    except ValidationFailed as exc:
        qs, error = Task.objects.none(), error_text(exc)
    page = paginate(
        qs.values(
            "id",
            "title",
            "kind",
            "due_on",
            "status",
            "completed_at",
            "customer_id",
            "customer__name",
            "assignee__username",
            "assignee__display_name",
        ),
        page=positive_int(params.get("page")) or 1,
        size=PAGE_SIZE,
    )
    kinds = dict(Channel.choices)
    statuses = dict(Task.Status.choices)
    detail = reverse("customers:detail", args=[0])[: -len("0/")]
    rows = []
    for r in page.items:
        rows.append(
            {
                **r,
                "kind_label": kinds.get(r["kind"], r["kind"]),
                "status_label": statuses.get(r["status"], r["status"]),
                "assignee": r["assignee__display_name"] or r["assignee__username"] or "",
                "customer_url": f"{detail}{r['customer_id']}/",
            }
        )
    prev_url, next_url = _pager(request, page)
    assignee = None
    if assignee_id is not None:
        assignee = compliance.people_in_scope(viewer).filter(pk=assignee_id).first()
    back = (
        reverse("followups:compliance")
        + "?"
        + urlencode({k: v for k, v in params.items() if k in {"start", "end", "store", "team"} and v})
    )
    return render(
        request,
        "followups/manage/tasks.html",
        {
            "rows": rows,
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "start": start,
            "end": end,
            "state": state,
            "state_label": _labels().get(state, ""),
            "assignee": assignee,
            "error": error,
            "back": back,
        },
    )


# ---------------------------------------------------------------------------------------------
# Requests and their clocks


def _request_rows(items: list[CustomerRequest], viewer: Any, now: dt.datetime) -> list[dict[str, Any]]:
    full = permissions.sees_full_phone(viewer)
    out = []
    for r in items:
        out.append(
            {
                "r": r,
                "phone": permissions.phone_for(viewer, r.customer.phone, full=full)
                if r.customer.phone
                else "",
                "overdue": r.first_reply_at is None and r.reply_due_at < now,
                "breached": (r.first_reply_at is not None and r.first_reply_at > r.reply_due_at)
                or (r.first_reply_at is None and r.reply_due_at < now),
            }
        )
    return out


def _clock_texts() -> dict[str, str]:
    return {
        "left": _("%(time)s left"),
        "over": _("%(time)s overdue"),
        "h": pgettext("clock", "h"),
        "m": pgettext("clock", "min"),
        "d": pgettext("clock", "d"),
    }


@login_required
@require_GET
def requests_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(requests.can_log_request(viewer))
    return _render_requests(request, RequestForm(initial={"channel": Channel.CALL}))


def _render_requests(request: AuthedRequest, form: RequestForm, status: int = 200) -> HttpResponse:
    viewer = request.user
    mine = request.GET.get("mine") == "1"
    qs = requests.request_open_list(viewer, owner_id=viewer.pk if mine else None)
    page = paginate(qs, page=positive_int(request.GET.get("page")) or 1, size=PAGE_SIZE)
    now = timezone.now()
    prev_url, next_url = _pager(request, page)
    return render(
        request,
        "followups/manage/requests.html",
        {
            "form": form,
            "rows": _request_rows(page.items, viewer, now),
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "mine": mine,
            "now": now,
            "clock_texts": _clock_texts(),
            "cutoff": viewer.organisation.policy.contact.request_reply_cutoff,  # type: ignore[union-attr]
        },
        status=status,
    )


def _safe_next(request: AuthedRequest, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return ""


@login_required
@require_POST
def request_log_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(requests.can_log_request(viewer))
    form = RequestForm(request.POST)
    back = _safe_next(request, request.POST.get("next", ""))
    if form.is_valid():
        data = form.cleaned_data
        try:
            item = requests.request_log(
                actor=viewer,
                customer_id=data["customer_id"],
                summary=data["summary"],
                channel=data["channel"],
                received_at=data.get("received_at"),
            )
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        except NotFound:
            form.add_error("customer_id", _("No such customer within your reach."))
        else:
            due = timezone.localtime(item.reply_due_at)
            messages.success(
                request,
                _("Request logged; reply due by %(due)s.") % {"due": due.strftime("%Y-%m-%d %H:%M")},
            )
            return redirect(back or reverse("followups:requests"))
    if back:
        # The small form on another page (the customer's): tell what was wrong there.
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else str(error))
        return redirect(back)
    return _render_requests(request, form, status=422)


def _reply(request: AuthedRequest, pk: int, action: str) -> HttpResponse:
    viewer = request.user
    form = ReplyForm(request.POST)
    note = form.cleaned_data.get("note", "") if form.is_valid() else ""
    error = ""
    try:
        if action == "ack":
            requests.request_acknowledge(actor=viewer, request_id=pk, note=note)
        else:
            requests.request_answer(actor=viewer, request_id=pk, note=note)
    except ValidationFailed as exc:
        error = error_text(exc)
    item = requests.request_get(viewer, pk)
    if _htmx(request):
        row = _request_rows([item], viewer, timezone.now())[0]
        return render(request, "followups/manage/_request_row.html", {"row": row, "error": error})
    if error:
        messages.error(request, error)
    elif action == "ack":
        messages.success(request, _("Marked as being handled; the customer has been told."))
    else:
        messages.success(request, _("Marked as answered."))
    return redirect("followups:requests")


@login_required
@require_POST
def request_ack_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _reply(request, pk, "ack")


@login_required
@require_POST
def request_answer_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _reply(request, pk, "answer")


@login_required
@require_GET
def request_customers_view(request: AuthedRequest) -> HttpResponse:
    """Customer picker of the request form: up to 10 matches of what was typed."""
    from huitou.customers import selectors as customer_selectors

    viewer = request.user
    _require(requests.can_log_request(viewer))
    q = request.GET.get("q", "").strip()[:64]
    found = customer_selectors.customer_pick(viewer, q)
    return render(request, "followups/manage/_customer_options.html", {"found": found, "q": q})


@login_required
@require_GET
def request_report_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(requests.can_log_request(viewer))
    params = request.GET
    today = timezone.localdate()
    start = _date(params.get("start")) or today.replace(day=1)
    end = _date(params.get("end")) or today
    owner_id = positive_int(params.get("owner"))
    error = ""
    try:
        summary = requests.request_breaches(viewer, start=start, end=end)
        qs = requests.request_breach_list(viewer, start=start, end=end, owner_id=owner_id)
    except ValidationFailed as exc:
        summary, qs = [], CustomerRequest.objects.none()
        error = error_text(exc)
    page = paginate(qs, page=positive_int(params.get("page")) or 1, size=PAGE_SIZE)
    prev_url, next_url = _pager(request, page)
    base = (
        reverse("followups:request_report")
        + "?"
        + urlencode({"start": start.isoformat(), "end": end.isoformat()})
    )
    return render(
        request,
        "followups/manage/request_report.html",
        {
            "summary": summary,
            "rows": _request_rows(page.items, viewer, timezone.now()),
            "page": page,
            "prev_url": prev_url,
            "next_url": next_url,
            "start": start,
            "end": end,
            "owner_id": owner_id,
            "base": base,
            "error": error,
        },
    )


# ---------------------------------------------------------------------------------------------
# Absences


@login_required
@require_http_methods(["GET", "POST"])
def absences_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(plan_admin.can_manage_plan(viewer))
    form = AbsenceForm(request.POST or None, viewer=viewer)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                absence = plan_admin.absence_create(
                    actor=viewer,
                    user_id=data["user"],
                    starts_on=data["starts_on"],
                    ends_on=data["ends_on"],
                    delegate_id=data.get("delegate"),
                    reason=data.get("reason", ""),
                )
            except ValidationFailed as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, _("Absence of %(name)s recorded.") % {"name": absence.user.label})
                return redirect("followups:absences")
        status = 422
    absences = list(plan_admin.absence_list(viewer)[:500])
    today = timezone.localdate()
    return render(
        request,
        "followups/manage/absences.html",
        {"form": form, "absences": absences, "today": today},
        status=status,
    )


@login_required
@require_POST
def absence_delete_view(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    _require(plan_admin.can_manage_plan(viewer))
    plan_admin.absence_delete(actor=viewer, absence_id=pk)
    messages.success(request, _("Absence removed."))
    return redirect("followups:absences")


# ---------------------------------------------------------------------------------------------
# Product notices


@login_required
@require_http_methods(["GET", "POST"])
def notices_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    _require(plan_admin.can_manage_plan(viewer))
    form = NoticeForm(request.POST or None, viewer=viewer)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                plan_admin.notice_create(
                    actor=viewer,
                    product_id=data["product"],
                    kind=data["kind"],
                    title=data["title"],
                    body=data.get("body", ""),
                    effective_on=data["effective_on"],
                )
            except ValidationFailed as exc:
                form.add_service_errors(exc)
            else:
                messages.success(
                    request, _("Product notice saved; the daily plan will send it to every owner.")
                )
                return redirect("followups:notices")
        status = 422
    kinds = dict(ProductNotice.Kind.choices)
    notices = [{"n": n, "kind_label": kinds.get(n.kind, n.kind)} for n in plan_admin.notice_list(viewer)]
    return render(request, "followups/manage/notices.html", {"form": form, "notices": notices}, status=status)
