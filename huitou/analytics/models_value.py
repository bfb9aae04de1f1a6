"""Lifetime-value snapshots (DOMAIN §8, STYLE habit 9): one row per customer and as-of date, plus a
fill state per organisation and day holding the fitted models."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from .models import FillState, snapshot_key

__all__ = ["CustomerValue", "ValueFill"]


class CustomerValue(models.Model):
    """A customer's lifetime value as of one day: the purchase summary the models read, what the
    models expect, the history, and the value of the customers they referred.

    ``owner``, ``store``, ``tier`` and ``customer_type`` are copied at the time of the run (the tier
    from the segment snapshot of the same day) so that the lists and per-segment sums read one
    index; permissions still go through the customer's current owner and store.
    Recency and age are stored in days, whatever time unit the model was fitted in.
    """

    organisation = snapshot_key("accounts.Organisation")
    customer = snapshot_key("customers.Customer")
    owner = snapshot_key("accounts.User", optional=True)
    store = snapshot_key("accounts.Store", optional=True)
    as_of = models.DateField(_("as of"))
    tier = models.CharField(_("value tier"), max_length=6, blank=True, default="")
    customer_type = models.CharField(_("customer type"), max_length=12, blank=True, default="")
    frequency = models.PositiveIntegerField(_("repeat purchases"), default=0)
    recency_days = models.PositiveIntegerField(_("days from the first to the last purchase"), default=0)
    age_days = models.PositiveIntegerField(_("days since the first purchase"), default=0)
    monetary = models.DecimalField(
        _("mean spend per repeat purchase"), max_digits=16, decimal_places=2, default=Decimal("0")
    )
    p_alive = models.DecimalField(
        _("probability still active"), max_digits=5, decimal_places=4, null=True, blank=True
    )
    expected_purchases = models.DecimalField(
        _("expected purchases"), max_digits=12, decimal_places=4, null=True, blank=True
    )
    expected_spend = models.DecimalField(
        _("expected spend per purchase"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    # Expected margin over the policy horizon, discounted; 0 when the model could not be fitted.
    clv = models.DecimalField(_("lifetime value"), max_digits=16, decimal_places=2, default=Decimal("0"))
    revenue = models.DecimalField(_("revenue to date"), max_digits=16, decimal_places=2, default=Decimal("0"))
    margin = models.DecimalField(_("margin to date"), max_digits=16, decimal_places=2, default=Decimal("0"))
    referred_customers = models.PositiveIntegerField(_("customers referred"), default=0)
    referred_value = models.DecimalField(
        _("value of the customers referred"), max_digits=16, decimal_places=2, default=Decimal("0")
    )

    class Meta:
        verbose_name = _("customer value")
        constraints = [
            models.UniqueConstraint(fields=["customer", "as_of"], name="value_customer_asof_unique")
        ]
        # The lists walk these in CLV order. Sums per tier and per type read the same rows (the
        # owner's whole-organisation ones are kept on the fill row), so tier and type have no
        # index of their own: each index is ~2 s of the nightly write of 1M rows.
        indexes = [
            models.Index(fields=["organisation", "as_of", "-clv", "customer"], name="value_org_asof_clv_idx"),
            models.Index(fields=["owner", "as_of", "-clv", "customer"], name="value_owner_asof_clv_idx"),
            models.Index(fields=["store", "as_of", "-clv", "customer"], name="value_store_asof_clv_idx"),
        ]


class ValueFill(FillState):
    """Fill state of one organisation's value snapshot for one as-of date, with the fitted models."""

    model = models.CharField(_("purchase model"), max_length=10, blank=True, default="")
    # Fitted parameters ({} when the model could not be fitted) and the total log-likelihood.
    params = models.JSONField(default=dict, blank=True)
    log_likelihood = models.FloatField(null=True, blank=True)
    spend_params = models.JSONField(default=dict, blank=True)
    spend_log_likelihood = models.FloatField(null=True, blank=True)
    # summary: the policy values used, totals and fit-quality figures.

    class Meta:
        verbose_name = _("value fill")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "as_of"], name="valuefill_org_asof_unique")
        ]
