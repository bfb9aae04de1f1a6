"""The permission layer. Every read of customer data filters through ``customer_scope``.

Scope by role (DOMAIN §9):
- owner: the whole organisation;
- manager: their store's customers (policy ``people.manager_sees_whole_store``) and those owned by
  members of the teams they manage;
- rep: the customers they own;
- DCRC agent: the organisation (or their store, by policy), to phone and audit; no confidential notes;
- after-sales: their store's customers.
Users without an organisation, or who have left, see nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q

from huitou.core.phones import display_phone, mask_phone

if TYPE_CHECKING:
    from huitou.accounts.models import User
    from huitou.customers.models import Customer

NOTHING = Q(pk__in=[])

OWNER, MANAGER, REP, DCRC, AFTERSALES = "owner", "manager", "rep", "dcrc", "aftersales"
WRITE_ROLES = {OWNER, MANAGER, REP}


def is_active_member(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.organisation_id and user.left_at is None)


def team_member_ids(user: User) -> list[int]:
    """The ids of the people in the teams ``user`` manages (a handful), read once per user object.

    A request loads its user afresh, so a change of teams shows from the next request on.
    """
    ids: list[int] | None = getattr(user, "_team_member_ids", None)
    if ids is None:
        from huitou.accounts.models import User as UserModel

        ids = list(UserModel.objects.filter(team__manager_id=user.pk).values_list("pk", flat=True))
        user._team_member_ids = ids  # type: ignore[attr-defined]
    return ids


def customer_scope(user: User, prefix: str = "", *, owner: str = "owner") -> Q:
    """Q limiting a Customer query (or a related query through ``prefix``) to what ``user`` may see.

    The same rule serves rows that carry their own ``organisation_id``, ``store_id`` and a rep
    column (snapshots, referrals, vouchers): ``owner`` names that column (``"rep"`` for a lead's
    credited rep)."""
    if not is_active_member(user):
        return NOTHING
    p = prefix
    o = f"{p}{owner}_id"
    org = Q(**{f"{p}organisation_id": user.organisation_id})
    role = user.role
    if role == OWNER:
        return org
    if role == REP:
        return org & Q(**{o: user.pk})
    policy = user.organisation.policy  # type: ignore[union-attr]
    if role == MANAGER:
        # Owner in a list of ids, not ``owner__team__manager_id``: both arms of the OR then sit on
        # the row itself, so the database can OR the owner and store indexes instead of joining
        # every customer to its owner's team (3 s for a manager's value report at 1M customers).
        q = Q(**{f"{o}__in": team_member_ids(user)})
        if policy.people.manager_sees_whole_store and user.store_id:
            q |= Q(**{f"{p}store_id": user.store_id})
        return org & q
    if role == DCRC:
        if policy.people.dcrc_sees_whole_organisation or not user.store_id:
            return org
        return org & Q(**{f"{p}store_id": user.store_id})
    if role == AFTERSALES:
        return org & Q(**{f"{p}store_id": user.store_id}) if user.store_id else NOTHING
    return NOTHING


def can_edit_customer(user: User, customer: Customer) -> bool:
    """Assumes ``customer`` came through ``customer_scope``. Only owner, managers and the owner rep edit."""
    return user.role in WRITE_ROLES


def can_log_activity(user: User) -> bool:
    return is_active_member(user)


def can_read_confidential(user: User, customer: Customer) -> bool:
    if user.role == OWNER:
        return True
    if user.role == MANAGER:
        return True  # the customer is in this manager's scope already
    return user.role == REP and customer.owner_id == user.pk


def can_reassign(user: User) -> bool:
    return user.role in {OWNER, MANAGER}


def can_manage_people(user: User) -> bool:
    return user.role == OWNER


def can_import(user: User) -> bool:
    return user.role in {OWNER, MANAGER}


def can_handle_privacy(user: User) -> bool:
    return user.role in {OWNER, MANAGER}


def sees_full_phone(user: User) -> bool:
    if not is_active_member(user):
        return False
    return user.role in user.organisation.policy.archive.unmasked_phone_roles  # type: ignore[union-attr]


def phone_for(user: User, e164: str, *, full: bool | None = None) -> str:
    """The phone as this viewer may see it. ``full`` can be precomputed once per list."""
    if full is None:
        full = sees_full_phone(user)
    return display_phone(e164) if full else mask_phone(e164)


def org_id(user: User) -> int:
    """The viewer's organisation id; every signed-in member has one (checked by ``is_active_member``)."""
    if user.organisation_id is None:
        raise PermissionError("user has no organisation")
    return int(user.organisation_id)
