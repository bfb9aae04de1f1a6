"""The feedback part of a PIPL request (see ``customers.privacy``): what this app holds on a person,
and erasing it. Scores, dates and deadlines stay (they are the store's figures, like the sales
in the archive); every free text the customer or staff wrote about the person is blanked.

The customers app owns the request; its export and erasure call these two functions (the lead
wires them in, see the report)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .models import (
    Answer,
    SupervisorReply,
    SurveyInvitation,
    SurveyResponse,
    Ticket,
    TicketEvent,
    ValueAddedService,
)

ERASED_TEXT = ""


def _rows(qs: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in qs]


def feedback_personal_data(customer_ids: Sequence[int]) -> dict[str, list[dict[str, Any]]]:
    """Everything on the customers ``customer_ids`` (the person and those merged into them)."""
    ids = list(customer_ids)
    responses = SurveyResponse.objects.filter(customer_id__in=ids).order_by("submitted_at", "pk")
    return {
        "survey_invitations": _rows(
            SurveyInvitation.objects.filter(customer_id__in=ids)
            .order_by("event_on", "pk")
            .values("pk", "event", "event_on", "send_on", "status", "answered_at")
        ),
        "survey_responses": _rows(
            responses.values("pk", "kind", "event_on", "channel", "submitted_at", "overall", "comment")
        ),
        "survey_answers": _rows(
            Answer.objects.filter(response__in=responses)
            .order_by("response_id", "question__order")
            .values("response_id", "question__text", "score", "text")
        ),
        "tickets": _rows(
            Ticket.objects.filter(customer_id__in=ids)
            .order_by("received_at", "pk")
            .values(
                "pk", "kind", "channel", "category", "summary", "detail", "status", "received_at", "closed_at"
            )
        ),
        "value_added_services": _rows(
            ValueAddedService.objects.filter(customer_id__in=ids)
            .order_by("given_on", "pk")
            .values("pk", "kind", "value", "note", "given_on")
        ),
    }


def feedback_erase(customer_ids: Sequence[int]) -> None:
    """Blank the free texts about these customers; call inside the erasure's transaction."""
    ids = list(customer_ids)
    tickets = Ticket.objects.filter(customer_id__in=ids)
    responses = SurveyResponse.objects.filter(customer_id__in=ids)
    Answer.objects.filter(response__in=responses).exclude(text="").update(text=ERASED_TEXT)
    responses.exclude(comment="").update(comment=ERASED_TEXT)
    TicketEvent.objects.filter(ticket__in=tickets).exclude(text="").update(text=ERASED_TEXT)
    SupervisorReply.objects.filter(ticket__in=tickets).update(reaction_note=ERASED_TEXT, cause=ERASED_TEXT)
    tickets.update(summary="—", detail=ERASED_TEXT)
    ValueAddedService.objects.filter(customer_id__in=ids).update(note="—")
