"""Who may see and do what with surveys and tickets. Every read goes through these scopes.

Stores
    A ticket, an invitation and a response belong to the store on the row — the store that sold or
    serviced and handles the complaint — not to the customer's current store: a customer who moves
    store leaves their old tickets and answers with the store that served them. Every row carries
    one (the services fall back to the customer's store at creation).
Tickets
    Owner: the organisation. Manager: tickets of their store (policy
    ``people.manager_sees_whole_store``), tickets handled by the people of the teams they manage,
    tickets they handle and tickets escalated to them. DCRC: the organisation (they take
    complaints on the phone), or their store by the people policy. After-sales: their store's
    tickets and tickets they handle.
    Rep: tickets they handle and tickets on their own customers — except those a survey opened:
    the rep is the person rated, so who said what stays hidden from them unless the policy
    ``feedback.rep_sees_own_answers`` allows it (they still see the complaint on the timeline).
Survey answers and invitations
    Everyone but reps: by the store on the row, as tickets (a manager's team part: the rows
    crediting their team's people). Reps: none one by one — only
    their CVP, which is an aggregate — unless ``rep_sees_own_answers``.
Roles
    Templates: the owner edits, managers read. Phone surveys: DCRC, managers, the owner and
    after-sales, never about an event they served themselves. Supervisor reply, closing,
    assigning and approving concessions: managers and the owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q

from huitou.accounts import permissions
from huitou.accounts.permissions import AFTERSALES, DCRC, MANAGER, OWNER, REP
from huitou.customers.models import Customer

if TYPE_CHECKING:
    from huitou.accounts.models import User

SUPERVISORS = frozenset({OWNER, MANAGER})
TICKET_WORKERS = frozenset({OWNER, MANAGER, DCRC, AFTERSALES})
PHONE_SURVEYORS = frozenset({OWNER, MANAGER, DCRC, AFTERSALES})
MEASURE_READERS = frozenset({OWNER, MANAGER, DCRC})


def _policy_rep_sees_answers(user: User) -> bool:
    return bool(user.organisation.policy.feedback.rep_sees_own_answers)  # type: ignore[union-attr]


def _manager_team(user: User) -> Any:
    """The people of the teams ``user`` manages, as a subquery (a handful of ids)."""
    from huitou.accounts.models import User as UserModel

    return UserModel.objects.filter(team__manager_id=user.pk).values("pk")


def _row_scope(user: User, *, team: Q | None) -> Q:
    """Q on a feedback row's own ``organisation_id`` and ``store_id`` (the store that sold or
    serviced, or took the complaint) for the store-bound roles: a manager's store (policy
    ``people.manager_sees_whole_store``) and ``team`` (the rows of the teams they manage),
    after-sales their store, a DCRC agent the organisation or their store by the people policy.
    Owners and reps are handled by the callers."""
    org = Q(organisation_id=user.organisation_id)
    policy = user.organisation.policy  # type: ignore[union-attr]
    if user.role == MANAGER:
        q = team if team is not None else permissions.NOTHING
        if policy.people.manager_sees_whole_store and user.store_id:
            q |= Q(store_id=user.store_id)
        return org & q
    if user.role == DCRC:
        if policy.people.dcrc_sees_whole_organisation or not user.store_id:
            return org
        return org & Q(store_id=user.store_id)
    if user.role == AFTERSALES:
        return org & Q(store_id=user.store_id) if user.store_id else permissions.NOTHING
    return permissions.NOTHING


def ticket_scope(user: User) -> Q:
    """Q limiting a Ticket query to what ``user`` may see. A ticket belongs to the store on the
    ticket (the store that sold or serviced and handles the complaint), not to the customer's
    current store: a customer who moves store leaves their old tickets with the store that served
    them. A manager's team part: the tickets handled by the people of the teams they manage
    (the handler is the ticket's person; tickets carry no rep column)."""
    if not permissions.is_active_member(user):
        return permissions.NOTHING
    org = Q(organisation_id=user.organisation_id)
    if user.role == OWNER:
        return org
    mine = Q(owner_id=user.pk)
    if user.role == REP:
        # A rep's customers as a subquery the database hashes once from the (owner, id) index,
        # not a join that looks up the customer of every ticket it walks past (a rep owns 1% of
        # them: 5,000 lookups for a page at 1M, bench/feedback_notes.md). The organisation is
        # checked on the ticket; a rep's customers are of the rep's organisation.
        on_customers = Q(customer_id__in=Customer.objects.filter(owner_id=user.pk).values("pk"))
        if not _policy_rep_sees_answers(user):
            on_customers &= ~Q(channel="survey")
        return org & (mine | on_customers)
    if user.role == MANAGER:
        # The team part on the row too: the tickets the team's people handle. Through the
        # customers (the team's customers, 100,000 ids at 1M) it cost 130 ms a page.
        team = Q(owner_id__in=_manager_team(user))
        return org & (mine | Q(escalated_to_id=user.pk) | _row_scope(user, team=team))
    return org & (mine | _row_scope(user, team=None))


def reads_answers(user: User) -> bool:
    """Whether the user reads single survey answers at all (reps only by policy)."""
    if not permissions.is_active_member(user):
        return False
    return user.role != REP or _policy_rep_sees_answers(user)


def response_scope(user: User, prefix: str = "") -> Q:
    """Q limiting a SurveyResponse (or Answer through ``prefix``) query to single answers the user
    may read. Like tickets, a response belongs to the store on the row (the store that sold or
    serviced); a manager's team part is the responses crediting the team's people (``rep``).
    Reps (by policy only): the answers of their own customers."""
    if not reads_answers(user):
        return permissions.NOTHING
    return _prefixed(_feedback_row_scope(user), prefix)


def invitation_scope(user: User) -> Q:
    """Invitations (whether a survey was sent and answered) follow the store on the row, as
    responses do; a rep sees the invitations of their own customers."""
    if not permissions.is_active_member(user):
        return permissions.NOTHING
    return _feedback_row_scope(user)


def _feedback_row_scope(user: User) -> Q:
    """Scope of an invitation or a response (both carry organisation, store, rep, customer)."""
    if user.role == OWNER:
        return Q(organisation_id=user.organisation_id)
    if user.role == REP:
        return permissions.customer_scope(user, "customer__")
    return _row_scope(user, team=Q(rep_id__in=_manager_team(user)))


def _prefixed(q: Q, prefix: str) -> Q:
    """``q`` with every lookup moved behind ``prefix`` (a Q built on the row, used through a
    relation: ``response__``)."""
    if not prefix:
        return q
    out = Q()
    out.connector, out.negated = q.connector, q.negated
    for child in q.children:
        if isinstance(child, Q):
            out.children.append(_prefixed(child, prefix))
        else:
            key, value = child  # type: ignore[misc]  # a Q's leaves are (lookup, value) pairs
            out.children.append((f"{prefix}{key}", value))
    return out


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
