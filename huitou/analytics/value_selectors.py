"""Reads of the lifetime-value part (DOMAIN §8): a customer's value card, CLV per tier and per
customer type, and customers ordered by CLV.

Every read on behalf of a person goes through ``customer_scope`` on the customer's current owner
and store; the snapshot's copied ``owner``/``store`` only narrow further so the lists use their
indexes. ``value_by_tier`` and ``value_by_type`` take an organisation: they are the owner's
whole-organisation figures (the owner dashboard calls them after its own role check).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Avg, Count, Sum

from huitou.accounts import permissions
from huitou.customers import selectors as customer_selectors
from huitou.customers.models import Customer

from .models_value import CustomerValue, ValueFill

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


def _group(qs: QuerySet[CustomerValue], key: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """One grouped query: customers, CLV total and mean, mean P(alive) per value of ``key``, in
    the order of ``keys`` (every key present, zeros where no customer)."""
    rows = {
        r[key]: r
        for r in qs.values(key)
        .annotate(customers=Count("id"), clv_total=Sum("clv"), p_alive_mean=Avg("p_alive"))
        .order_by()
    }
    out = []
    for k in keys:
        r = rows.get(k, {})
        n = int(r.get("customers") or 0)
        total = Decimal(r.get("clv_total") or ZERO).quantize(CENT)
        p = r.get("p_alive_mean")
        out.append(
            {
                key: k,
                "customers": n,
                "clv_total": total,
                "clv_mean": (total / n).quantize(CENT) if n else ZERO.quantize(CENT),
                "p_alive_mean": round(float(p), 4) if p is not None else None,
            }
        )
    return out


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


def value_rows(viewer: User, filters: ValueFilters, *, as_of: dt.date) -> QuerySet[CustomerValue]:
    """The snapshot rows of ``as_of`` the viewer may see, narrowed by the filters."""
    if not can_view_value(viewer):
        return CustomerValue.objects.none()
    qs = CustomerValue.objects.filter(
        permissions.customer_scope(viewer, "customer__"),
        organisation_id=permissions.org_id(viewer),
        as_of=as_of,
    )
    if viewer.role == permissions.REP:
        qs = qs.filter(owner_id=viewer.pk)
    if filters.rep_id:
        qs = qs.filter(owner_id=filters.rep_id)
    if filters.store_id:
        qs = qs.filter(store_id=filters.store_id)
    if filters.team_id:
        qs = qs.filter(owner__team_id=filters.team_id)
    return qs


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
    """CLV per tier and per customer type of the customers the viewer may see (three grouped
    queries), with the fill row of the day (the fitted models)."""
    if not can_view_value(viewer):
        return ValueSegments(as_of=None)
    day = as_of or latest_as_of(viewer)
    out = ValueSegments(as_of=day, fill=fill_for(permissions.org_id(viewer), day))
    if day is None:
        return out
    qs = value_rows(viewer, filters, as_of=day)
    whole = viewer.role == permissions.OWNER and filters == ValueFilters() and out.fill is not None
    kept_tiers = _kept(out.fill.summary, "by_tier", "tier") if whole and out.fill else None
    kept_types = _kept(out.fill.summary, "by_type", "customer_type") if whole and out.fill else None
    out.tiers = kept_tiers if kept_tiers is not None else _group(qs, "tier", TIERS)
    out.types = kept_types if kept_types is not None else _group(qs, "customer_type", TYPES)
    kept_totals = out.fill.summary.get("totals_cents") if whole and out.fill else None
    if kept_totals is not None:
        out.customers = int(kept_totals["customers"])
        clv, revenue, margin = (Decimal(kept_totals[k]) / 100 for k in ("clv", "revenue", "margin"))
    else:
        totals = qs.aggregate(n=Count("id"), clv=Sum("clv"), revenue=Sum("revenue"), margin=Sum("margin"))
        out.customers = int(totals["n"] or 0)
        clv, revenue, margin = (Decimal(totals[k] or ZERO) for k in ("clv", "revenue", "margin"))
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
