"""The satisfaction measures (DOMAIN §6): CVP and its award, importance–satisfaction quadrants,
perceived ÷ expected over time, and the gaming check. Counting and averaging are GROUP BYs in the
database (over the indexed copies kept on responses and answers); the rules are in ``scoring``.

Months: a survey counts in the month of the event it asks about (the delivery, the visit), so a
rep's CVP for March is about the cars delivered in March, whenever the customer answered.

Who sees what: per-rep figures follow the people a viewer reviews (a rep their own, a manager
their teams' and store's, the owner everyone: ``followups.compliance.people_scope``); the
per-store and per-factor aggregates are for the owner, managers and the DCRC.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Avg, Count, Q, Sum

from huitou.accounts import permissions
from huitou.core.errors import PermissionDenied, ValidationFailed
from huitou.core.months import month_first as month_start
from huitou.core.months import month_last as month_end
from huitou.core.months import month_start_after as add_months
from huitou.followups.compliance import people_scope

from . import access, scoring
from .models import OVERALL, Answer, Question, QuestionKind, SurveyKind, SurveyResponse

if TYPE_CHECKING:
    from huitou.accounts.models import User

MAX_MONTHS = 36


def months(start: dt.date, end: dt.date) -> list[dt.date]:
    first, last = month_start(start), month_start(end)
    if last < first:
        raise ValidationFailed({"end": ["must not be before the start"]})
    out = []
    m = first
    while m <= last:
        out.append(m)
        m = add_months(m, 1)
        if len(out) > MAX_MONTHS:
            raise ValidationFailed({"end": [f"a period covers at most {MAX_MONTHS} months"]})
    return out


def _clean(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _label(username: str | None, display: str | None) -> str:
    return display or username or "—"


def _org(viewer: User) -> int:
    if not permissions.is_active_member(viewer):
        raise PermissionDenied("not a member")
    return permissions.org_id(viewer)


# ---------------------------------------------------------------------------------------------
# CVP


@dataclass(frozen=True)
class CvpRow:
    key: int | None  # rep or store id
    name: str
    period: dt.date
    answers: int
    top: int

    @property
    def cvp(self) -> float | None:
        return self.top / self.answers if self.answers else None


def _responses(org_id: int, kind: str, first: dt.date, last: dt.date) -> Any:
    return SurveyResponse.objects.filter(
        organisation_id=org_id,
        kind=kind,
        period__gte=first,
        period__lte=last,
        audit=False,
        overall__isnull=False,
    )


def cvp_by_rep(
    viewer: User, *, start: dt.date, end: dt.date, kind: str = SurveyKind.SALES, store_id: int | None = None
) -> list[CvpRow]:
    """Top-box share of the overall question per rep and month."""
    span = months(start, end)
    qs = _responses(_org(viewer), kind, span[0], span[-1]).filter(people_scope(viewer, "rep__"))
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    # Grouped by ids alone (a hash of a few thousand groups), named and sorted afterwards: grouping
    # and ordering by the names sorted every response on disk (3.5 s for 24 months at 1M).
    rows = list(
        qs.values("rep_id", "period")
        .annotate(answers=Count("*"), top=Count("top_box", filter=Q(top_box=True)))
        .order_by()
    )
    people = _people({r["rep_id"] for r in rows})
    out = [
        (
            people.get(r["rep_id"], ("", "—")),
            CvpRow(r["rep_id"], people.get(r["rep_id"], ("", "—"))[1], r["period"], r["answers"], r["top"]),
        )
        for r in rows
    ]
    return [row for _key, row in sorted(out, key=lambda x: (x[0][0], x[1].period))]


def _people(ids: set[int]) -> dict[int, tuple[str, str]]:
    """(username, label) per user id, in one query."""
    from huitou.accounts.models import User as UserModel

    return {
        pk: (username, _label(username, display))
        for pk, username, display in UserModel.objects.filter(pk__in=ids).values_list(
            "pk", "username", "display_name"
        )
    }


def cvp_by_store(viewer: User, *, start: dt.date, end: dt.date, kind: str = SurveyKind.SALES) -> list[CvpRow]:
    """Top-box share of the overall question per store and month. A rep sees their own store."""
    span = months(start, end)
    qs = _responses(_org(viewer), kind, span[0], span[-1])
    if not access.can_read_measures(viewer):
        qs = qs.filter(store_id=viewer.store_id) if viewer.store_id else qs.none()
    # As per rep: grouped by ids (no join, no sort of the responses), named afterwards.
    rows = list(
        qs.values("store_id", "period")
        .annotate(answers=Count("*"), top=Count("top_box", filter=Q(top_box=True)))
        .order_by()
    )
    from huitou.accounts.models import Store

    names = dict(Store.objects.filter(pk__in={r["store_id"] for r in rows}).values_list("pk", "name"))
    out = [
        CvpRow(r["store_id"], names.get(r["store_id"]) or "—", r["period"], r["answers"], r["top"])
        for r in rows
    ]
    return sorted(out, key=lambda r: (r.name, r.period))


def cvp_page(
    viewer: User,
    *,
    start: dt.date,
    end: dt.date,
    month: dt.date,
    kind: str = SurveyKind.SALES,
    store_id: int | None = None,
) -> tuple[list[CvpRow], list[CvpRow], list[AwardRow]]:
    """The CVP page's three tables — per rep and month, per store and month, the award of
    ``month`` — from one GROUP BY (rep, store, month) over the period's responses where the
    viewer reads the whole organisation's stores (the same rows ``cvp_by_rep``, ``cvp_by_store``
    and ``cvp_award`` return; three scans of the period before, 3.4–5.3× one scan at 1M)."""
    from huitou.accounts.models import Store
    from huitou.accounts.models import User as UserModel

    span = months(start, end)
    month = month_start(month)
    if not access.can_read_measures(viewer):  # a rep: their own store and their own rows
        return (
            cvp_by_rep(viewer, start=start, end=end, kind=kind, store_id=store_id),
            cvp_by_store(viewer, start=start, end=end, kind=kind),
            cvp_award(viewer, month=month, store_id=store_id),
        )
    award_inside = kind == SurveyKind.SALES and span[0] <= month <= span[-1]
    grid = list(
        _responses(_org(viewer), kind, span[0], span[-1])
        .values_list("rep_id", "store_id", "period")
        .annotate(answers=Count("*"), top=Count("top_box", filter=Q(top_box=True)))
        .order_by()
    )
    in_scope = set(UserModel.objects.filter(people_scope(viewer)).values_list("pk", flat=True))
    per_rep: dict[tuple[int, dt.date], list[int]] = defaultdict(lambda: [0, 0])
    per_store: dict[tuple[int | None, dt.date], list[int]] = defaultdict(lambda: [0, 0])
    for rep_id, row_store, period, answers, top in grid:
        cell = per_store[(row_store, period)]
        cell[0] += answers
        cell[1] += top
        if rep_id in in_scope and (store_id is None or row_store == store_id):
            cell = per_rep[(rep_id, period)]
            cell[0] += answers
            cell[1] += top
    people = _people({rep_id for rep_id, _p in per_rep})
    by_rep = sorted(
        (
            (people.get(rep_id, ("", "—"))[0], CvpRow(rep_id, people.get(rep_id, ("", "—"))[1], period, a, t))
            for (rep_id, period), (a, t) in per_rep.items()
        ),
        key=lambda x: (x[0], x[1].period),
    )
    names = dict(Store.objects.filter(pk__in={k for k, _p in per_store}).values_list("pk", "name"))
    by_store = sorted(
        (
            CvpRow(k, (names.get(k) if k is not None else None) or "—", period, a, t)
            for (k, period), (a, t) in per_store.items()
        ),
        key=lambda r: (r.name, r.period),
    )
    counts: dict[int, tuple[int, int]] | None = None
    if award_inside:
        # Every response of the month crediting the rep, whatever its store (as cvp_award).
        totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for rep_id, _store, period, answers, top in grid:
            if period == month and rep_id is not None:
                totals[rep_id][0] += answers
                totals[rep_id][1] += top
        counts = {k: (v[0], v[1]) for k, v in totals.items()}
    award = cvp_award(viewer, month=month, store_id=store_id, counts_by_rep=counts)
    return [row for _key, row in by_rep], by_store, award


@dataclass(frozen=True)
class AwardRow:
    rep_id: int
    name: str
    store: str
    month: dt.date
    payroll_month: dt.date
    answers: int
    top: int
    retail_cars: int
    wholesale_buyers: int
    units: int
    eligible: bool
    amount: Decimal

    @property
    def cvp(self) -> float | None:
        return self.top / self.answers if self.answers else None


def cars_sold(org_id: int, month: dt.date, wholesale_min: int, rep_ids: Any) -> dict[int, tuple[int, int]]:
    """(retail cars, wholesale buyers) per rep delivered in ``month``. A company taking at least
    ``wholesale_min`` cars from one rep in the month is one wholesale buyer: the award pays once
    for that customer's experience, not per car of a fleet. One GROUP BY rep and customer over the
    purchases alone, then the kind of the few customers with enough cars to be a fleet."""
    from huitou.customers.models import Customer, Purchase

    first, last = month_start(month), month_end(month)
    # ``sale_day`` is the delivery day kept by the database, with a covering index per
    # organisation (customers.Purchase): the month's sales are one index range, not a scan of
    # everything ordered in the half-year before (5 s for the owner at 1M customers before), and
    # no join to the customers (a hash of all of them, 1.5 s).
    pairs = (
        Purchase.objects.filter(
            organisation_id=org_id, rep_id__in=rep_ids, sale_day__gte=first, sale_day__lte=last
        )
        .exclude(kind=Purchase.Kind.SERVICE)
        .values("rep_id", "customer_id")
        .annotate(cars=Count("*"))  # not the id, which the covering index does not carry
        .order_by()
    )
    # Summed per rep in the database: one row per rep for the customers with fewer cars than a
    # fleet, one per possible fleet (a few) — not a row per (rep, customer) built in Python
    # (~30,000 a month at 1M customers: 60 ms of CPU).
    try:
        inner, params = pairs.query.sql_with_params()
    except EmptyResultSet:  # nobody to count
        return {}
    fleet = "CASE WHEN g.cars >= %s THEN g.customer_id END"
    # Only the ORM's own SQL and constant text are joined; every value is a bound parameter.
    sql = f"SELECT g.rep_id, {fleet}, SUM(g.cars) FROM ({inner}) g GROUP BY g.rep_id, {fleet}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [wholesale_min, *params, wholesale_min])
        rows = cursor.fetchall()
    fleets = {customer_id for _rep, customer_id, _cars in rows if customer_id is not None}
    companies = set(
        Customer.objects.filter(pk__in=fleets, kind=Customer.Kind.COMPANY).values_list("pk", flat=True)
    )
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for rep_id, customer_id, cars in rows:
        if customer_id is not None and customer_id in companies:
            out[rep_id][1] += 1
        else:
            out[rep_id][0] += int(cars)
    return {k: (v[0], v[1]) for k, v in out.items()}


def cvp_award(
    viewer: User,
    *,
    month: dt.date,
    store_id: int | None = None,
    counts_by_rep: dict[int, tuple[int, int]] | None = None,
) -> list[AwardRow]:
    """The CVP 100% award of a sales month for every rep the viewer reviews (DOMAIN §6, §9).
    ``counts_by_rep``: the month's (answers, very satisfied) of the sales survey per rep when the
    caller has them already (the CVP page, ``cvp_page``)."""
    from huitou.accounts.models import User as UserModel

    org_id = _org(viewer)
    policy = viewer.organisation.policy.feedback  # type: ignore[union-attr]
    month = month_start(month)
    reps = UserModel.objects.filter(people_scope(viewer), role__in=[permissions.REP, permissions.MANAGER])
    if store_id is not None:
        reps = reps.filter(store_id=store_id)
    people = {
        r["pk"]: r for r in reps.values("pk", "username", "display_name", "store__name").order_by("username")
    }
    if counts_by_rep is not None:
        counts = {pk: counts_by_rep[pk] for pk in people if pk in counts_by_rep}
    else:
        counts = {
            r["rep_id"]: (r["answers"], r["top"])
            for r in _responses(org_id, SurveyKind.SALES, month, month)
            .filter(rep_id__in=list(people))
            .values("rep_id")
            .annotate(answers=Count("*"), top=Count("top_box", filter=Q(top_box=True)))
            .order_by()
        }
    cars = cars_sold(org_id, month, policy.wholesale_min_cars, list(people))
    ids = [pk for pk in people if pk in counts or pk in cars]
    answers = np.array([counts.get(pk, (0, 0))[0] for pk in ids], dtype=np.int64)
    top = np.array([counts.get(pk, (0, 0))[1] for pk in ids], dtype=np.int64)
    retail = np.array([cars.get(pk, (0, 0))[0] for pk in ids], dtype=np.int64)
    wholesale = np.array([cars.get(pk, (0, 0))[1] for pk in ids], dtype=np.int64)
    units = scoring.award_units(retail, wholesale)
    eligible = scoring.award_eligible(answers, top, min_answers=policy.cvp_award_min_answers)
    payroll = add_months(month, policy.payroll_lag_months)
    out = []
    for i, pk in enumerate(ids):
        p = people[pk]
        ok = bool(eligible[i])
        out.append(
            AwardRow(
                rep_id=pk,
                name=_label(p["username"], p["display_name"]),
                store=p["store__name"] or "",
                month=month,
                payroll_month=payroll,
                answers=int(answers[i]),
                top=int(top[i]),
                retail_cars=int(retail[i]),
                wholesale_buyers=int(wholesale[i]),
                units=int(units[i]),
                eligible=ok,
                amount=(policy.cvp_award_per_car * int(units[i])) if ok else Decimal("0"),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Importance–satisfaction


@dataclass(frozen=True)
class FactorPoint:
    factor: str
    label: str
    importance: float
    importance_source: str  # "question" (mean of the importance answers) or "weight"
    satisfaction: float
    answers: int
    top_share: float | None
    quadrant: str


@dataclass(frozen=True)
class QuadrantResult:
    points: list[FactorPoint]
    importance_cut: float
    satisfaction_cut: float
    split: str


def _check_measures(viewer: User) -> int:
    org_id = _org(viewer)
    if not access.can_read_measures(viewer):
        raise PermissionDenied("the satisfaction analysis is for managers, the DCRC and the owner")
    return org_id


def _answers(org_id: int, kind: str, first: dt.date, last: dt.date, store_id: int | None) -> Any:
    qs = Answer.objects.filter(
        organisation_id=org_id, kind=kind, period__gte=first, period__lte=last, audit=False
    )
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    return qs


def factor_labels(org_id: int, kind: str) -> dict[str, str]:
    """A readable name per factor: the text of its question in the active survey (or any)."""
    labels: dict[str, str] = {}
    for factor, text in (
        Question.objects.filter(template__organisation_id=org_id, template__kind=kind, expectation=False)
        .exclude(kind=QuestionKind.IMPORTANCE)
        .order_by("-template__active", "template_id", "order")
        .values_list("factor", "text")
    ):
        labels.setdefault(factor, text)
    return labels


def quadrant_analysis(
    viewer: User, *, start: dt.date, end: dt.date, kind: str = SurveyKind.SALES, store_id: int | None = None
) -> QuadrantResult:
    """Every 5-level factor (the overall question aside) placed by importance and satisfaction.

    Importance is the mean answer to the factor's importance question where one was asked, else
    the factor's weight; satisfaction is the mean 5-level score. Split at the means of the
    factors or at the policy's fixed cut-offs (``feedback.quadrant_split``)."""
    org_id = _check_measures(viewer)
    policy = viewer.organisation.policy.feedback  # type: ignore[union-attr]
    span = months(start, end)
    rows = (
        _answers(org_id, kind, span[0], span[-1], store_id)
        .filter(
            Q(question_kind=QuestionKind.SCALE5, expectation=False)
            | Q(question_kind=QuestionKind.IMPORTANCE),
            score__isnull=False,
        )
        .exclude(factor=OVERALL)
        .values("factor", "question_kind")
        .annotate(n=Count("*"), mean=Avg("score"), top=Count("score", filter=Q(score=5)))
        .order_by()
    )
    sat: dict[str, tuple[int, float, int]] = {}
    asked_importance: dict[str, float] = {}
    for r in rows:
        if r["question_kind"] == QuestionKind.SCALE5:
            sat[r["factor"]] = (r["n"], float(r["mean"]), r["top"])
        else:
            asked_importance[r["factor"]] = float(r["mean"])
    weights = {
        r["factor"]: float(r["w"])
        for r in Question.objects.filter(
            template__organisation_id=org_id, template__kind=kind, kind=QuestionKind.SCALE5, expectation=False
        )
        .values("factor")
        .annotate(w=Avg("weight"))
        .order_by()
    }
    labels = factor_labels(org_id, kind)
    factors = sorted(sat)
    importance = np.array([asked_importance.get(f, weights.get(f, 3.0)) for f in factors], dtype=np.float64)
    satisfaction = np.array([sat[f][1] for f in factors], dtype=np.float64)
    imp_cut, sat_cut = scoring.quadrant_cuts(
        importance,
        satisfaction,
        split=policy.quadrant_split,
        importance_cut=policy.importance_cut,
        satisfaction_cut=policy.satisfaction_cut,
    )
    placed = scoring.quadrants(importance, satisfaction, imp_cut=imp_cut, sat_cut=sat_cut)
    points = [
        FactorPoint(
            factor=f,
            label=labels.get(f, f),
            importance=round(float(importance[i]), 4),
            importance_source="question" if f in asked_importance else "weight",
            satisfaction=round(float(satisfaction[i]), 4),
            answers=sat[f][0],
            top_share=sat[f][2] / sat[f][0] if sat[f][0] else None,
            quadrant=placed[i],
        )
        for i, f in enumerate(factors)
    ]
    return QuadrantResult(
        points=points,
        importance_cut=round(imp_cut, 4),
        satisfaction_cut=round(sat_cut, 4),
        split=policy.quadrant_split,
    )


# ---------------------------------------------------------------------------------------------
# Trend: perceived ÷ expected, CVP and mean overall score by month


@dataclass(frozen=True)
class TrendPoint:
    period: dt.date
    responses: int
    cvp: float | None
    mean_overall: float | None
    perceived: float | None
    expected: float | None
    ratio: float | None


def satisfaction_trend(
    viewer: User, *, start: dt.date, end: dt.date, kind: str = SurveyKind.SALES, store_id: int | None = None
) -> list[TrendPoint]:
    """Per month: CVP and mean overall score; and satisfaction = mean perceived ÷ mean expected
    over the factors where both were asked that month."""
    org_id = _check_measures(viewer)
    span = months(start, end)
    base = _responses(org_id, kind, span[0], span[-1])
    if store_id is not None:
        base = base.filter(store_id=store_id)
    per_month = {
        r["period"]: r
        for r in base.values("period")
        .annotate(n=Count("*"), top=Count("top_box", filter=Q(top_box=True)), mean=Avg("overall"))
        .order_by()
    }
    pairs: dict[tuple[dt.date, str], dict[bool, tuple[int, int]]] = defaultdict(dict)
    for r in (
        _answers(org_id, kind, span[0], span[-1], store_id)
        .filter(question_kind=QuestionKind.SCALE5, score__isnull=False)
        .values("period", "factor", "expectation")
        .annotate(n=Count("*"), total=Sum("score"))
        .order_by()
    ):
        pairs[(r["period"], r["factor"])][bool(r["expectation"])] = (r["n"], int(r["total"]))
    sums: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (period, _factor), sides in pairs.items():
        if True in sides and False in sides:
            s = sums[period]
            s[0] += sides[False][1]
            s[1] += sides[False][0]
            s[2] += sides[True][1]
            s[3] += sides[True][0]
    perceived_sum = np.array([sums[m][0] if m in sums else 0 for m in span], dtype=np.float64)
    perceived_n = np.array([sums[m][1] if m in sums else 0 for m in span], dtype=np.float64)
    expected_sum = np.array([sums[m][2] if m in sums else 0 for m in span], dtype=np.float64)
    expected_n = np.array([sums[m][3] if m in sums else 0 for m in span], dtype=np.float64)
    ratio = scoring.satisfaction_ratio(perceived_sum, perceived_n, expected_sum, expected_n)
    perceived = scoring.shares(perceived_sum, perceived_n)
    expected = scoring.shares(expected_sum, expected_n)
    out = []
    for i, m in enumerate(span):
        r = per_month.get(m)
        n = int(r["n"]) if r else 0
        out.append(
            TrendPoint(
                period=m,
                responses=n,
                cvp=(r["top"] / n) if r and n else None,
                mean_overall=float(r["mean"]) if r and r["mean"] is not None else None,
                perceived=_clean(float(perceived[i])),
                expected=_clean(float(expected[i])),
                ratio=_clean(float(ratio[i])),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Gaming


@dataclass(frozen=True)
class GamingRow:
    rep_id: int
    name: str
    answers: int
    top: int
    audits: int
    audit_top: int
    flagged: bool

    @property
    def cvp(self) -> float | None:
        return self.top / self.answers if self.answers else None

    @property
    def audit_share(self) -> float | None:
        return self.audit_top / self.audits if self.audits else None


def gaming_check(
    viewer: User, *, start: dt.date, end: dt.date, kind: str = SurveyKind.SALES
) -> list[GamingRow]:
    """Every rep the viewer reviews with answers in the period, flagged when all their answers
    are top box while the DCRC's audit calls of their customers are mostly not (policy)."""
    org_id = _org(viewer)
    if not access.can_read_gaming(viewer):
        raise PermissionDenied("the gaming check is for managers and the owner")
    policy = viewer.organisation.policy.feedback  # type: ignore[union-attr]
    span = months(start, end)
    rows = (
        SurveyResponse.objects.filter(
            organisation_id=org_id,
            kind=kind,
            period__gte=span[0],
            period__lte=span[-1],
            overall__isnull=False,
        )
        .filter(people_scope(viewer, "rep__"))
        .values("rep_id", "rep__username", "rep__display_name", "audit")
        .annotate(n=Count("*"), top=Count("top_box", filter=Q(top_box=True)))
        .order_by()
    )
    stats: dict[int, dict[str, Any]] = {}
    for r in rows:
        s = stats.setdefault(
            r["rep_id"],
            {"name": _label(r["rep__username"], r["rep__display_name"]), "n": 0, "t": 0, "a": 0, "at": 0},
        )
        if r["audit"]:
            s["a"], s["at"] = r["n"], r["top"]
        else:
            s["n"], s["t"] = r["n"], r["top"]
    ids = sorted(stats, key=lambda k: stats[k]["name"])
    flags = scoring.gaming_flags(
        [stats[k]["n"] for k in ids],
        [stats[k]["t"] for k in ids],
        [stats[k]["a"] for k in ids],
        [stats[k]["at"] for k in ids],
        min_answers=policy.gaming_min_answers,
        min_audits=policy.gaming_min_audits,
        audit_top_share=policy.gaming_audit_top_share,
    )
    out = [
        GamingRow(
            rep_id=k,
            name=stats[k]["name"],
            answers=stats[k]["n"],
            top=stats[k]["t"],
            audits=stats[k]["a"],
            audit_top=stats[k]["at"],
            flagged=bool(flags[i]),
        )
        for i, k in enumerate(ids)
    ]
    return sorted(out, key=lambda r: (not r.flagged, r.name))
