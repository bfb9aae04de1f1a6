"""Segmentation snapshots (STYLE habit 9): one row per customer and as-of date, plus a fill state.

The snapshot tables (``CustomerSegment``, ``CustomerRisk``, ``models_value.CustomerValue``) declare
their foreign keys without a database constraint (``db_constraint=False``): the nightly run writes
a million rows of each per organisation and day, and the database's check of every key of every
row cost ~16 s per snapshot at commit (deferred checks, measured in ``bench/nightly_notes.md``).
The rows are written only by the services from customers they have just read, and deleting a
customer, user, store or organisation through Django still removes (or clears) their snapshot rows:
``on_delete`` is carried out by Django's collector, not by the database.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


def snapshot_key(to: str, *, optional: bool = False) -> models.ForeignKey[Any, Any]:
    """A snapshot row's key: no index of its own (the snapshot's indexes lead with it) and no
    database constraint (see the module's docstring). An optional key (the rep or store copied at
    the time of the run) is cleared when its row goes; the others go with their row."""
    if optional:
        return models.ForeignKey(
            to,
            on_delete=models.SET_NULL,
            null=True,
            blank=True,
            related_name="+",
            db_index=False,
            db_constraint=False,
        )
    return models.ForeignKey(
        to, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )


class CustomerSegment(models.Model):
    """A customer's RFM scores, value tier and suggested type as of one day.

    ``owner``, ``store`` and ``customer_type`` (the type set on the customer) are the customer's at
    the time of the run, copied so that the segments page's counts and sums scope and filter on the
    row itself (``scope.snapshot_scope``) instead of joining every row to its customer; the
    per-customer export still goes through the customer's current owner and store as well.
    """

    organisation = snapshot_key("accounts.Organisation")
    customer = snapshot_key("customers.Customer")
    owner = snapshot_key("accounts.User", optional=True)
    store = snapshot_key("accounts.Store", optional=True)
    as_of = models.DateField(_("as of"))
    recency_days = models.PositiveIntegerField(_("days since the last purchase"))
    frequency = models.PositiveIntegerField(_("purchase days"))
    monetary = models.DecimalField(_("revenue"), max_digits=16, decimal_places=2, default=Decimal("0"))
    margin = models.DecimalField(_("margin"), max_digits=16, decimal_places=2, default=Decimal("0"))
    r = models.PositiveSmallIntegerField("R")
    f = models.PositiveSmallIntegerField("F")
    m = models.PositiveSmallIntegerField("M")
    tier = models.CharField(_("value tier"), max_length=6, blank=True, default="")
    suggested_type = models.CharField(_("suggested type"), max_length=12, blank=True, default="")
    customer_type = models.CharField(_("customer type"), max_length=12, blank=True, default="")

    class Meta:
        verbose_name = _("customer segment")
        constraints = [
            models.UniqueConstraint(fields=["customer", "as_of"], name="segment_customer_asof_unique")
        ]
        # A rep's rows, a manager's (their team's reps OR their store: a BitmapOr of the two) and a
        # store filter's each read one index for the day. No order column as on the risk and value
        # snapshots: the page has no paged list, only grouped figures and the export (sorted once).
        indexes = [
            models.Index(fields=["organisation", "as_of", "tier"], name="segment_org_asof_tier_idx"),
            models.Index(fields=["owner", "as_of"], name="segment_owner_asof_idx"),
            models.Index(fields=["store", "as_of"], name="segment_store_asof_idx"),
        ]


class FillState(models.Model):
    """Fill state of one organisation's snapshot for one as-of date: the nightly run's progress
    (``nightly``) and what the snapshot's pages read without reading its rows (``summary``)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    as_of = models.DateField(_("as of"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    customers = models.PositiveIntegerField(_("customers"), default=0)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True


class SegmentFill(FillState):
    """Fill state of one organisation's segment snapshot for one as-of date."""

    tiers_changed = models.PositiveIntegerField(_("tiers changed"), default=0)
    # summary: the whole organisation's Pareto curves and top-20% shares.

    class Meta:
        verbose_name = _("segment fill")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "as_of"], name="segmentfill_org_asof_unique")
        ]


class CustomerRisk(models.Model):
    """A customer's risk of drifting away (DOMAIN §4) as of one day, with the signals behind it.

    ``owner`` and ``store`` are the customer's at the time of the run, copied so that the at-risk
    lists of a rep, a store or the organisation read one index in score order; permissions still
    go through the customer's current owner and store.
    """

    organisation = snapshot_key("accounts.Organisation")
    customer = snapshot_key("customers.Customer")
    owner = snapshot_key("accounts.User", optional=True)
    store = snapshot_key("accounts.Store", optional=True)
    as_of = models.DateField(_("as of"))
    score = models.PositiveSmallIntegerField(_("risk score"))
    # Decimals, not floats: core.bulk's COPY writer turns FloatField values into integers.
    p_alive = models.DecimalField(
        _("probability still active"), max_digits=5, decimal_places=4, null=True, blank=True
    )
    days_since_last = models.PositiveIntegerField(_("days since the last purchase"))
    gap_ratio = models.DecimalField(
        _("gap against the usual"), max_digits=9, decimal_places=2, null=True, blank=True
    )
    spend_trend = models.DecimalField(
        _("spend trend"), max_digits=12, decimal_places=4, null=True, blank=True
    )
    open_complaints = models.PositiveIntegerField(_("open complaints"), default=0)
    low_satisfaction = models.PositiveIntegerField(_("low satisfaction answers"), default=0)
    late_payment_days = models.PositiveIntegerField(_("days of late payment"), default=0)
    competitor_contact = models.BooleanField(_("competitor contact"), default=False)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)

    class Meta:
        verbose_name = _("customer risk")
        constraints = [
            models.UniqueConstraint(fields=["customer", "as_of"], name="risk_customer_asof_unique")
        ]
        indexes = [
            models.Index(fields=["organisation", "as_of", "-score"], name="risk_org_asof_score_idx"),
            models.Index(fields=["owner", "as_of", "-score"], name="risk_owner_asof_score_idx"),
            models.Index(fields=["store", "as_of", "-score"], name="risk_store_asof_score_idx"),
        ]


class RiskFill(FillState):
    """Fill state of one organisation's risk snapshot for one as-of date."""

    at_risk = models.PositiveIntegerField(_("at risk"), default=0)
    # summary: the fitted BG/NBD parameters, the organisation's median gap and the weights used.

    class Meta:
        verbose_name = _("risk fill")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "as_of"], name="riskfill_org_asof_unique")
        ]


class RiskScoreCount(models.Model):
    """How many of the risk snapshot's active customers of one owner and store scored ``score`` on
    one day, and how many of them carry each reason code (``risk_services.reason_masks``; "gap"
    covers the organisation's gap too). Written by the nightly run with its ``CustomerRisk`` rows.

    Every viewer's score chart is a sum of these rows under the viewer's scope and the page's
    filters (``scope.snapshot_scope`` works on them as on the snapshot rows), instead of grouping a
    hundred thousand snapshot rows and unnesting their reasons: at most owner-and-store pairs × 101
    rows a day. No unique key: deleting a user or store clears ``owner`` or ``store``, which may
    leave two rows of one key, and the chart sums them anyway.
    """

    organisation = snapshot_key("accounts.Organisation")
    owner = snapshot_key("accounts.User", optional=True)
    store = snapshot_key("accounts.Store", optional=True)
    as_of = models.DateField(_("as of"))
    score = models.PositiveSmallIntegerField(_("risk score"))
    customers = models.PositiveIntegerField(_("customers"), default=0)
    # One column per reason code, named after it.
    alive = models.PositiveIntegerField(_("customers likely gone"), default=0)
    gap = models.PositiveIntegerField(_("customers past their usual gap"), default=0)
    spend = models.PositiveIntegerField(_("customers spending less"), default=0)
    complaint = models.PositiveIntegerField(_("customers with an open complaint"), default=0)
    satisfaction = models.PositiveIntegerField(_("customers with low satisfaction"), default=0)
    late = models.PositiveIntegerField(_("customers paying late"), default=0)
    competitor = models.PositiveIntegerField(_("customers in touch with a competitor"), default=0)

    class Meta:
        verbose_name = _("risk score count")
        # The day's rows of the organisation are a few tens of thousands at most: one index on the
        # day, with the owner and store in it so that a rep's, a manager's or a store's rows are
        # picked out of the index entries.
        indexes = [
            models.Index(fields=["organisation", "as_of", "owner", "store"], name="riskcount_org_asof_idx"),
        ]


class WinBack(models.Model):
    """A win-back attempt on an at-risk or lost customer: the task it put in the contact plan and
    whether the customer bought again (a save)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        SAVED = "saved", _("Saved")
        LOST = "lost", _("Lost")
        EXPIRED = "expired", _("Expired")

    class Approach(models.TextChoices):
        CONCESSION = "concession", _("Concession (price, quality, service, payment terms)")
        UP = "up", _("Escalate up (the customer's superior)")
        THIRD_PARTY = "third_party", _("Through a third party")
        DOWN = "down", _("Escalate down (the daily users of the product)")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The rep credited with a save: the customer's owner when the attempt started.
    rep = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    task = models.ForeignKey(
        "followups.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    approach = models.CharField(_("approach"), max_length=12, choices=Approach.choices)
    score_at_start = models.PositiveSmallIntegerField(_("risk score at start"), default=0)
    customer_was_lost = models.BooleanField(_("customer was lost"), default=False)
    started_on = models.DateField(_("started on"))
    started_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    saved_on = models.DateField(_("saved on"), null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("win-back")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=models.Q(status="open"), name="winback_one_open_per_customer"
            )
        ]
        indexes = [
            models.Index(fields=["customer", "-started_on"], name="winback_customer_idx"),
            models.Index(fields=["organisation", "status", "started_on"], name="winback_org_status_idx"),
            models.Index(fields=["rep", "saved_on"], name="winback_rep_saved_idx"),
        ]


class CustomerLoss(models.Model):
    """Why a customer was lost (DOMAIN §4), and when they were won back."""

    class Reason(models.TextChoices):
        COMPETITION_PRICE = "comp_price", _("Competition: price")
        COMPETITION_QUALITY = "comp_quality", _("Competition: quality")
        COMPETITION_SERVICE = "comp_service", _("Competition: service")
        BARGAINING = "bargaining", _("Bargaining pressure")
        OWN_CASH = "own_cash", _("Customer's own trouble: cash")
        OWN_STOCK = "own_stock", _("Customer's own trouble: stock")
        OWN_SUPPLY = "own_supply", _("Customer's own trouble: supply")
        OTHER = "other", _("Other")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    rep = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    reason = models.CharField(_("reason"), max_length=12, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    lost_on = models.DateField(_("lost on"))
    recorded_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    won_back_on = models.DateField(_("won back on"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer loss")
        indexes = [
            models.Index(fields=["customer", "-lost_on"], name="loss_customer_idx"),
            models.Index(fields=["organisation", "lost_on"], name="loss_org_day_idx"),
            models.Index(
                fields=["organisation"], name="loss_open_idx", condition=models.Q(won_back_on__isnull=True)
            ),
        ]


# Lifetime-value snapshots, lead qualification and the kept cost-to-serve table live in their own
# modules; Django finds models through this module, so they are imported here.
from .models_costs import *  # noqa: E402,F403
from .models_qualify import *  # noqa: E402,F403
from .models_value import *  # noqa: E402,F403
