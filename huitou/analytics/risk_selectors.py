"""Reads of the crisis-signal part: at-risk lists, a customer's risk card, saves per rep and month.

Every read goes through ``customer_scope`` on the customer's current owner and store. The
snapshot's copied ``owner``/``store`` only narrow further (so the lists use their indexes); a
customer reassigned today shows in the new rep's list from the next nightly run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext

from huitou.accounts import permissions
from huitou.customers import selectors as customer_selectors
from huitou.customers.models import Customer

from . import risk
from .models import CustomerLoss, CustomerRisk, RiskFill, WinBack
from .risk_services import risk_settings

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from huitou.accounts.models import User

VIEWER_ROLES = {permissions.OWNER, permissions.MANAGER, permissions.REP}


def can_view_risk(viewer: User) -> bool:
    return permissions.is_active_member(viewer) and viewer.role in VIEWER_ROLES


def can_act(viewer: User) -> bool:
    """Start win-backs and mark customers lost (the customer must be in scope as well)."""
    return permissions.is_active_member(viewer) and viewer.role in permissions.WRITE_ROLES


def threshold(viewer: User) -> int:
    return int(risk_settings(viewer.organisation)["threshold"])  # type: ignore[arg-type]


def latest_as_of(viewer: User) -> dt.date | None:
    if not permissions.is_active_member(viewer):
        return None
    return (
        RiskFill.objects.filter(organisation_id=permissions.org_id(viewer), status=RiskFill.Status.DONE)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )


def alive_signal_used(viewer: User, as_of: dt.date | None) -> bool:
    """False when that day's fit found nobody leaving, so P(alive) took no weight in the scores."""
    if as_of is None or not permissions.is_active_member(viewer):
        return True
    summary = (
        RiskFill.objects.filter(organisation_id=permissions.org_id(viewer), as_of=as_of)
        .values_list("summary", flat=True)
        .first()
    )
    return bool(((summary or {}).get("model") or {}).get("alive_signal_used", True))


def reasons_text(reasons: list[dict[str, Any]]) -> list[str]:
    return [risk.reason_text(r, gettext) for r in reasons]


@dataclass(frozen=True)
class RiskFilters:
    store_id: int | None = None
    rep_id: int | None = None
    min_score: int | None = None


def at_risk_list(
    viewer: User, filters: RiskFilters, *, as_of: dt.date | None = None
) -> tuple[dt.date | None, QuerySet[CustomerRisk]]:
    """Active customers at or above ``min_score`` (default: the policy threshold) in the newest
    snapshot, highest score first. A rep sees only their own customers."""
    day = as_of or latest_as_of(viewer)
    if day is None or not can_view_risk(viewer):
        return day, CustomerRisk.objects.none()
    min_score = filters.min_score if filters.min_score is not None else threshold(viewer)
    qs = CustomerRisk.objects.filter(
        permissions.customer_scope(viewer, "customer__"),
        organisation_id=permissions.org_id(viewer),
        as_of=day,
        score__gte=min_score,
        customer__status=Customer.Status.ACTIVE,
    )
    if viewer.role == permissions.REP:
        qs = qs.filter(owner_id=viewer.pk)
    if filters.rep_id:
        qs = qs.filter(owner_id=filters.rep_id)
    if filters.store_id:
        qs = qs.filter(store_id=filters.store_id)
    return day, qs.select_related("customer", "owner", "store").order_by("-score", "customer_id")


def open_winbacks(customer_ids: list[int]) -> dict[int, WinBack]:
    """Open win-backs of the given (already scoped) customers, one query."""
    return {
        w.customer_id: w
        for w in WinBack.objects.filter(customer_id__in=customer_ids, status=WinBack.Status.OPEN)
    }


@dataclass
class RiskCard:
    customer: Customer
    snapshot: CustomerRisk | None
    reasons: list[str]
    open_winback: WinBack | None
    winbacks: list[WinBack] = field(default_factory=list)
    losses: list[CustomerLoss] = field(default_factory=list)
    concessions: list[Any] = field(default_factory=list)
    threshold: int = risk.DEFAULT_THRESHOLD


CARD_ROWS = 5


def customer_risk(viewer: User, customer_id: int) -> RiskCard:
    """The customer's newest risk snapshot with reasons, win-backs, losses and the concessions of
    their complaints (which live in the feedback app, with its approval limits). NotFound
    outside the viewer's scope."""
    from huitou.feedback.models import Concession

    customer = customer_selectors.customer_get(viewer, customer_id)
    snapshot = CustomerRisk.objects.filter(customer_id=customer.pk).order_by("-as_of").first()
    winbacks = list(
        WinBack.objects.filter(customer_id=customer.pk)
        .select_related("task", "started_by")
        .order_by("-started_on", "-id")[:CARD_ROWS]
    )
    return RiskCard(
        customer=customer,
        snapshot=snapshot,
        reasons=reasons_text(snapshot.reasons) if snapshot else [],
        open_winback=next((w for w in winbacks if w.status == WinBack.Status.OPEN), None),
        winbacks=winbacks,
        losses=list(
            CustomerLoss.objects.filter(customer_id=customer.pk).order_by("-lost_on", "-id")[:CARD_ROWS]
        ),
        concessions=list(
            Concession.objects.filter(ticket__customer_id=customer.pk)
            .select_related("ticket")
            .order_by("-created_at", "-id")[:CARD_ROWS]
        ),
        threshold=threshold(viewer),
    )


@dataclass(frozen=True)
class SavesRow:
    rep_id: int | None
    rep: str
    month: dt.date
    saves: int


def saves_by_rep_month(viewer: User, *, start: dt.date, end: dt.date) -> list[SavesRow]:
    """Saves per rep and month: win-backs of a customer who was at risk (score at the start at or
    above the threshold) or lost, who bought within the save window. One grouped query."""
    if not can_view_risk(viewer):
        return []
    qs = WinBack.objects.filter(
        permissions.customer_scope(viewer, "customer__"),
        Q(score_at_start__gte=threshold(viewer)) | Q(customer_was_lost=True),
        organisation_id=permissions.org_id(viewer),
        status=WinBack.Status.SAVED,
        saved_on__gte=start,
        saved_on__lte=end,
    )
    if viewer.role == permissions.REP:
        qs = qs.filter(rep_id=viewer.pk)
    rows = (
        qs.annotate(month=TruncMonth("saved_on"))
        .values("rep_id", "rep__username", "rep__display_name", "month")
        .annotate(n=Count("id"))
        .order_by("month", "rep__username")
    )
    return [
        SavesRow(
            rep_id=r["rep_id"],
            rep=r["rep__display_name"] or r["rep__username"] or "—",
            month=r["month"],
            saves=r["n"],
        )
        for r in rows
    ]


def losses_by_reason(viewer: User, *, start: dt.date, end: dt.date) -> dict[str, int]:
    """Termination reasons recorded in the period, customers in the viewer's scope."""
    if not can_view_risk(viewer):
        return {}
    return dict(
        CustomerLoss.objects.filter(
            permissions.customer_scope(viewer, "customer__"),
            organisation_id=permissions.org_id(viewer),
            lost_on__gte=start,
            lost_on__lte=end,
        )
        .values("reason")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("reason", "n")
    )
