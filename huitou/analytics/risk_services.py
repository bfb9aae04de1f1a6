"""Writes of the crisis-signal part (DOMAIN §4): the nightly risk snapshot, win-back attempts and
termination reasons.

The snapshot gathers every signal with a handful of grouped queries per organisation (no query per
customer), fits BG/NBD once on the organisation's purchase summary and scores in numpy
(:mod:`huitou.analytics.risk`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext

from huitou.accounts import permissions
from huitou.core.bulk import insert_rows
from huitou.core.errors import Conflict, PermissionDenied, ValidationFailed
from huitou.customers import selectors as customer_selectors
from huitou.customers import services as customer_services
from huitou.customers.models import Activity, Customer, Purchase

from . import risk
from .models import CustomerLoss, CustomerRisk, RiskFill, WinBack

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation, User

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


def _purchase_rows(organisation: Organisation, as_of: dt.date) -> list[tuple[Any, ...]]:
    """Per customer: first and last purchase day, distinct purchase days, spend in the last 12
    months and the 12 before, and the earliest unpaid due date before ``as_of``."""
    year_ago = as_of - dt.timedelta(days=365)
    two_years_ago = as_of - dt.timedelta(days=730)
    return list(
        Purchase.objects.filter(organisation=organisation, ordered_on__lte=as_of)
        .values("customer_id")
        .annotate(
            first=Min("ordered_on"),
            last=Max("ordered_on"),
            days=Count("ordered_on", distinct=True),
            last12=Sum("amount", filter=Q(ordered_on__gt=year_ago)),
            prev12=Sum("amount", filter=Q(ordered_on__gt=two_years_ago, ordered_on__lte=year_ago)),
            due=Min(
                "payment_due_on",
                filter=Q(payment_due_on__lt=as_of, paid_amount__lt=F("amount")),
            ),
        )
        .order_by("customer_id")
        .values_list("customer_id", "first", "last", "days", "last12", "prev12", "due")
    )


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


def risk_refresh(*, organisation: Organisation, as_of: dt.date) -> dict[str, Any]:
    """Compute the risk snapshot of ``organisation`` as of ``as_of``, then settle win-backs (saves
    and expiries) and won-back losses up to that day. Running it again replaces the snapshot of
    that day; a failed run leaves a ``failed`` fill row and the previous complete day in use."""
    fill, _created = RiskFill.objects.update_or_create(
        organisation=organisation,
        as_of=as_of,
        defaults={"status": RiskFill.Status.RUNNING, "started_at": timezone.now(), "finished_at": None},
    )
    try:
        result = _refresh(organisation, as_of, fill)
    except Exception:
        RiskFill.objects.filter(pk=fill.pk).update(status=RiskFill.Status.FAILED, finished_at=timezone.now())
        raise
    return result


@transaction.atomic
def _refresh(organisation: Organisation, as_of: dt.date, fill: RiskFill) -> dict[str, Any]:
    settings = risk_settings(organisation)
    weights = settings["weights"]
    customers = {
        pk: (owner_id, store_id)
        for pk, owner_id, store_id in Customer.objects.filter(
            organisation=organisation, merged_into__isnull=True
        )
        .exclude(status=Customer.Status.ERASED)
        .values_list("id", "owner_id", "store_id")
    }
    rows = [r for r in _purchase_rows(organisation, as_of) if r[0] in customers]
    n = len(rows)
    as_of_ord = as_of.toordinal()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    first = np.fromiter((r[1].toordinal() for r in rows), dtype=np.int64, count=n)
    last = np.fromiter((r[2].toordinal() for r in rows), dtype=np.int64, count=n)
    days = np.fromiter((r[3] for r in rows), dtype=np.int64, count=n)
    last12 = np.fromiter((float(r[4] or 0) for r in rows), dtype=np.float64, count=n)
    prev12 = np.fromiter((float(r[5] or 0) for r in rows), dtype=np.float64, count=n)
    late = np.fromiter((as_of_ord - r[6].toordinal() if r[6] else 0 for r in rows), dtype=np.int64, count=n)
    since = as_of_ord - last

    p_alive, model = risk.p_alive_bgnbd(days, first, last, as_of_ord)
    ratio, expected, own = risk.gap_ratios(since, days, last - first)
    trend = risk.spend_trends(last12, prev12)
    tickets, low = _feedback_signals(organisation, as_of)
    competitors = _competitor_contacts(organisation, as_of)
    id_list = ids.tolist()
    complaints = np.fromiter((len(tickets.get(i, ())) for i in id_list), dtype=np.int64, count=n)
    low_n = np.fromiter((low.get(i, 0) for i in id_list), dtype=np.int64, count=n)
    competitor = np.fromiter((i in competitors for i in id_list), dtype=bool, count=n)
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

    out = []
    for k, cid in enumerate(id_list):
        reasons = risk.customer_reasons(
            p_alive=float(p_alive[k]),
            days_since_last=int(since[k]),
            gap_ratio=float(ratio[k]),
            own_gap=bool(own[k]),
            spend_trend=float(trend[k]),
            complaint_tickets=tickets.get(cid, []),
            low_satisfaction=int(low_n[k]),
            late_days=int(late[k]),
            competitor=bool(competitor[k]),
            weights=weights,
        )
        owner_id, store_id = customers[cid]
        out.append(
            (
                cid,
                owner_id,
                store_id,
                int(scores[k]),
                _opt(p_alive[k], 4),
                int(since[k]),
                _opt(ratio[k], 2),
                _opt(trend[k], 4),
                int(complaints[k]),
                int(low_n[k]),
                int(late[k]),
                bool(competitor[k]),
                reasons,
            )
        )
    CustomerRisk.objects.filter(organisation=organisation, as_of=as_of).delete()
    insert_rows(
        CustomerRisk,
        _SNAPSHOT_COLUMNS,
        [(organisation.pk, as_of, *row) for row in out] if out else [],
    )
    settled = _settle(organisation, as_of, settings["save_days"])

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
