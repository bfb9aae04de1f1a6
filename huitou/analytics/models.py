"""Segmentation snapshots (STYLE habit 9): one row per customer and as-of date, plus a fill state."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _


class CustomerSegment(models.Model):
    """A customer's RFM scores, value tier and suggested type as of one day."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
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

    class Meta:
        verbose_name = _("customer segment")
        constraints = [
            models.UniqueConstraint(fields=["customer", "as_of"], name="segment_customer_asof_unique")
        ]
        indexes = [models.Index(fields=["organisation", "as_of", "tier"], name="segment_org_asof_tier_idx")]


class SegmentFill(models.Model):
    """Fill state of one organisation's segment snapshot for one as-of date."""

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
    tiers_changed = models.PositiveIntegerField(_("tiers changed"), default=0)
    # The whole organisation's Pareto curves and top-20% shares, so the owner's page reads no rows.
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("segment fill")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "as_of"], name="segmentfill_org_asof_unique")
        ]
