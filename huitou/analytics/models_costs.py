"""The cost-to-serve table kept by the nightly run (DOMAIN §2, best and worst customers).

The best-and-worst page ranks every customer of the organisation by margin − cost-to-serve over
the last twelve months. Worked out on demand that is one GROUP BY per source over a year of sales,
tasks and visits: about 5 s at 1,000,000 customers. The nightly run works it out once for the
organisation and the page's default period and keeps the ranked arrays here, one row per
organisation and day; a page then reads one row and narrows it to the viewer's customers.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .models import FillState, snapshot_key

__all__ = ["CostFill", "ServeCostTable"]


class ServeCostTable(models.Model):
    """The organisation's customers ranked by margin − cost from ``start`` to ``as_of`` (both days
    included), worst first, as three arrays of the same length stored as raw bytes: customer ids
    (int64), margin and cost (float64, ¥). Priced with the policy of ``policy_version``. How many
    customers, and how many lose money, are on the day's ``CostFill``."""

    organisation = snapshot_key("accounts.Organisation")
    as_of = models.DateField(_("as of"))
    start = models.DateField(_("from"))
    policy_version = models.PositiveIntegerField()
    ids = models.BinaryField()
    margin = models.BinaryField()
    cost = models.BinaryField()
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("cost-to-serve table")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "as_of"], name="servecost_org_asof_unique")
        ]


class CostFill(FillState):
    """Fill state of one organisation's kept cost-to-serve table for one as-of date."""

    class Meta:
        verbose_name = _("cost-to-serve fill")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "as_of"], name="costfill_org_asof_unique")
        ]
