"""Writes of the crisis-signal part (DOMAIN §4): the nightly risk snapshot, win-back attempts and
termination reasons.

The snapshot gathers every signal with a handful of grouped queries per organisation (no query per
customer), fits BG/NBD once on the organisation's purchase summary and scores in numpy
(:mod:`huitou.analytics.risk`). Beside its rows it keeps the score chart's counts per owner, store
and score (``RiskScoreCount``), so that every viewer's chart is a sum of a few kept rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext

from huitou.accounts import permissions
from huitou.core.errors import Conflict, PermissionDenied, ValidationFailed
from huitou.customers import selectors as customer_selectors
from huitou.customers import services as customer_services
from huitou.customers.models import Activity, Customer, Purchase

from . import risk
from .models import CustomerLoss, CustomerRisk, RiskFill, RiskScoreCount, WinBack
from .services import PurchaseArrays, _texts, purchase_arrays, write_columns

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User

    from .nightly import Clock

# Words that mark a logged touch as a competitor contact, and the tag names that do the same
# (the timeline has no "competitor" kind; the lead may add one).
COMPETITOR_WORDS = ("竞品", "竞争对手", "competitor")
COMPETITOR_TAGS = ("竞品", "competitor")
# Signals read from the last year only (complaint answers, competitor mentions).
SIGNAL_WINDOW_DAYS = 365


def risk_settings(organisation: Organisation) -> dict[str, Any]:
    """Weights, list threshold and save window from the organisation's policy (``policy.risk``)."""
    policy = organisation.policy.risk
    return {
        "weights": {signal: float(getattr(policy, f"weight_{signal}")) for signal in risk.SIGNALS},
        "threshold": policy.threshold,
        "save_days": policy.save_days,
    }


# ---------------------------------------------------------------------------------------------
# Nightly snapshot


def _purchase_figures(purchases: PurchaseArrays) -> dict[str, Any]:
    """Per customer with a purchase up to the day: first and last purchase day, distinct purchase
    days, spend (cents) in the last 12 months and the 12 before, and the earliest due date of an
    unpaid purchase before the day (0 when none)."""
    ids, starts, new_day = purchases.groups()
    as_of = purchases.as_of.toordinal()
    if len(ids) == 0:
        empty = np.zeros(0, np.int64)
        return {k: empty for k in ("ids", "first", "last", "days", "last12", "prev12", "due")}
    day, amount = purchases.day, purchases.amount
    due = np.where(purchases.due < as_of, purchases.due, np.iinfo(np.int32).max)
    earliest_due = np.minimum.reduceat(due, starts).astype(np.int64)
    return {
        "ids": ids,
        "first": day[starts].astype(np.int64),  # sorted by day within each customer
        "last": np.maximum.reduceat(day, starts).astype(np.int64),
        "days": np.add.reduceat(new_day.astype(np.int64), starts),
        "last12": np.add.reduceat(np.where(day > as_of - 365, amount, 0), starts),
        "prev12": np.add.reduceat(np.where((day > as_of - 730) & (day <= as_of - 365), amount, 0), starts),
        "due": np.where(earliest_due == np.iinfo(np.int32).max, 0, earliest_due),
    }


def _feedback_signals(
    organisation: Organisation, as_of: dt.date
) -> tuple[dict[int, list[int]], dict[int, int]]:
    """Open complaint ticket ids per customer, and low survey answers of the last year (audit
    calls excluded) per customer. Read from the feedback models directly, grouped."""
    from huitou.feedback.models import SurveyResponse, Ticket

    tickets: dict[int, list[int]] = defaultdict(list)
    for customer_id, ticket_id in (
        Ticket.objects.filter(
            organisation=organisation,
            kind=Ticket.Kind.COMPLAINT,
            status__in=(Ticket.Status.OPEN, Ticket.Status.REPLIED),
        )
        .order_by("customer_id", "id")
        .values_list("customer_id", "id")
    ):
        tickets[customer_id].append(ticket_id)
    since = timezone.make_aware(
        dt.datetime.combine(as_of - dt.timedelta(days=SIGNAL_WINDOW_DAYS - 1), dt.time.min)
    )
    until = timezone.make_aware(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min))
    low = dict(
        SurveyResponse.objects.filter(
            organisation=organisation, low=True, audit=False, submitted_at__gte=since, submitted_at__lt=until
        )
        .values("customer_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("customer_id", "n")
    )
    return tickets, low


def _competitor_contacts(organisation: Organisation, as_of: dt.date) -> set[int]:
    tagged = set(
        Customer.objects.filter(organisation=organisation, tags__name__in=COMPETITOR_TAGS).values_list(
            "id", flat=True
        )
    )
    since = timezone.make_aware(
        dt.datetime.combine(as_of - dt.timedelta(days=SIGNAL_WINDOW_DAYS - 1), dt.time.min)
    )
    until = timezone.make_aware(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min))
    words = Q()
    for word in COMPETITOR_WORDS:
        words |= Q(subject__icontains=word) | Q(body__icontains=word)
    mentioned = set(
        Activity.objects.filter(
            words, organisation=organisation, occurred_at__gte=since, occurred_at__lt=until
        )
        .exclude(kind=Activity.Kind.SYSTEM)
        .values_list("customer_id", flat=True)
        .distinct()
    )
    return tagged | mentioned


_SNAPSHOT_COLUMNS = (
    "organisation",
    "as_of",
    "customer",
    "owner",
    "store",
    "score",
    "p_alive",
    "days_since_last",
    "gap_ratio",
    "spend_trend",
    "open_complaints",
    "low_satisfaction",
    "late_payment_days",
    "competitor_contact",
    "reasons",
)


def _opt(value: float, digits: int) -> Decimal | None:
    return None if math.isnan(value) else round(Decimal(repr(float(value))), digits)


def decimal_texts(values: FloatArray, digits: int) -> list[str | None]:
    """``str(_opt(v, digits))`` of every value, vectorised: the text of the value rounded half-even
    at its shortest decimal repr (None for NaN). Formatting the binary value rounds the same way
    except at a decimal tie, so the few values near one (or too large to tell) go through Decimal."""
    scaled = values * 10.0**digits
    with np.errstate(invalid="ignore"):
        near_tie = (np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6) | (np.abs(scaled) > 1e9)
    fmt = f"{{:.{digits}f}}".format
    out: list[str | None] = [None if v != v else fmt(v) for v in values.tolist()]
    for k in np.flatnonzero(near_tie).tolist():
        out[k] = str(_opt(float(values[k]), digits))
    return out


def _ticket_columns(ids: IntArray, tickets: dict[int, list[int]]) -> tuple[IntArray, IntArray]:
    """Open complaints per customer, and the first three ticket ids (0 where fewer)."""
    n = len(ids)
    count = np.zeros(n, dtype=np.int64)
    first = np.zeros((n, 3), dtype=np.int64)
    if tickets:
        owners = np.fromiter(tickets.keys(), dtype=np.int64, count=len(tickets))
        pos = np.searchsorted(ids, owners)
        for k, (p, ticket_ids) in enumerate(zip(pos.tolist(), tickets.values(), strict=True)):
            if p < n and ids[p] == owners[k]:
                count[p] = len(ticket_ids)
                first[p, : min(3, len(ticket_ids))] = ticket_ids[:3]
    return count, first


def _count_column(ids: IntArray, counts: dict[int, int]) -> IntArray:
    out = np.zeros(len(ids), dtype=np.int64)
    if counts:
        keys = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        pos = np.minimum(np.searchsorted(ids, keys), max(len(ids) - 1, 0))
        hit = ids[pos] == keys if len(ids) else np.zeros(len(keys), dtype=bool)
        out[pos[hit]] = values[hit]
    return out


# Reason slots in the order risk.customer_reasons adds them: it sorts by contribution, ties in
# that order.
_SLOTS = (
    "alive",
    "gap",
    "spend",
    "complaint",
    "complaint",
    "complaint",
    "satisfaction",
    "late",
    "competitor",
)


# The reason codes of ``reason_masks``, in the order of the signals (the chart's order too).
REASON_CODES = ("alive", "gap", "spend", "complaint", "satisfaction", "late", "competitor")


def reason_masks(
    *,
    p_alive: FloatArray,
    gap_ratio: FloatArray,
    spend_trend: FloatArray,
    tickets: IntArray,
    low_satisfaction: IntArray,
    late_days: IntArray,
    competitor: npt.NDArray[np.bool_],
) -> dict[str, npt.NDArray[np.bool_]]:
    """Which customers carry each reason code of ``risk.customer_reasons`` ("gap" covers a gap
    measured on the customer's own rhythm and on the organisation's)."""
    with np.errstate(invalid="ignore"):
        return {
            "alive": ~np.isnan(p_alive) & (p_alive < risk.ALIVE_REASON_BELOW),
            "gap": ~np.isnan(gap_ratio) & (gap_ratio > 1.0),
            "spend": ~np.isnan(spend_trend) & (spend_trend < 0),
            "complaint": np.asarray((tickets > 0).any(axis=1), dtype=bool),
            "satisfaction": low_satisfaction > 0,
            "late": late_days > 0,
            "competitor": np.asarray(competitor, dtype=bool),
        }


def _numbered(ids: IntArray) -> tuple[IntArray, IntArray]:
    """The distinct values of the non-negative ``ids`` (user, store or pair numbers, not many) and
    each id's position among them, without sorting the million: a presence table as long as the
    largest id."""
    if len(ids) == 0:
        return ids, ids
    present = np.zeros(int(ids.max()) + 1, dtype=bool)
    present[ids] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[ids]


def score_counts(
    *,
    scores: IntArray,
    masks: dict[str, npt.NDArray[np.bool_]],
    counted: npt.NDArray[np.bool_],
    owners: IntArray,
    stores: IntArray,
) -> dict[str, IntArray]:
    """The ``RiskScoreCount`` rows of a snapshot, column by column: over the ``counted`` customers
    (the active ones), the customers of each owner, store and score (0–100) and, per reason code
    (``REASON_CODES``, the keys of ``reason_masks``), those of them carrying it. ``owners`` and
    ``stores`` hold 0 where the customer has none. Grouped in numpy without a sort: the owners,
    the stores and then the owner-and-store pairs met are numbered (``_numbered``), each customer
    gets the key pair × 101 + score, and the keys are counted with ``np.bincount`` (pairs × 101
    bins); no Python loop over the customers."""
    s = np.clip(scores[counted].astype(np.int64), 0, 100)
    owner_values, owner_at = _numbered(owners[counted].astype(np.int64))
    store_values, store_at = _numbered(stores[counted].astype(np.int64))
    n_stores = max(len(store_values), 1)
    pair_values, pair_at = _numbered(owner_at * n_stores + store_at)
    key = pair_at * 101 + s
    bins = len(pair_values) * 101
    customers = np.bincount(key, minlength=bins)
    kept = np.flatnonzero(customers)
    pair = pair_values[kept // 101]
    out: dict[str, IntArray] = {
        "owner": owner_values[pair // n_stores] if len(pair) else pair,
        "store": store_values[pair % n_stores] if len(pair) else pair,
        "score": (kept % 101).astype(np.int64),
        "customers": customers[kept].astype(np.int64),
    }
    for code in REASON_CODES:
        out[code] = np.bincount(key[masks[code][counted]], minlength=bins)[kept].astype(np.int64)
    return out


# The columns of ``RiskScoreCount`` after the day's key, in ``score_counts``' names.
_COUNT_COLUMNS = ("owner", "store", "score", "customers", *REASON_CODES)


def _optional_texts(ids: IntArray) -> list[str | None]:
    """COPY texts of an optional key column whose missing values are 0 (no row has id 0)."""
    return [str(v) if v else None for v in ids.tolist()]


def _write_score_counts(organisation: Organisation, as_of: dt.date, counts: dict[str, IntArray]) -> int:
    """Replace the day's ``RiskScoreCount`` rows (a few tens of thousands at most)."""
    RiskScoreCount.objects.filter(organisation=organisation, as_of=as_of).delete()
    return write_columns(
        RiskScoreCount,
        ("organisation", "as_of", *_COUNT_COLUMNS),
        [
            str(organisation.pk),
            as_of.isoformat(),
            _optional_texts(counts["owner"]),
            _optional_texts(counts["store"]),
            *(_texts(counts[name]) for name in _COUNT_COLUMNS[2:]),
        ],
    )


def reasons_json(
    *,
    weights: dict[str, float],
    p_alive: FloatArray,
    days_since_last: IntArray,
    gap_ratio: FloatArray,
    own_gap: npt.NDArray[np.bool_],
    spend_trend: FloatArray,
    tickets: IntArray,
    low_satisfaction: IntArray,
    late_days: IntArray,
    competitor: npt.NDArray[np.bool_],
    masks: dict[str, npt.NDArray[np.bool_]],
) -> list[str]:
    """Every customer's ``risk.customer_reasons`` as JSON text, computed column by column: each
    reason's text once per customer that has it, then the texts joined in contribution order
    (one join per distinct order, not per customer). ``masks``: ``reason_masks`` of the same
    columns (the risk phase also counts the chart from them)."""
    n = len(p_alive)
    present = np.zeros((n, len(_SLOTS)), dtype=bool)
    strength = np.zeros((n, len(_SLOTS)))
    texts: list[list[str] | None] = [None] * len(_SLOTS)

    def slot(k: int, mask: npt.NDArray[np.bool_], value: FloatArray | float, text: list[str]) -> None:
        present[:, k] = mask
        strength[:, k] = value
        full: list[str] = [""] * n
        for i, t in zip(np.flatnonzero(mask).tolist(), text, strict=True):
            full[i] = t
        texts[k] = full

    with np.errstate(invalid="ignore"):
        m = masks["alive"]
        pct = np.rint(p_alive[m] * 100).astype(np.int64).tolist()
        slot(0, m, 1.0 - p_alive, [f'{{"code": "alive", "pct": {v}}}' for v in pct])
        m = masks["gap"]
        code = np.where(own_gap[m], "gap", "gap_org").tolist()
        text = [
            f'{{"code": "{c}", "days": {d}, "ratio": {round(r, 1)!r}}}'
            for c, d, r in zip(code, days_since_last[m].tolist(), gap_ratio[m].tolist(), strict=True)
        ]
        slot(1, m, np.minimum((gap_ratio - 1.0) / (risk.GAP_FULL_RATIO - 1.0), 1.0), text)
        m = masks["spend"]
        pct = np.rint(-spend_trend[m] * 100).astype(np.int64).tolist()
        slot(2, m, np.minimum(-spend_trend, 1.0), [f'{{"code": "spend", "pct": {v}}}' for v in pct])
    for j in range(3):
        m = tickets[:, j] > 0
        slot(3 + j, m, 1.0, [f'{{"code": "complaint", "ticket": {t}}}' for t in tickets[m, j].tolist()])
    m = masks["satisfaction"]
    slot(6, m, 1.0, [f'{{"code": "satisfaction", "n": {v}}}' for v in low_satisfaction[m].tolist()])
    m = masks["late"]
    text = [f'{{"code": "late", "days": {v}}}' for v in late_days[m].tolist()]
    slot(7, m, np.minimum(late_days / risk.LATE_FULL_DAYS, 1.0), text)
    slot(8, masks["competitor"], 1.0, ['{"code": "competitor"}'] * int(competitor.sum()))

    contribution = np.array([weights.get(s, 0.0) for s in _SLOTS]) * strength
    key = np.where(present, -contribution, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    seq = np.where(np.take_along_axis(present, order, axis=1), order, len(_SLOTS))
    out = ["[]"] * n
    any_reason = present.any(axis=1)
    rows = np.flatnonzero(any_reason)
    if len(rows) == 0:
        return out
    patterns, inverse = np.unique(seq[rows], axis=0, return_inverse=True)
    inverse = inverse.ravel()
    by_pattern = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[by_pattern], np.arange(len(patterns) + 1))
    for p, pattern in enumerate(patterns.tolist()):
        members = rows[by_pattern[bounds[p] : bounds[p + 1]]].tolist()
        parts = [texts[k] for k in pattern if k < len(_SLOTS)]
        for i in members:
            out[i] = "[" + ", ".join([part[i] for part in parts]) + "]"  # type: ignore[index]
    return out


def risk_refresh(*, organisation: Organisation, as_of: dt.date, clock: Clock | None = None) -> dict[str, Any]:
    """Compute the risk snapshot of ``organisation`` as of ``as_of``, then settle win-backs (saves
    and expiries) and won-back losses up to that day. Running it again replaces the snapshot of
    that day; a failed run leaves a ``failed`` fill row and the previous complete day in use."""
    from .nightly import running_fill

    with running_fill(RiskFill, organisation, as_of) as fill:
        return _refresh(organisation, as_of, fill, clock)


@transaction.atomic
def _refresh(
    organisation: Organisation, as_of: dt.date, fill: RiskFill, clock: Clock | None
) -> dict[str, Any]:
    from .nightly import lap

    settings = risk_settings(organisation)
    weights = settings["weights"]
    # The customers still in the archive (not merged away, not erased), ordered by id.
    kept = list(
        Customer.objects.filter(organisation=organisation, merged_into__isnull=True)
        .exclude(status=Customer.Status.ERASED)
        .order_by("id")
        .values_list("id", "owner_id", "store_id", "status")
    )
    kept_ids = np.fromiter((c[0] for c in kept), dtype=np.int64, count=len(kept))
    kept_owners = np.fromiter((c[1] or 0 for c in kept), dtype=np.int64, count=len(kept))
    kept_stores = np.fromiter((c[2] or 0 for c in kept), dtype=np.int64, count=len(kept))
    fig = _purchase_figures(purchase_arrays(organisation.pk, as_of))
    at = np.minimum(np.searchsorted(kept_ids, fig["ids"]), max(len(kept_ids) - 1, 0))
    keep = kept_ids[at] == fig["ids"] if len(kept_ids) else np.zeros(len(fig["ids"]), dtype=bool)
    ids = fig["ids"][keep]
    kept_rows = at[keep]
    kept_at = kept_rows.tolist()
    n = len(ids)
    as_of_ord = as_of.toordinal()
    first, last, days = fig["first"][keep], fig["last"][keep], fig["days"][keep]
    # Exact: cents over 100 give the double nearest the decimal sum, as float(Decimal) did.
    last12 = fig["last12"][keep] / 100.0
    prev12 = fig["prev12"][keep] / 100.0
    due = fig["due"][keep]
    late = np.where(due > 0, as_of_ord - due, 0)
    since = as_of_ord - last
    tickets, low = _feedback_signals(organisation, as_of)
    competitors = _competitor_contacts(organisation, as_of)
    lap(clock, "read")

    p_alive, model = risk.p_alive_bgnbd(days, first, last, as_of_ord)
    lap(clock, "fit")
    if model and not risk.dropout_identified(model):
        # Everyone alive by the model (regular visits): the gap signal carries the drift alone.
        weights = {**weights, "alive": 0.0}
        model = {**model, "alive_signal_used": False}
    ratio, expected, own = risk.gap_ratios(since, days, last - first)
    trend = risk.spend_trends(last12, prev12)
    complaints, first_tickets = _ticket_columns(ids, tickets)
    low_n = _count_column(ids, low)
    competitor = np.isin(ids, np.fromiter(competitors, dtype=np.int64, count=len(competitors)))
    scores = risk.risk_scores(
        risk.RiskInputs(
            p_alive=p_alive,
            gap_ratio=ratio,
            spend_trend=trend,
            open_complaints=complaints,
            low_satisfaction=low_n,
            late_days=late,
            competitor=competitor,
        ),
        weights,
    )
    masks = reason_masks(
        p_alive=p_alive,
        gap_ratio=ratio,
        spend_trend=trend,
        tickets=first_tickets,
        low_satisfaction=low_n,
        late_days=late,
        competitor=competitor,
    )
    reasons = reasons_json(
        masks=masks,
        weights=weights,
        p_alive=p_alive,
        days_since_last=since,
        gap_ratio=ratio,
        own_gap=own,
        spend_trend=trend,
        tickets=first_tickets,
        low_satisfaction=low_n,
        late_days=late,
        competitor=competitor,
    )
    active = np.fromiter(
        (kept[i][3] == Customer.Status.ACTIVE for i in kept_at), dtype=bool, count=len(kept_at)
    )
    owners, stores = kept_owners[kept_rows], kept_stores[kept_rows]
    counts = score_counts(scores=scores, masks=masks, counted=active, owners=owners, stores=stores)
    columns = [
        str(organisation.pk),
        as_of.isoformat(),
        _texts(ids),
        _optional_texts(owners),
        _optional_texts(stores),
        _texts(scores),
        decimal_texts(p_alive, 4),
        _texts(since),
        decimal_texts(ratio, 2),
        decimal_texts(trend, 4),
        _texts(complaints),
        _texts(low_n),
        _texts(late),
        ["t" if c else "f" for c in competitor.tolist()],
        reasons,
    ]
    lap(clock, "compute")
    CustomerRisk.objects.filter(organisation=organisation, as_of=as_of).delete()
    write_columns(CustomerRisk, _SNAPSHOT_COLUMNS, columns)
    _write_score_counts(organisation, as_of, counts)
    settled = _settle(organisation, as_of, settings["save_days"])
    lap(clock, "write")

    at_risk = int((scores >= settings["threshold"]).sum())
    own_gaps = expected[own]
    fill.summary = {
        "model": model,
        "median_gap_days": round(float(np.median(own_gaps)), 1) if own_gaps.size else None,
        "weights": weights,
        "threshold": settings["threshold"],
    }
    fill.status = RiskFill.Status.DONE
    fill.finished_at = timezone.now()
    fill.customers = n
    fill.at_risk = at_risk
    fill.save(update_fields=["status", "finished_at", "customers", "at_risk", "summary"])
    return {
        "organisation": organisation.slug,
        "as_of": as_of.isoformat(),
        "customers": n,
        "at_risk": at_risk,
        "fitted": bool(model),
        **settled,
    }


def _settle(organisation: Organisation, as_of: dt.date, save_days: int) -> dict[str, int]:
    """Win-backs whose customer bought within ``save_days`` of the start become saves; open ones
    past the window expire; losses whose customer bought again or is active again are won back.
    Three or four UPDATEs, whatever the number of rows."""
    now = timezone.now()
    open_ = list(
        WinBack.objects.filter(organisation=organisation, status=WinBack.Status.OPEN).values_list(
            "id", "customer_id", "started_on"
        )
    )
    saved = expired = 0
    if open_:
        # Open win-backs are few (the at-risk customers someone is working on): one read of their
        # customers' purchases since the earliest start, then one UPDATE per save day.
        earliest = min(r[2] for r in open_)
        buys: dict[int, list[dt.date]] = defaultdict(list)
        for customer_id, day in (
            Purchase.objects.filter(
                customer_id__in=[r[1] for r in open_], ordered_on__gt=earliest, ordered_on__lte=as_of
            )
            .order_by("customer_id", "ordered_on")
            .values_list("customer_id", "ordered_on")
        ):
            buys[customer_id].append(day)
        by_day: dict[dt.date, list[int]] = defaultdict(list)
        late: list[int] = []
        for pk, customer_id, started in open_:
            window_end = started + dt.timedelta(days=save_days)
            hit = next((d for d in buys.get(customer_id, ()) if started < d <= window_end), None)
            if hit is not None:
                by_day[hit].append(pk)
            elif window_end < as_of:
                late.append(pk)
        for day, pks in by_day.items():
            saved += WinBack.objects.filter(pk__in=pks, status=WinBack.Status.OPEN).update(
                status=WinBack.Status.SAVED, saved_on=day, closed_at=now
            )
        if late:
            expired = WinBack.objects.filter(pk__in=late, status=WinBack.Status.OPEN).update(
                status=WinBack.Status.EXPIRED, closed_at=now
            )
    again = Purchase.objects.filter(
        customer_id=OuterRef("customer_id"), ordered_on__gt=OuterRef("lost_on"), ordered_on__lte=as_of
    )
    pending = CustomerLoss.objects.filter(organisation=organisation, won_back_on__isnull=True)
    won = pending.filter(Exists(again)).update(
        won_back_on=Subquery(again.order_by("ordered_on").values("ordered_on")[:1])
    )
    reactivated = Customer.objects.filter(pk=OuterRef("customer_id"), status=Customer.Status.ACTIVE)
    won += pending.filter(Exists(reactivated)).update(won_back_on=as_of)
    return {"saves": saved, "expired": expired, "won_back": won}


# ---------------------------------------------------------------------------------------------
# Win-back and termination


def _(text: str) -> str:
    return text


# The win-back playbook of DOMAIN §4, one script per approach; translated when the task is made.
PLAYBOOK: dict[str, str] = {
    WinBack.Approach.CONCESSION: _(
        "Find out what went wrong and offer a concession: price, quality (repair, replacement), "
        "service, or payment terms such as instalments. A concession beyond your authority needs "
        "your manager's approval before you offer it."
    ),
    WinBack.Approach.UP: _(
        "Escalate up: ask for a meeting with the customer's superior, show what we did for them "
        "and what we will do better."
    ),
    WinBack.Approach.THIRD_PARTY: _(
        "Go through a third party the customer trusts (the referrer, a friend, an association) to "
        "learn the real reason and open the door again."
    ),
    WinBack.Approach.DOWN: _(
        "Escalate down: talk with the people who use the product every day; their satisfaction "
        "brings the decision makers back."
    ),
}
WINBACK_ROLES = permissions.WRITE_ROLES


def _latest_score(customer_id: int) -> int:
    score = (
        CustomerRisk.objects.filter(customer_id=customer_id)
        .order_by("-as_of")
        .values_list("score", flat=True)
        .first()
    )
    return int(score or 0)


@transaction.atomic
def winback_start(
    *,
    actor: User,
    customer_id: int,
    approach: str,
    due_on: dt.date | None = None,
    today: dt.date | None = None,
) -> WinBack:
    """Start a win-back: a call task for the customer's rep in the contact plan, with the
    playbook's script of ``approach``. One open win-back per customer (Conflict otherwise)."""
    customer = customer_selectors.customer_get(actor, customer_id)
    if actor.role not in WINBACK_ROLES:
        raise PermissionDenied("your role cannot start win-backs")
    if approach not in WinBack.Approach.values:
        raise ValidationFailed({"approach": [f"unknown approach {approach!r}"]})
    if customer.status == Customer.Status.ERASED:
        raise ValidationFailed({"customer": ["this customer was erased"]})
    today = today or timezone.localdate()
    if WinBack.objects.filter(customer_id=customer.pk, status=WinBack.Status.OPEN).exists():
        raise Conflict("a win-back of this customer is already open")
    from huitou.followups.services import task_create

    assignee = customer.owner_id if customer.owner_id and actor.role != permissions.REP else None
    score = _latest_score(customer.pk)
    task = task_create(
        actor=actor,
        customer_id=customer.pk,
        kind="call",
        title=gettext("Win back %(name)s") % {"name": customer.name},
        due_on=due_on or timezone.localdate(),
        script=gettext(PLAYBOOK[approach]),
        assignee_id=assignee,
        priority=80,
    )
    try:
        with transaction.atomic():
            return WinBack.objects.create(
                organisation_id=customer.organisation_id,
                customer=customer,
                rep_id=customer.owner_id,
                task=task,
                approach=approach,
                score_at_start=score,
                customer_was_lost=customer.status == Customer.Status.LOST,
                started_on=today,
                started_by=actor,
            )
    except IntegrityError as exc:  # a second request raced past the check above
        raise Conflict("a win-back of this customer is already open") from exc


@transaction.atomic
def customer_mark_lost(
    *, actor: User, customer_id: int, reason: str, note: str = "", today: dt.date | None = None
) -> CustomerLoss:
    """Record that a customer is lost and why (DOMAIN §4): the customer's status and lost reason
    through the customers app's service, a ``CustomerLoss`` row, and any open win-back closed."""
    customer = customer_selectors.customer_get(actor, customer_id)
    if actor.role not in WINBACK_ROLES:
        raise PermissionDenied("your role cannot mark customers lost")
    if reason not in CustomerLoss.Reason.values:
        raise ValidationFailed({"reason": [f"unknown reason {reason!r}"]})
    if customer.status == Customer.Status.LOST:
        raise Conflict("this customer is already marked lost")
    if customer.status == Customer.Status.ERASED:
        raise ValidationFailed({"customer": ["this customer was erased"]})
    note = note.strip()[:255]
    label = str(CustomerLoss.Reason(reason).label)
    customer_services.customer_update(
        actor=actor,
        customer_id=customer.pk,
        data={"status": Customer.Status.LOST, "lost_reason": (f"{label}: {note}" if note else label)[:255]},
    )
    loss = CustomerLoss.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        rep_id=customer.owner_id,
        reason=reason,
        note=note,
        lost_on=today or timezone.localdate(),
        recorded_by=actor,
    )
    WinBack.objects.filter(customer_id=customer.pk, status=WinBack.Status.OPEN).update(
        status=WinBack.Status.LOST, closed_at=timezone.now()
    )
    return loss


def risk_refresh_all(*, as_of: dt.date) -> dict[str, int]:
    """Every organisation's risk snapshot; one failure does not stop the others."""
    import logging

    from huitou.accounts.models import Organisation

    logger = logging.getLogger(__name__)
    done = failed = 0
    for org in Organisation.objects.order_by("id"):
        try:
            risk_refresh(organisation=org, as_of=as_of)
            done += 1
        except Exception:
            failed += 1
            logger.exception("risk refresh failed for organisation %s", org.slug)
    return {"organisations": done, "failed": failed}
