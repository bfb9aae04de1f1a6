"""Reads of the lifetime-value part (DOMAIN §8): a customer's value card, CLV per tier and per
customer type, and customers ordered by CLV.

The per-segment figures and totals of the report (``value_segments``) scope and filter on the
snapshot row's own organisation, owner and store (``scope.snapshot_scope``: the owner and store
copied at the time of the nightly run) and never join the snapshot to the customers table. The
rows are written for every customer neither merged away nor erased, whatever their status (no
status filter, as before); a customer reassigned today moves to the new rep's figures, and one
erased or merged today leaves them, at the next nightly run. The list (``value_list``) AND
that scope with ``customer_scope`` on the customer's current owner and store: a customer
reassigned today leaves the old rep's list at once and shows in the new rep's list from the next
nightly run. A customer's card goes through ``customer_scope``. ``value_by_tier`` and
``value_by_type`` take an organisation: they are the owner's whole-organisation figures (the owner
dashboard calls them after its own role check).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Sum

from huitou.accounts import permissions
from huitou.customers import selectors as customer_selectors
from huitou.customers.models import Customer

from .models_value import CustomerValue, ValueFill
from .scope import snapshot_filters, snapshot_scope

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from huitou.accounts.models import Organisation, User

VIEWER_ROLES = {permissions.OWNER, permissions.MANAGER, permissions.REP}
TIERS = ("gold", "silver", "bronze", "")
TYPES = ("profit", "volume", "relationship", "strategic", "")
CENT = Decimal("0.01")
ZERO = Decimal("0")
# Referred customers listed on the card; the rest are summed.
CARD_REFERRALS = 10


def can_view_value(viewer: User) -> bool:
    return permissions.is_active_member(viewer) and viewer.role in VIEWER_ROLES


def _latest_done(organisation_id: int) -> dt.date | None:
    return (
        ValueFill.objects.filter(organisation_id=organisation_id, status=ValueFill.Status.DONE)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )


def latest_as_of(viewer: User) -> dt.date | None:
    """The newest complete value snapshot of the viewer's organisation."""
    if not permissions.is_active_member(viewer):
        return None
    return _latest_done(permissions.org_id(viewer))


def snapshot_days(viewer: User, *, limit: int = 30) -> list[dt.date]:
    """The newest complete snapshot days, for the as-of filter."""
    if not permissions.is_active_member(viewer):
        return []
    return list(
        ValueFill.objects.filter(organisation_id=permissions.org_id(viewer), status=ValueFill.Status.DONE)
        .order_by("-as_of")
        .values_list("as_of", flat=True)[:limit]
    )


def fill_for(organisation_id: int, as_of: dt.date | None) -> ValueFill | None:
    if as_of is None:
        return None
    return ValueFill.objects.filter(organisation_id=organisation_id, as_of=as_of).first()


# ---------------------------------------------------------------------------------------------
# Per segment


def _grouped(qs: QuerySet[CustomerValue]) -> list[dict[str, Any]]:
    """One GROUP BY (tier, customer type), at most 25 groups: customers, CLV, revenue and margin
    totals, and the sum and count of the known P(alive) values (for means over any fold)."""
    return [
        dict(g)
        for g in qs.values("tier", "customer_type")
        .annotate(
            customers=Count("id"),
            clv=Sum("clv"),
            revenue=Sum("revenue"),
            margin=Sum("margin"),
            p_sum=Sum("p_alive"),
            p_n=Count("p_alive"),
        )
        .order_by()
    ]


def _fold(groups: list[dict[str, Any]], key: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of ``_grouped`` summed per value of ``key``: customers, CLV total and mean, mean
    P(alive), in the order of ``keys`` (every key present, zeros where no customer)."""
    sums: dict[str, list[Any]] = {}
    for g in groups:
        s = sums.setdefault(g[key], [0, ZERO, ZERO, 0])
        s[0] += int(g["customers"] or 0)
        s[1] += Decimal(g["clv"] or ZERO)
        s[2] += Decimal(g["p_sum"] or ZERO)
        s[3] += int(g["p_n"] or 0)
    out = []
    for k in keys:
        n, clv, p_sum, p_n = sums.get(k, (0, ZERO, ZERO, 0))
        total = clv.quantize(CENT)
        out.append(
            {
                key: k,
                "customers": n,
                "clv_total": total,
                "clv_mean": (total / n).quantize(CENT) if n else ZERO.quantize(CENT),
                "p_alive_mean": round(float(p_sum / p_n), 4) if p_n else None,
            }
        )
    return out


def _group(qs: QuerySet[CustomerValue], key: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """One grouped query: customers, CLV total and mean, mean P(alive) per value of ``key``
    (``tier`` or ``customer_type``), in the order of ``keys``."""
    return _fold(_grouped(qs), key, keys)


def _kept(summary: dict[str, Any], name: str, key: str) -> list[dict[str, Any]] | None:
    """The per-segment figures the nightly run kept on the fill row, in ``_group``'s shape."""
    rows = summary.get(name)
    if rows is None:
        return None
    out = []
    for r in rows:
        total = (Decimal(r["clv_cents"]) / 100).quantize(CENT)
        n = int(r["customers"])
        out.append(
            {
                key: r[key],
                "customers": n,
                "clv_total": total,
                "clv_mean": (total / n).quantize(CENT) if n else ZERO.quantize(CENT),
                "p_alive_mean": r["p_alive_mean"],
            }
        )
    return out


def _org_groups(
    organisation: Organisation, as_of: dt.date | None, name: str, key: str, keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    fills = ValueFill.objects.filter(organisation_id=organisation.pk, status=ValueFill.Status.DONE)
    fill = (fills.filter(as_of=as_of) if as_of else fills.order_by("-as_of")).first()
    if fill is None:
        return []
    kept = _kept(fill.summary, name, key)
    if kept is not None:
        return kept
    return _group(CustomerValue.objects.filter(organisation_id=organisation.pk, as_of=fill.as_of), key, keys)


def value_by_tier(organisation: Organisation, *, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """CLV per value tier of the whole organisation, from the newest complete snapshot (or
    ``as_of``): one dict per tier (gold, silver, bronze, "" for untiered, always all four) with
    ``tier``, ``customers``, ``clv_total`` and ``clv_mean`` (Decimal) and ``p_alive_mean`` (float,
    None when the model was not fitted). The tier is the segment snapshot's of the same day.
    Empty list when there is no complete snapshot. One query: the nightly run keeps these figures
    on its fill row."""
    return _org_groups(organisation, as_of, "by_tier", "tier", TIERS)


def value_by_type(organisation: Organisation, *, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """As ``value_by_tier``, per customer type (``customer_type``; "" for not set)."""
    return _org_groups(organisation, as_of, "by_type", "customer_type", TYPES)


@dataclass(frozen=True)
class ValueFilters:
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None


def value_snapshot_rows(viewer: User, filters: ValueFilters, *, as_of: dt.date) -> QuerySet[CustomerValue]:
    """The snapshot rows of ``as_of`` the viewer may see by the row's own owner and store, narrowed
    by the store, team and rep copied on the row (the figures' rows; no join to the customers)."""
    if not can_view_value(viewer):
        return CustomerValue.objects.none()
    return CustomerValue.objects.filter(
        snapshot_scope(viewer),
        snapshot_filters(store_id=filters.store_id, team_id=filters.team_id, rep_id=filters.rep_id),
        organisation_id=permissions.org_id(viewer),
        as_of=as_of,
    )


def value_rows(viewer: User, filters: ValueFilters, *, as_of: dt.date) -> QuerySet[CustomerValue]:
    """``value_snapshot_rows`` whose customer the viewer may still see now (``customer_scope`` on
    the customer's current owner and store): the rows listed customer by customer."""
    return value_snapshot_rows(viewer, filters, as_of=as_of).filter(
        permissions.customer_scope(viewer, "customer__")
    )


@dataclass
class ValueSegments:
    as_of: dt.date | None
    fill: ValueFill | None = None
    tiers: list[dict[str, Any]] = field(default_factory=list)
    types: list[dict[str, Any]] = field(default_factory=list)
    customers: int = 0
    clv_total: Decimal = ZERO
    revenue_total: Decimal = ZERO
    margin_total: Decimal = ZERO


def value_segments(viewer: User, filters: ValueFilters, *, as_of: dt.date | None = None) -> ValueSegments:
    """CLV per tier and per customer type of the customers the viewer may see, with the fill row of
    the day (the fitted models). The owner's whole organisation reads the figures the nightly run
    kept on the fill row (one statement, the fill row); otherwise one GROUP BY (tier, customer
    type) over the snapshot's own columns, folded here into tiers, types and totals (two)."""
    if not can_view_value(viewer):
        return ValueSegments(as_of=None)
    day = as_of or latest_as_of(viewer)
    out = ValueSegments(as_of=day, fill=fill_for(permissions.org_id(viewer), day))
    if day is None:
        return out
    whole = viewer.role == permissions.OWNER and filters == ValueFilters() and out.fill is not None
    summary = out.fill.summary if whole and out.fill else {}
    kept_tiers = _kept(summary, "by_tier", "tier")
    kept_types = _kept(summary, "by_type", "customer_type")
    kept_totals = summary.get("totals_cents")
    groups: list[dict[str, Any]] = []
    if kept_tiers is None or kept_types is None or kept_totals is None:
        groups = _grouped(value_snapshot_rows(viewer, filters, as_of=day))
    out.tiers = kept_tiers if kept_tiers is not None else _fold(groups, "tier", TIERS)
    out.types = kept_types if kept_types is not None else _fold(groups, "customer_type", TYPES)
    if kept_totals is not None:
        out.customers = int(kept_totals["customers"])
        clv, revenue, margin = (Decimal(kept_totals[k]) / 100 for k in ("clv", "revenue", "margin"))
    else:
        out.customers = sum(int(g["customers"] or 0) for g in groups)
        clv, revenue, margin = (
            sum((Decimal(g[k] or ZERO) for g in groups), ZERO) for k in ("clv", "revenue", "margin")
        )
    out.clv_total = clv.quantize(CENT)
    out.revenue_total = revenue.quantize(CENT)
    out.margin_total = margin.quantize(CENT)
    return out


def value_list(
    viewer: User, filters: ValueFilters, *, as_of: dt.date | None = None
) -> QuerySet[CustomerValue]:
    """Customers by CLV, highest first (the ``*_asof_clv_idx`` indexes serve the order)."""
    day = as_of or latest_as_of(viewer)
    if day is None:
        return CustomerValue.objects.none()
    return (
        value_rows(viewer, filters, as_of=day)
        .select_related("customer", "owner", "store")
        .order_by("-clv", "customer_id")
    )


# ---------------------------------------------------------------------------------------------
# One customer


@dataclass
class ReferredRow:
    customer_id: int
    name: str
    clv: Decimal
    margin: Decimal


@dataclass
class ValueCard:
    customer: Customer
    snapshot: CustomerValue | None
    fill: ValueFill | None = None
    # Referred customers the viewer may see (linked), and how many others and their value.
    referred: list[ReferredRow] = field(default_factory=list)
    referred_hidden: int = 0
    referred_hidden_value: Decimal = ZERO
    referred_more: int = 0  # visible ones beyond the card's rows


def referred_ids(customer: Customer) -> list[int]:
    """Customers this one referred, one level: ``referred_by`` and won referral leads."""
    from huitou.referrals.models import Referral, Stage

    by_archive = Customer.objects.filter(referred_by_id=customer.pk, merged_into__isnull=True).values_list(
        "id", flat=True
    )
    by_lead = Referral.objects.filter(
        referrer_id=customer.pk, stage=Stage.WON, customer__isnull=False
    ).values_list("customer_id", flat=True)
    return sorted(({*by_archive, *by_lead}) - {customer.pk})


def customer_value(user: User, customer_id: int) -> ValueCard:
    """The customer's newest value snapshot and the value of the customers they referred (from the
    same snapshot day). NotFound outside the viewer's scope."""
    customer = customer_selectors.customer_get(user, customer_id)
    snapshot = CustomerValue.objects.filter(customer_id=customer.pk).order_by("-as_of").first()
    card = ValueCard(customer=customer, snapshot=snapshot)
    if snapshot is None:
        return card
    card.fill = fill_for(snapshot.organisation_id, snapshot.as_of)
    ids = referred_ids(customer)
    if not ids:
        return card
    values = {
        r[0]: (r[1], r[2])
        for r in CustomerValue.objects.filter(customer_id__in=ids, as_of=snapshot.as_of).values_list(
            "customer_id", "clv", "margin"
        )
    }
    visible = dict(customer_selectors.customer_queryset(user).filter(pk__in=ids).values_list("id", "name"))
    for cid in ids:
        clv, margin = values.get(cid, (ZERO, ZERO))
        if cid in visible:
            card.referred.append(ReferredRow(cid, visible[cid], clv, margin))
        else:
            card.referred_hidden += 1
            card.referred_hidden_value += clv + margin
    card.referred.sort(key=lambda r: (-(r.clv + r.margin), r.customer_id))
    card.referred_more = max(0, len(card.referred) - CARD_REFERRALS)
    del card.referred[CARD_REFERRALS:]
    return card
