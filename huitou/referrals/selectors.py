"""Reads of the referral system, always through the viewer's scope.

A referral is visible by its own columns (organisation, store, credited rep; see ``_own_scope``);
a voucher to whoever may see its holder. Redeeming at the desk goes by code instead (see
``vouchers.voucher_redeem``): the code is what the customer shows.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from huitou.accounts import permissions
from huitou.accounts.models import User
from huitou.accounts.permissions import DCRC, MANAGER, OWNER

from .models import Referral, Voucher


def _own_scope(viewer: User) -> Q:
    """The viewer's scope on a row's own ``organisation_id`` / ``store_id`` / ``rep_id`` columns
    (referrals and vouchers carry the referrer's store and rep): the customer scope with the
    credited rep in the owner's place.

    A referral, a voucher and a sale belong to their customer's organisation (the services create
    them so), so whole-organisation viewers need no join to the customers. A rep sees the leads
    credited to them, a manager those of their team's reps and, by policy, of their store: the
    credit stays with the rep who earned it, and ``customers_reassign`` moves the OPEN referrals
    of a reassigned customer to the new rep and store.
    """
    return permissions.customer_scope(viewer, owner="rep")


def referral_scope_parts(viewer: User) -> list[Q]:
    """The viewer's scope as disjoint parts whose union is ``referral_scope``, for counts.

    A manager who sees their team's reps and their store has an OR of two indexed conditions; a
    database answers a capped count of an OR by building the bitmap of every matching row first
    (594 ms for one manager at 1M referrals), while each part alone is a capped walk of one index
    (``ref_store_stage_idx``, ``ref_rep_stage_idx``). The team part leaves out the store's rows,
    so the parts' counts add up to the scope's count.
    """
    own = _own_scope(viewer)
    if own == permissions.NOTHING:
        return [own]
    if viewer.role == MANAGER and viewer.store_id:
        policy = viewer.organisation.policy  # type: ignore[union-attr]
        if policy.people.manager_sees_whole_store:
            org = Q(organisation_id=viewer.organisation_id)
            team = permissions.team_member_ids(viewer)
            store = org & Q(store_id=viewer.store_id)
            if not team:
                return [store]
            return [store, org & Q(rep_id__in=team) & ~Q(store_id=viewer.store_id)]
    return [own]


def referral_scope(viewer: User) -> Q:
    return _own_scope(viewer)


def referral_queryset(viewer: User) -> QuerySet[Referral]:
    return Referral.objects.filter(referral_scope(viewer))


def referral_card_scope(viewer: User) -> Q:
    """Referrals of referrers the viewer may see, plus the viewer's own scope: the customer
    page's referral card and a referral's own page, so the rep a customer was reassigned to
    still sees (read only) what the customer referred before. Joins the customers: for one
    customer or one referral, never for lists."""
    own = _own_scope(viewer)
    if own == permissions.NOTHING:
        return own
    return Q(organisation_id=viewer.organisation_id) & (
        permissions.customer_scope(viewer, "referrer__") | own
    )


def referral_card_queryset(viewer: User) -> QuerySet[Referral]:
    return Referral.objects.filter(referral_card_scope(viewer))


def voucher_scope(viewer: User) -> Q:
    """Vouchers of holders in the viewer's scope. Whole-organisation viewers filter on the
    voucher's own organisation; the others through the holder (a voucher's store and rep are the
    statistics' credit, not who may see it)."""
    if not permissions.is_active_member(viewer):
        return permissions.NOTHING
    if viewer.role == OWNER or (
        viewer.role == DCRC
        and (
            viewer.organisation.policy.people.dcrc_sees_whole_organisation  # type: ignore[union-attr]
            or not viewer.store_id
        )
    ):
        return Q(organisation_id=viewer.organisation_id)
    return permissions.customer_scope(viewer, "customer__")


def voucher_queryset(viewer: User) -> QuerySet[Voucher]:
    return Voucher.objects.filter(voucher_scope(viewer))
