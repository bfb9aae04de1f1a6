"""The customer's survey form, opened from the link in an SMS or e-mail (no login: the signed
token is the key). Mobile first; works without JavaScript (the reason field is then always shown)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from huitou.core.errors import Conflict, ValidationFailed

from . import services
from .forms import answers_from_post, survey_rows
from .models import QuestionKind, SurveyInvitation

STATUS_BY_STATE = {"invalid": 404, "expired": 410, "cancelled": 410, "answered": 200}


def _low_max(invitation: SurveyInvitation) -> dict[str, int]:
    policy = invitation.organisation.policy.feedback
    return {
        QuestionKind.SCALE5: policy.low_scale_max,
        QuestionKind.NPS: policy.low_nps_max,
        QuestionKind.YES_NO: 0 if policy.low_yes_no else -1,
    }


def _context(invitation: SurveyInvitation, data: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    questions = services.active_questions(invitation.template)
    store = invitation.store.name if invitation.store is not None else invitation.organisation.name
    return {
        "invitation": invitation,
        "template": invitation.template,
        "store": store,
        "name": invitation.customer.name,
        "rows": survey_rows(questions, data, errors, _low_max(invitation)),
    }


@require_http_methods(["GET", "POST"])
def survey_view(request: HttpRequest, token: str) -> HttpResponse:
    link = services.survey_link(token)
    if link.state != "ok" or link.invitation is None:
        return render(
            request,
            "feedback/public/closed.html",
            {"state": link.state},
            status=STATUS_BY_STATE.get(link.state, 404),
        )
    invitation = link.invitation
    if request.method == "POST":
        questions = services.active_questions(invitation.template)
        try:
            response = services.response_submit(
                token=token, answers=answers_from_post(questions, request.POST)
            )
        except Conflict:
            return render(request, "feedback/public/closed.html", {"state": "answered"})
        except ValidationFailed as exc:
            if "token" in exc.errors:
                return render(request, "feedback/public/closed.html", {"state": "expired"}, status=410)
            context = _context(invitation, request.POST, exc.errors)
            context["has_errors"] = True
            return render(request, "feedback/public/survey.html", context, status=422)
        return render(
            request,
            "feedback/public/thanks.html",
            {"low": response.low, "store": _context(invitation, {}, {})["store"]},
        )
    return render(request, "feedback/public/survey.html", _context(invitation, None, {}))
