"""What the account reports need and the rest of the system does not record (DOMAIN §7).

- ``WalletEstimate``: the account's total purchases in our category in a year, from every supplier,
  as estimated by the rep (or imported): share of wallet is our sales ÷ this figure.
- ``Promotion``: a campaign with a period, limited to some stores and purchase kinds (none: all).
- ``PromotionPurchase``: how a customer takes part in a promotion — a purchase tagged with it, by
  the rep at the sale or by an import. A tag is explicit rather than inferred from a marketing
  message followed by a purchase, because a car bought two weeks after a birthday SMS is no proof
  of the campaign, and a distributor's weekly order would match every campaign it was told about.
  A purchase counts for at most one promotion, so promotion sales never add up to more than sales.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from huitou.core.models import TimeStampedModel


class WalletEstimate(TimeStampedModel):
    class Source(models.TextChoices):
        REP = "rep", _("Rep's estimate")
        CUSTOMER = "customer", _("Told by the customer")
        IMPORT = "import", _("Import")
        MARKET = "market", _("Market data")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="wallet_estimates", db_index=False
    )
    year = models.PositiveSmallIntegerField(_("year"))
    category = models.CharField(_("category"), max_length=64, blank=True)
    amount = models.DecimalField(
        _("total purchases in the category"),
        max_digits=16,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    source = models.CharField(_("source"), max_length=8, choices=Source.choices, default=Source.REP)
    estimated_on = models.DateField(_("estimated on"))
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("share-of-wallet estimate")
        constraints = [
            # One figure per account and year: a new estimate replaces the old one (the service).
            models.UniqueConstraint(fields=["customer", "year"], name="wallet_once_per_year"),
        ]
        indexes = [models.Index(fields=["organisation", "year"], name="wallet_org_year_idx")]


class Promotion(TimeStampedModel):
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    name = models.CharField(_("name"), max_length=120)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    stores = models.ManyToManyField(
        "accounts.Store", blank=True, related_name="+", verbose_name=_("stores (none: all)")
    )
    # Purchase kinds it applies to (first, replacement, expansion, service); empty: all of them.
    purchase_kinds = models.JSONField(_("purchase kinds (none: all)"), default=list, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("promotion")
        indexes = [models.Index(fields=["organisation", "starts_on"], name="promotion_org_start_idx")]

    def __str__(self) -> str:
        return self.name


class PromotionPurchase(models.Model):
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    promotion = models.ForeignKey(
        Promotion, on_delete=models.CASCADE, related_name="purchases", db_index=False
    )
    purchase = models.OneToOneField(
        "customers.Purchase", on_delete=models.CASCADE, related_name="promotion_tag"
    )
    # The purchase's customer, copied so an account's participation is one index range.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    tagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("promotion purchase")
        indexes = [
            models.Index(fields=["customer", "promotion"], name="promo_purchase_customer_idx"),
            models.Index(fields=["promotion", "customer"], name="promo_purchase_promo_idx"),
        ]
