"""The viewer's scope on a snapshot row's own columns: its ``organisation``, and the ``owner`` and
``store`` the nightly run copied from the customer (``CustomerSegment``, ``CustomerRisk``,
``CustomerValue``).

``snapshot_scope`` is ``accounts.permissions.customer_scope`` applied to the row itself,
so that the analytics pages' counts, sums and charts read one snapshot index and never join the
snapshot to the customers table (at 1M customers that join cost ~1.4 s per grouped query, a scan of
one day's snapshot ~0.2 s). The figures are therefore those of the owners and stores at the time
of the run: a customer reassigned today still counts for their old rep until the next nightly run.
Lists and exports that show individual customers AND this with ``customer_scope`` on the
customer's current owner and store, so nobody sees a customer that has been taken from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q

from huitou.accounts import permissions

if TYPE_CHECKING:
    from huitou.accounts.models import User


def snapshot_scope(viewer: User) -> Q:
    """Q limiting a snapshot query to the rows ``viewer`` may see, by the row's own columns: the
    snapshot rows carry ``organisation_id``, ``owner_id`` and ``store_id`` under the customer's
    names, so the customer scope itself applies to them without a prefix."""
    return permissions.customer_scope(viewer)


def snapshot_filters(
    *, store_id: int | None = None, team_id: int | None = None, rep_id: int | None = None
) -> Q:
    """The pages' store, team and rep filters on the row's copied store and owner. The team is the
    owner's team now (a subquery on the small users table, so the owner index still serves)."""
    from huitou.accounts.models import User

    q = Q()
    if store_id:
        q &= Q(store_id=store_id)
    if rep_id:
        q &= Q(owner_id=rep_id)
    if team_id:
        q &= Q(owner_id__in=User.objects.filter(team_id=team_id).values("pk"))
    return q
