"""The surveys every organisation starts with. Seed data, not constants: the owner edits them.

Texts are English msgids marked with ``gettext_noop`` and stored in the site's language when
seeded (Chinese by default), like the contact-plan rules. The sales survey follows the factors of
the SSI (sales satisfaction index) of car makers; the service survey those of the CSI.
Weights are importance on 1–5, used by the importance–satisfaction analysis when no importance
question is asked for the factor.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from .models import OVERALL, QuestionKind, SurveyKind


def _q(factor: str, text: str, kind: str = QuestionKind.SCALE5, weight: int = 3, **kw: Any) -> dict[str, Any]:
    return {"factor": factor, "text": text, "kind": kind, "weight": weight, **kw}


DEFAULT_TEMPLATES: list[dict[str, Any]] = [
    {
        "code": "sales-delivery",
        "kind": SurveyKind.SALES,
        "name": gettext_noop("Sales delivery survey"),
        "intro": gettext_noop(
            "Thank you for buying your car from us. Two minutes of your time help us serve you better."
        ),
        "questions": [
            _q(
                OVERALL,
                gettext_noop("Overall, how satisfied are you with buying your car from us?"),
                weight=5,
            ),
            _q(
                OVERALL,
                gettext_noop("Before you bought, how high were your expectations of our service?"),
                weight=5,
                expectation=True,
            ),
            _q("delivery_process", gettext_noop("The delivery process (handover and paperwork)"), weight=4),
            _q("salesperson", gettext_noop("Your salesperson's courtesy and product knowledge"), weight=5),
            _q("deal_terms", gettext_noop("The fairness of the price and the terms of the deal"), weight=4),
            _q("delivery_time", gettext_noop("Delivery on the promised date"), weight=4),
            _q(
                "vehicle_condition",
                gettext_noop("The condition and cleanliness of the car at delivery"),
                weight=3,
            ),
            _q(
                "features_explained",
                gettext_noop("The explanation of the car's features and controls"),
                weight=2,
            ),
            _q(
                "recommend",
                gettext_noop("How likely are you to recommend us to a friend (0–10)?"),
                QuestionKind.NPS,
                weight=4,
            ),
            _q(
                "comment",
                gettext_noop("Anything else you would like to tell us?"),
                QuestionKind.TEXT,
                required=False,
            ),
        ],
    },
    {
        "code": "service-visit",
        "kind": SurveyKind.SERVICE,
        "name": gettext_noop("Workshop visit survey"),
        "intro": gettext_noop("Thank you for visiting our workshop. How did we do?"),
        "questions": [
            _q(OVERALL, gettext_noop("Overall, how satisfied are you with this workshop visit?"), weight=5),
            _q(
                OVERALL,
                gettext_noop("Before the visit, how high were your expectations of our service?"),
                weight=5,
                expectation=True,
            ),
            _q("reception", gettext_noop("Reception and appointment"), weight=3),
            _q(
                "explanation",
                gettext_noop("The explanation of the work and the price before it started"),
                weight=4,
            ),
            _q(
                "work_quality", gettext_noop("The quality of the work (fixed right the first time)"), weight=5
            ),
            _q("time", gettext_noop("The car was ready when promised"), weight=4),
            _q(
                "time",
                gettext_noop("How important is it to you that the car is ready on time?"),
                QuestionKind.IMPORTANCE,
                weight=4,
            ),
            _q("facility", gettext_noop("The waiting area and the facility"), weight=2),
            _q(
                "recommend",
                gettext_noop("How likely are you to recommend our workshop to a friend (0–10)?"),
                QuestionKind.NPS,
                weight=4,
            ),
            _q(
                "comment",
                gettext_noop("Anything else you would like to tell us?"),
                QuestionKind.TEXT,
                required=False,
            ),
        ],
    },
    {
        "code": "complaint-followup",
        "kind": SurveyKind.COMPLAINT_FOLLOWUP,
        "name": gettext_noop("Complaint follow-up"),
        "intro": gettext_noop(
            "You told us about a problem recently. Were you satisfied with how we handled it?"
        ),
        "questions": [
            _q(OVERALL, gettext_noop("How satisfied are you with how your complaint was handled?"), weight=5),
            _q("speed", gettext_noop("The speed of our response"), weight=4),
            _q("solved", gettext_noop("Was your problem solved?"), QuestionKind.YES_NO, weight=5),
            _q(
                "comment",
                gettext_noop("Anything else you would like to tell us?"),
                QuestionKind.TEXT,
                required=False,
            ),
        ],
    },
]

# Invitation texts, in the site's language when queued.
INVITATION_TEXT = {
    "sale": gettext_noop(
        "%(name)s, thank you for choosing %(store)s. Please rate your car purchase in one minute: %(url)s"
    ),
    "service": gettext_noop(
        "%(name)s, thank you for visiting %(store)s. Please rate your workshop visit in one minute: %(url)s"
    ),
    "ticket": gettext_noop(
        "%(name)s, we hope your concern was settled. Please tell us how we handled it: %(url)s"
    ),
}
INVITATION_SUBJECT = gettext_noop("How did we do?")

# The ticket category a low answer on each default factor points to.
FACTOR_CATEGORY = {
    "delivery_process": "delivery",
    "delivery_time": "delivery",
    "time": "delivery",
    "speed": "delivery",
    "salesperson": "staff",
    "features_explained": "staff",
    "reception": "staff",
    "deal_terms": "price",
    "explanation": "price",
    "vehicle_condition": "product",
    "work_quality": "repair",
    "solved": "repair",
    "facility": "facility",
}
