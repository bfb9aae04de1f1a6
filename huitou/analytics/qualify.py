"""Lead qualification (DOMAIN §2): red, green and rotten apples, and where each rep's time went.

A "golden customer" has a need, the money and the power to decide. All three make a red apple,
two a green one, one or none a rotten one. Reps should spend at least 60% of their time on red
apples, at least 30% on green ones and at most 10% on rotten ones (policy ``segments.apple_*``).

Time is measured from the touches on the timeline (``customers.Activity``) by the person who
made them, each kind weighted by the policy's minutes. Completing a task logs its touch there
(``followups.services.task_complete``), so counting the tasks as well would count them twice.

This module holds the service (``qualification_set``), the selectors (scoped through
``huitou.accounts.permissions``) and the vectorised time-split arithmetic (``split_minutes``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy

from huitou.accounts import permissions
from huitou.core.errors import Conflict, PermissionDenied, ValidationFailed

from .costs import period_bounds
from .models_qualify import Qualification
from .segments import STRATEGIES

if TYPE_CHECKING:
    from huitou.accounts.models import User
    from huitou.accounts.policy import SegmentPolicy
    from huitou.customers.models import Customer

APPLES: tuple[str, ...] = ("red", "green", "rotten")
RED, GREEN, ROTTEN = 0, 1, 2
# Touch kinds that take a rep's time, and the SegmentPolicy field holding their minutes.
MINUTE_FIELDS: dict[str, str] = {
    "call": "minutes_call",
    "visit": "minutes_visit",
    "wechat": "minutes_wechat",
    "sms": "minutes_message",
    "email": "minutes_message",
    "letter": "minutes_letter",
    "gift": "minutes_gift",
}
CRITERIA_LABELS = {
    "need": gettext_lazy("need"),
    "money": gettext_lazy("money"),
    "authority": gettext_lazy("decision power"),
}


# ---------------------------------------------------------------- pure rules


def apple_of(*, need: bool, money: bool, authority: bool) -> str:
    met = int(bool(need)) + int(bool(money)) + int(bool(authority))
    if met == 3:
        return "red"
    if met == 2:
        return "green"
    return "rotten"


def minutes_per_kind(policy: SegmentPolicy) -> dict[str, int]:
    return {kind: int(getattr(policy, name)) for kind, name in MINUTE_FIELDS.items()}


def split_minutes(
    rep_index: npt.ArrayLike, apple_index: npt.ArrayLike, minutes: npt.ArrayLike, n_reps: int
) -> npt.NDArray[np.float64]:
    """Minutes summed into a (rep, apple) matrix: row i is rep i, columns red, green, rotten."""
    out = np.zeros((n_reps, len(APPLES)), dtype=np.float64)
    np.add.at(
        out,
        (np.asarray(rep_index, dtype=np.intp), np.asarray(apple_index, dtype=np.intp)),
        np.asarray(minutes, dtype=np.float64),
    )
    return out


def split_shares(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each row as percentages of its total (0 where a rep logged no time)."""
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, matrix * 100.0 / np.where(totals > 0, totals, 1.0), 0.0)
    return shares


def off_target(
    shares: npt.NDArray[np.float64], *, red_min: float, green_min: float, rotten_max: float
) -> Any:
    """Boolean matrix (rep, apple): True where the share misses the policy (≥ red, ≥ green, ≤ rotten)."""
    flags = np.zeros(shares.shape, dtype=bool)
    flags[:, RED] = shares[:, RED] < red_min
    flags[:, GREEN] = shares[:, GREEN] < green_min
    flags[:, ROTTEN] = shares[:, ROTTEN] > rotten_max
    return flags


# ---------------------------------------------------------------- permissions


def can_view(viewer: User) -> bool:
    return permissions.is_active_member(viewer)


def can_qualify(viewer: User) -> bool:
    """The customer's rep, their manager or the owner (the customer must be in scope as well)."""
    return permissions.is_active_member(viewer) and viewer.role in permissions.WRITE_ROLES


def can_view_time(viewer: User) -> bool:
    return permissions.is_active_member(viewer) and viewer.role in permissions.WRITE_ROLES


# ---------------------------------------------------------------- service


def _site_language(text: Any) -> str:
    # The timeline is shared by everyone in the organisation, so it is written in the site's language.
    with translation.override(settings.LANGUAGE_CODE):
        return str(text)


def _apple_label(apple: str) -> Any:
    return Qualification.Apple(apple).label


def _history_subject(q: Qualification) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        met = [str(CRITERIA_LABELS[c]) for c in ("need", "money", "authority") if getattr(q, c)]
        return gettext("Qualified: %(apple)s (%(met)s)") % {
            "apple": _apple_label(q.apple),
            "met": ", ".join(met) if met else gettext("nothing confirmed"),
        }


@transaction.atomic
def qualification_set(
    *,
    actor: User,
    customer_id: int,
    need: bool,
    money: bool,
    authority: bool,
    note: str = "",
    version: int | None = None,
) -> Qualification:
    """Set a customer's qualification and log the change on their timeline.

    NotFound outside the actor's scope; PermissionDenied for a role that may not qualify;
    Conflict when ``version`` is given and someone else saved first.
    """
    from huitou.customers import services as customer_services
    from huitou.customers.selectors import customer_get

    customer = customer_get(actor, customer_id)
    if not can_qualify(actor):
        raise PermissionDenied("only the customer's rep, a manager or the owner qualify customers")
    note = (note or "").strip()
    if len(note) > 255:
        raise ValidationFailed({"note": ["at most 255 characters"]})
    apple = apple_of(need=need, money=money, authority=authority)
    now = timezone.now()
    q = Qualification.objects.select_for_update().filter(customer_id=customer.pk).first()
    if q is None:
        if version not in (None, 0):
            raise Conflict("qualification")
        try:
            # Two first qualifications at once: the one-to-one constraint lets one win.
            with transaction.atomic():
                q = Qualification.objects.create(
                    organisation_id=customer.organisation_id,
                    customer=customer,
                    need=need,
                    money=money,
                    authority=authority,
                    apple=apple,
                    note=note,
                    updated_by=actor,
                    updated_at=now,
                )
        except IntegrityError as exc:
            raise Conflict("qualification") from exc
    else:
        if version is not None and version != q.version:
            raise Conflict("qualification")
        if (q.need, q.money, q.authority, q.note) == (need, money, authority, note):
            return q  # nothing changed: no new version, no timeline entry
        q.need, q.money, q.authority, q.apple, q.note = need, money, authority, apple, note
        q.updated_by, q.updated_at = actor, now
        q.version += 1
        q.save(
            update_fields=[
                "need",
                "money",
                "authority",
                "apple",
                "note",
                "updated_by",
                "updated_at",
                "version",
            ]
        )
    customer_services.activity_log(
        actor=actor,
        customer_id=customer.pk,
        customer=customer,
        kind="system",
        subject=_history_subject(q),
        body=note,
        occurred_at=now,
    )
    return q


# ---------------------------------------------------------------- selectors


@dataclass(frozen=True)
class QualifyCard:
    customer: Customer
    qualification: Qualification | None
    suggested_type: str
    type_strategy: str
    suggested_strategy: str
    can_edit: bool


def strategy_text(customer_type: str) -> str:
    return gettext(STRATEGIES[customer_type]) if customer_type in STRATEGIES else ""


def qualify_card(viewer: User, customer_id: int) -> QualifyCard:
    """The customer's apple, their type (set and suggested) with its strategy. NotFound outside scope."""
    from huitou.customers.selectors import customer_get

    from .models import CustomerSegment

    customer = customer_get(viewer, customer_id)
    q = Qualification.objects.filter(customer_id=customer.pk).select_related("updated_by").first()
    suggested = (
        CustomerSegment.objects.filter(customer_id=customer.pk)
        .order_by("-as_of")
        .values_list("suggested_type", flat=True)
        .first()
    ) or ""
    return QualifyCard(
        customer=customer,
        qualification=q,
        suggested_type=suggested,
        type_strategy=strategy_text(customer.customer_type),
        suggested_strategy=strategy_text(suggested),
        can_edit=can_qualify(viewer) and customer.status != "erased",
    )


@dataclass(frozen=True)
class QualifyFilters:
    apple: str = ""
    store_id: int | None = None
    team_id: int | None = None
    rep_id: int | None = None
    status: str = ""


def _apply(qs: QuerySet[Any], f: QualifyFilters, prefix: str = "customer__") -> QuerySet[Any]:
    if f.store_id:
        qs = qs.filter(**{f"{prefix}store_id": f.store_id})
    if f.team_id:
        qs = qs.filter(**{f"{prefix}owner__team_id": f.team_id})
    if f.rep_id:
        qs = qs.filter(**{f"{prefix}owner_id": f.rep_id})
    if f.status:
        qs = qs.filter(**{f"{prefix}status": f.status})
    return qs


def qualified_list(viewer: User, f: QualifyFilters) -> QuerySet[Qualification]:
    """Qualified prospects and customers in the viewer's scope, most recently qualified first."""
    if not can_view(viewer):
        return Qualification.objects.none()
    qs = Qualification.objects.filter(
        permissions.customer_scope(viewer, "customer__"), organisation_id=permissions.org_id(viewer)
    )
    if f.apple in APPLES:
        qs = qs.filter(apple=f.apple)
    qs = _apply(qs, f)
    return qs.select_related("customer", "customer__owner", "customer__store", "updated_by").order_by(
        "-updated_at", "-id"
    )


def apple_counts(viewer: User, f: QualifyFilters) -> dict[str, int]:
    """How many qualified customers of each apple the list holds (without its apple filter)."""
    if not can_view(viewer):
        return dict.fromkeys(APPLES, 0)
    qs = Qualification.objects.filter(
        permissions.customer_scope(viewer, "customer__"), organisation_id=permissions.org_id(viewer)
    )
    qs = _apply(qs, QualifyFilters(store_id=f.store_id, team_id=f.team_id, rep_id=f.rep_id, status=f.status))
    counts = dict.fromkeys(APPLES, 0)
    for row in qs.values("apple").order_by().annotate(n=Count("id")):
        counts[row["apple"]] = row["n"]
    return counts


def apple_counts_by_rep(viewer: User, f: QualifyFilters) -> list[dict[str, Any]]:
    """Qualified customers per owner rep and apple (one GROUP BY), reps by name."""
    from huitou.accounts.models import User as UserModel

    if not can_view(viewer):
        return []
    qs = Qualification.objects.filter(
        permissions.customer_scope(viewer, "customer__"), organisation_id=permissions.org_id(viewer)
    )
    qs = _apply(qs, QualifyFilters(store_id=f.store_id, team_id=f.team_id, rep_id=f.rep_id, status=f.status))
    table: dict[int | None, dict[str, int]] = {}
    for row in qs.values("customer__owner_id", "apple").order_by().annotate(n=Count("id")):
        table.setdefault(row["customer__owner_id"], dict.fromkeys(APPLES, 0))[row["apple"]] = row["n"]
    names = {u.pk: str(u) for u in UserModel.objects.filter(pk__in=[k for k in table if k])}
    rows = [
        {"rep_id": pk, "rep": names.get(pk, "") if pk else "", "counts": [counts[a] for a in APPLES]}
        for pk, counts in table.items()
    ]
    return sorted(rows, key=lambda r: (r["rep"], r["rep_id"] or 0))


@dataclass(frozen=True)
class TimeRow:
    rep_id: int
    rep: str
    minutes: tuple[float, float, float]
    shares: tuple[float, float, float]
    flags: tuple[bool, bool, bool]
    total: float

    @property
    def off_target(self) -> bool:
        return any(self.flags)


@dataclass(frozen=True)
class TimeSplit:
    rows: list[TimeRow]
    targets: tuple[int, int, int]
    total_minutes: tuple[float, float, float] = (0.0, 0.0, 0.0)
    total_shares: tuple[float, float, float] = (0.0, 0.0, 0.0)
    minutes_per_kind: dict[str, int] = field(default_factory=dict)


def time_split(
    viewer: User,
    *,
    start: dt.date,
    end: dt.date,
    store_id: int | None = None,
    team_id: int | None = None,
    rep_id: int | None = None,
) -> TimeSplit:
    """Each rep's minutes on red, green and rotten apples in the period, against the policy.

    One GROUP BY (person, apple, kind) over the touches on qualified customers in the viewer's
    scope, made by people in the viewer's scope; the arithmetic is numpy.
    """
    from huitou.accounts.models import User as UserModel
    from huitou.customers.models import Activity
    from huitou.customers.selectors import users_in_scope

    policy = viewer.organisation.policy.segments  # type: ignore[union-attr]
    targets = (policy.apple_red_min_pct, policy.apple_green_min_pct, policy.apple_rotten_max_pct)
    per_kind = minutes_per_kind(policy)
    if not can_view_time(viewer):
        return TimeSplit(rows=[], targets=targets, minutes_per_kind=per_kind)
    lo, hi = period_bounds(start, end)
    people = users_in_scope(viewer)
    if store_id:
        people = people.filter(store_id=store_id)
    if team_id:
        people = people.filter(team_id=team_id)
    if rep_id:
        people = people.filter(pk=rep_id)
    rows = list(
        Activity.objects.filter(
            permissions.customer_scope(viewer, "customer__"),
            organisation_id=permissions.org_id(viewer),
            occurred_at__gte=lo,
            occurred_at__lt=hi,
            kind__in=[k for k, m in per_kind.items() if m > 0],
            customer__qualification__isnull=False,
            user_id__in=people.values("pk"),
        )
        .values_list("user_id", "customer__qualification__apple", "kind")
        .order_by()
        .annotate(n=Count("id"))
    )
    if not rows:
        return TimeSplit(rows=[], targets=targets, minutes_per_kind=per_kind)
    user_ids = sorted({r[0] for r in rows})
    position = {pk: i for i, pk in enumerate(user_ids)}
    apple_pos = {a: i for i, a in enumerate(APPLES)}
    matrix = split_minutes(
        [position[r[0]] for r in rows],
        [apple_pos[r[1]] for r in rows],
        [per_kind[r[2]] * r[3] for r in rows],
        len(user_ids),
    )
    shares = split_shares(matrix)
    flags = off_target(shares, red_min=targets[0], green_min=targets[1], rotten_max=targets[2])
    names = {u.pk: str(u) for u in UserModel.objects.filter(pk__in=user_ids)}
    out = [
        TimeRow(
            rep_id=pk,
            rep=names.get(pk, str(pk)),
            minutes=(float(matrix[i, 0]), float(matrix[i, 1]), float(matrix[i, 2])),
            shares=(float(shares[i, 0]), float(shares[i, 1]), float(shares[i, 2])),
            flags=(bool(flags[i, 0]), bool(flags[i, 1]), bool(flags[i, 2])),
            total=float(matrix[i].sum()),
        )
        for i, pk in enumerate(user_ids)
    ]
    out.sort(key=lambda r: (r.rep, r.rep_id))
    total = matrix.sum(axis=0)
    total_shares = split_shares(total.reshape(1, -1))[0]
    return TimeSplit(
        rows=out,
        targets=targets,
        total_minutes=(float(total[0]), float(total[1]), float(total[2])),
        total_shares=(float(total_shares[0]), float(total_shares[1]), float(total_shares[2])),
        minutes_per_kind=per_kind,
    )


def teams_in_scope(viewer: User) -> list[tuple[int, str]]:
    from huitou.accounts.models import Team

    if not permissions.is_active_member(viewer) or viewer.role == permissions.REP:
        return []
    qs = Team.objects.filter(organisation_id=permissions.org_id(viewer))
    if viewer.role == permissions.MANAGER:
        qs = qs.filter(Q(store_id=viewer.store_id) | Q(manager_id=viewer.pk))
    return [(t.pk, t.name) for t in qs.order_by("name")]


def apple_choices() -> Sequence[tuple[str, Any]]:
    return Qualification.Apple.choices
