"""Pages for working the plan: Today, the calendar and its ICS feed, the visit route, gifts.

Thin: selectors decide what the viewer may see (out of scope → 404 through the service-error
middleware), services do every write, forms put service errors next to their fields.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huitou.core.errors import Conflict, ValidationFailed
from huitou.core.http import AuthedRequest, error_text, positive_int
from huitou.customers import selectors as customer_selectors

from . import ics, selectors, services
from .forms import (
    TASK_KIND_CHOICES,
    GiftForm,
    OutcomeForm,
    ReassignForm,
    RescheduleForm,
    TaskForm,
    add_service_errors,
)
from .models import Task

# The outcome buttons each group offers first; the API accepts any outcome on any task.
_O = Task.Outcome
OUTCOMES_BY_GROUP: dict[str, list[Task.Outcome]] = {
    "call": [_O.REACHED, _O.NO_ANSWER, _O.CALL_BACK, _O.DECLINED],
    "visit": [_O.VISIT_DONE, _O.GIFT_GIVEN, _O.NO_ANSWER, _O.CALL_BACK, _O.DECLINED],
    "wechat": [_O.MESSAGE_SENT, _O.REACHED, _O.CALL_BACK, _O.DECLINED],
    "other": [_O.MESSAGE_SENT, _O.REACHED, _O.DECLINED],
}
_OUTCOME_STYLE: dict[str, str] = {
    _O.REACHED: "success",
    _O.VISIT_DONE: "success",
    _O.MESSAGE_SENT: "success",
    _O.GIFT_GIVEN: "warning",
    _O.NO_ANSWER: "secondary",
    _O.CALL_BACK: "primary",
    _O.DECLINED: "danger",
}


def _day(value: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        return timezone.localdate()


def _outcome_buttons(group: str) -> list[dict[str, str]]:
    labels = dict(Task.Outcome.choices)
    return [
        {"value": o, "label": str(labels[o]), "style": _OUTCOME_STYLE.get(o, "secondary")}
        for o in OUTCOMES_BY_GROUP.get(group, OUTCOMES_BY_GROUP["other"])
    ]


def _row_context(request: AuthedRequest, row: Any, *, day: dt.date, user_id: int | None) -> dict[str, Any]:
    group = selectors.group_of(row.task.kind)
    return {
        "r": row,
        "outcomes": _outcome_buttons(group),
        "gifts": selectors.gifts_list(request.user, active_only=True),
        "task_kinds": TASK_KIND_CHOICES,
        "day": day,
        "plan_user_id": user_id or "",
        "today": timezone.localdate(),
        "people": selectors.plan_people(request.user),
    }


def _plan_query(day: dt.date, user_id: int | None, **more: Any) -> str:
    params: dict[str, Any] = {}
    if day != timezone.localdate():
        params["day"] = day.isoformat()
    if user_id:
        params["user"] = user_id
    params.update({k: v for k, v in more.items() if v})
    return ("?" + urlencode(params)) if params else ""


# ---------------------------------------------------------------- Today


@login_required
@require_GET
def today_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    day = _day(request.GET.get("day"))
    user_id = positive_int(request.GET.get("user"))
    page_number = positive_int(request.GET.get("page")) or 1
    plan = selectors.today_tasks(viewer, day=day, user_id=user_id, page=page_number)
    shown_user_id = plan.user.pk if plan.user.pk != viewer.pk else None
    groups = [
        {
            "key": g.key,
            "label": g.label,
            "count": g.count,
            "rows": g.rows,
            "outcomes": _outcome_buttons(g.key),
        }
        for g in plan.groups
    ]
    base = reverse("followups:today")
    context = {
        "plan": plan,
        "groups": groups,
        "gifts": selectors.gifts_list(viewer, active_only=True),
        "escalated": selectors.escalated_to_me(viewer, today=timezone.localdate()),
        "people": selectors.plan_people(viewer),
        "task_kinds": TASK_KIND_CHOICES,
        "day": day,
        "today": timezone.localdate(),
        "plan_user_id": shown_user_id or "",
        "keep": [("day", day.isoformat())] if day != timezone.localdate() else [],
        "prev_url": base + _plan_query(day, shown_user_id, page=page_number - 1) if page_number > 1 else "",
        "next_url": base + _plan_query(day, shown_user_id, page=page_number + 1)
        if plan.page.has_next
        else "",
        "calendar_url": reverse("followups:calendar") + _plan_query(timezone.localdate(), shown_user_id),
        "route_url": reverse("followups:route") + _plan_query(day, shown_user_id),
    }
    return render(request, "followups/today.html", context)


def _counts_oob(request: AuthedRequest, day: dt.date, user_id: int | None) -> str:
    counts = selectors.today_counts(request.user, day=day, user_id=user_id)
    return render(
        request, "followups/_counts_oob.html", {"counts": counts, "total": sum(counts.values())}
    ).content.decode()


@login_required
@require_POST
def task_outcome_view(request: AuthedRequest, pk: int) -> HttpResponse:
    day = _day(request.POST.get("day"))
    user_id = positive_int(request.POST.get("user"))
    form = OutcomeForm(request.POST)
    htmx = bool(getattr(request, "htmx", False))
    if form.is_valid():
        data = form.cleaned_data
        try:
            task = services.task_complete(
                actor=request.user,
                task_id=pk,
                outcome=data["outcome"],
                note=data["note"],
                gift_id=data["gift_id"],
                callback_at=data["callback_at"],
                next_kind=data["next_kind"] or None,
                next_due_on=data["next_due_on"],
                next_title=data["next_title"],
                version=data["version"],
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        except Conflict:
            form.add_error(None, _("This task was already done or changed by someone else."))
        else:
            if not htmx:
                messages.success(request, _("Outcome recorded."))
                return redirect(reverse("followups:today") + _plan_query(day, user_id))
            row = selectors.today_row(request.user, task.pk, day=day)
            context = _row_context(request, row, day=day, user_id=user_id)
            context["follow_ups"] = selectors.task_follow_ups(request.user, task.pk)
            html = render(request, "followups/_task_row.html", context).content.decode()
            return HttpResponse(html + _counts_oob(request, day, user_id))
    if not htmx:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(reverse("followups:today") + _plan_query(day, user_id))
    row = selectors.today_row(request.user, pk, day=day)
    context = _row_context(request, row, day=day, user_id=user_id)
    context.update(form=form, open_more=True)
    # 200, not 422: htmx swaps only successful responses, and the row must show its errors.
    return render(request, "followups/_task_row.html", context)


@login_required
@require_GET
def gift_warning_view(request: AuthedRequest) -> HttpResponse:
    customer_id = positive_int(request.GET.get("customer"))
    gift_id = positive_int(request.GET.get("gift_id"))
    warning = None
    if customer_id and gift_id:
        warning = services.gift_repeat_warning(actor=request.user, customer_id=customer_id, gift_id=gift_id)
    return render(request, "followups/_gift_warning.html", {"warning": warning})


def _move_task(
    request: AuthedRequest, pk: int, form: forms.Form, act: Callable[[dict[str, Any]], object], done: str
) -> HttpResponse:
    """Reschedule and reassign share one flow: run the service, then redraw the row (htmx) or
    go back to Today with a message."""
    day = _day(request.POST.get("day"))
    user_id = positive_int(request.POST.get("user"))
    error = ""
    if form.is_valid():
        try:
            act(form.cleaned_data)
        except ValidationFailed as exc:
            error = error_text(exc)
        except Conflict:
            error = _("This task was already done or changed by someone else.")
    else:
        error = "; ".join(str(e) for es in form.errors.values() for e in es)
    if not getattr(request, "htmx", False):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, done)
        return redirect(reverse("followups:today") + _plan_query(day, user_id))
    row = selectors.today_row(request.user, pk, day=day)
    context = _row_context(request, row, day=day, user_id=user_id)
    context.update(move_error=error, moved=not error)
    html = render(request, "followups/_task_row.html", context).content.decode()
    return HttpResponse(html + _counts_oob(request, day, user_id))


@login_required
@require_POST
def task_reschedule_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _move_task(
        request,
        pk,
        RescheduleForm(request.POST),
        lambda data: services.task_reschedule(
            actor=request.user,
            task_id=pk,
            due_on=data["due_on"],
            due_at=data["due_at"],
            version=data["version"],
        ),
        _("Task moved."),
    )


@login_required
@require_POST
def task_reassign_view(request: AuthedRequest, pk: int) -> HttpResponse:
    return _move_task(
        request,
        pk,
        ReassignForm(request.POST),
        lambda data: services.task_reassign(
            actor=request.user, task_id=pk, assignee_id=data["assignee_id"], version=data["version"]
        ),
        _("Task reassigned."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def task_create_view(request: AuthedRequest) -> HttpResponse:
    customer_id = positive_int(request.GET.get("customer") or request.POST.get("customer"))
    if customer_id is None:
        raise Http404
    customer = customer_selectors.customer_get(request.user, customer_id)
    people = selectors.plan_people(request.user)
    form = TaskForm(request.POST or None, people=people, initial={"due_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.task_create(
                actor=request.user,
                customer_id=customer.pk,
                kind=data["kind"],
                title=data["title"],
                due_on=data["due_on"],
                due_at=data["due_at"],
                script=data["script"],
                purpose=data["purpose"],
                assignee_id=data.get("assignee_id"),
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Task planned."))
            return redirect(reverse("customers:detail", args=[customer.pk]))
    status = 422 if request.method == "POST" else 200
    return render(request, "followups/task_form.html", {"form": form, "customer": customer}, status=status)


@login_required
@require_GET
def customer_plan_view(request: AuthedRequest, pk: int) -> HttpResponse:
    """The block on the customer page (loaded by htmx, so the 360 page costs nothing more)."""
    plan = selectors.customer_plan(request.user, pk)
    return render(request, "followups/_customer_plan_body.html", {"plan": plan})


# ---------------------------------------------------------------- calendar and ICS


def _month(value: str | None) -> tuple[int, int]:
    today = timezone.localdate()
    try:
        year, month = (int(p) for p in (value or "").split("-"))
    except ValueError:
        return today.year, today.month
    if not 1 <= month <= 12 or not 1900 <= year <= 9999:
        return today.year, today.month
    return year, month


@login_required
@require_GET
def calendar_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    year, month = _month(request.GET.get("month"))
    user_id = positive_int(request.GET.get("user"))
    plan = selectors.tasks_month(viewer, year=year, month=month, user_id=user_id)
    shown_user_id = plan.user.pk if plan.user.pk != viewer.pk else None
    base = reverse("followups:calendar")
    ics_url = request.build_absolute_uri(reverse("followups:ics", args=[ics.ics_token(viewer)]))
    context = {
        "plan": plan,
        "people": selectors.plan_people(viewer),
        "plan_user_id": shown_user_id or "",
        "prev_url": base
        + "?"
        + urlencode({"month": plan.previous.strftime("%Y-%m"), **_user(shown_user_id)}),
        "next_url": base + "?" + urlencode({"month": plan.next.strftime("%Y-%m"), **_user(shown_user_id)}),
        "today_url": reverse("followups:today"),
        "keep": [("month", plan.first.strftime("%Y-%m"))],
        "user_query": urlencode(_user(shown_user_id)),
        "ics_url": ics_url if shown_user_id is None else "",
        "weekdays": [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
    }
    return render(request, "followups/calendar.html", context)


def _user(user_id: int | None) -> dict[str, int]:
    return {"user": user_id} if user_id else {}


@require_GET
def ics_feed_view(request: Any, token: str) -> HttpResponse:
    user = ics.ics_user(token)
    if user is None:
        raise Http404
    response = HttpResponse(ics.ics_feed(user), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="huitou-plan.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response


# ---------------------------------------------------------------- gifts


@login_required
@require_http_methods(["GET", "POST"])
def gifts_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    can_edit = viewer.role in services.PLAN_MANAGERS
    form = GiftForm(request.POST or None) if can_edit else None
    if request.method == "POST":
        if form is None:
            raise DjangoPermissionDenied
        if form.is_valid():
            try:
                services.gift_create(
                    actor=viewer,
                    name=form.cleaned_data["name"],
                    value=form.cleaned_data["value"] or Decimal("0"),
                    note=form.cleaned_data["note"],
                )
            except ValidationFailed as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Gift added."))
                return redirect("followups:gifts")
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "followups/gifts.html",
        {"gifts": selectors.gifts_list(viewer), "form": form, "can_edit": can_edit},
        status=status,
    )


@login_required
@require_POST
def gift_active_view(request: AuthedRequest, pk: int) -> HttpResponse:
    active = request.POST.get("active") == "1"
    services.gift_update(actor=request.user, gift_id=pk, active=active)
    messages.success(request, _("Gift offered again.") if active else _("Gift no longer offered."))
    return redirect("followups:gifts")


# ---------------------------------------------------------------- visit route


def _coordinate(value: str | None, limit: float) -> float | None:
    try:
        number = float(value or "")
    except ValueError:
        return None
    return number if -limit <= number <= limit else None


@login_required
@require_GET
def route_view(request: AuthedRequest) -> HttpResponse:
    viewer = request.user
    day = _day(request.GET.get("day"))
    user_id = positive_int(request.GET.get("user"))
    lat = _coordinate(request.GET.get("start_lat"), 90)
    lng = _coordinate(request.GET.get("start_lng"), 180)
    start = (lat, lng) if lat is not None and lng is not None else None
    route = selectors.visit_route(viewer, day=day, user_id=user_id, start=start)
    shown_user_id = route.user.pk if route.user.pk != viewer.pk else None
    points = [
        {"x": s.longitude, "y": s.latitude, "n": str(s.seq), "label": f"{s.seq}. {s.customer_name}"}
        for s in route.stops
    ]
    if start is not None and route.stops:
        points.insert(0, {"x": start[1], "y": start[0], "n": "★", "label": _("Start")})
    context = {
        "route": route,
        "people": selectors.plan_people(viewer),
        "plan_user_id": shown_user_id or "",
        "day": day,
        "keep": [("day", day.isoformat())],
        "chart": {"points": points, "label": _("Route")},
        "start_lat": "" if lat is None else lat,
        "start_lng": "" if lng is None else lng,
        "legs": [(s, round(s.leg_m / 1000, 1)) for s in route.stops],
    }
    return render(request, "followups/route.html", context)
