"""Who may see and do what with surveys and tickets. Every read goes through these scopes.

Tickets
    Owner: the organisation. Manager: tickets on customers in their scope, tickets they handle and
    tickets escalated to them. DCRC: the organisation (they take complaints on the phone), or
    their store by the people policy. After-sales: their store's customers and tickets they handle.
    Rep: tickets they handle and tickets on their own customers — except those a survey opened:
    the rep is the person rated, so who said what stays hidden from them unless the policy
    ``feedback.rep_sees_own_answers`` allows it (they still see the complaint on the timeline).
Survey answers
    Everyone but reps: the answers of customers in their scope. Reps: none one by one — only
    their CVP, which is an aggregate — unless ``rep_sees_own_answers``.
Roles
    Templates: the owner edits, managers read. Phone surveys: DCRC, managers, the owner and
    after-sales, never about an event they served themselves. Supervisor reply, closing,
    assigning and approving concessions: managers and the owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q

from huitou.accounts import permissions
from huitou.accounts.permissions import AFTERSALES, DCRC, MANAGER, OWNER, REP

if TYPE_CHECKING:
    from huitou.accounts.models import User

SUPERVISORS = frozenset({OWNER, MANAGER})
TICKET_WORKERS = frozenset({OWNER, MANAGER, DCRC, AFTERSALES})
PHONE_SURVEYORS = frozenset({OWNER, MANAGER, DCRC, AFTERSALES})
MEASURE_READERS = frozenset({OWNER, MANAGER, DCRC})


def _policy_rep_sees_answers(user: User) -> bool:
    return bool(user.organisation.policy.feedback.rep_sees_own_answers)  # type: ignore[union-attr]


def ticket_scope(user: User) -> Q:
    """Q limiting a Ticket query to what ``user`` may see."""
    if not permissions.is_active_member(user):
        return permissions.NOTHING
    org = Q(organisation_id=user.organisation_id)
    if user.role == OWNER:
        return org
    on_customers = permissions.customer_scope(user, "customer__")
    mine = Q(owner_id=user.pk)
    if user.role == REP:
        if not _policy_rep_sees_answers(user):
            on_customers &= ~Q(channel="survey")
        return org & (mine | on_customers)
    if user.role == MANAGER:
        return org & (mine | on_customers | Q(escalated_to_id=user.pk))
    return org & (mine | on_customers)


def reads_answers(user: User) -> bool:
    """Whether the user reads single survey answers at all (reps only by policy)."""
    if not permissions.is_active_member(user):
        return False
    return user.role != REP or _policy_rep_sees_answers(user)


def response_scope(user: User, prefix: str = "") -> Q:
    """Q limiting a SurveyResponse (or Answer through ``prefix``) query to single answers the user
    may read."""
    if not reads_answers(user):
        return permissions.NOTHING
    return permissions.customer_scope(user, f"{prefix}customer__")


def invitation_scope(user: User) -> Q:
    """Invitations (whether a survey was sent and answered) follow the customer scope."""
    return permissions.customer_scope(user, "customer__")


def can_edit_templates(user: User) -> bool:
    return permissions.is_active_member(user) and user.role == OWNER


def can_read_templates(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in SUPERVISORS


def can_take_phone_surveys(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in PHONE_SURVEYORS


def can_supervise(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in SUPERVISORS


def can_read_measures(user: User) -> bool:
    """Quadrants and trends: store-level aggregates for the people who act on them."""
    return permissions.is_active_member(user) and user.role in MEASURE_READERS


def can_read_gaming(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in SUPERVISORS


def can_open_ticket(user: User) -> bool:
    return permissions.is_active_member(user)
