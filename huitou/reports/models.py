"""What the account reports need and the rest of the system does not record (DOMAIN §7).

- ``WalletEstimate``: the account's total purchases in our category in a year, from every supplier,
  as estimated by the rep (or imported): share of wallet is our sales ÷ this figure.
- ``Promotion``: a campaign with a period, limited to some stores and purchase kinds (none: all).
- ``PromotionPurchase``: how a customer takes part in a promotion — a purchase tagged with it, by
  the rep at the sale or by an import. A tag is explicit rather than inferred from a marketing
  message followed by a purchase, because a car bought two weeks after a birthday SMS is no proof
  of the campaign, and a distributor's weekly order would match every campaign it was told about.
  A purchase counts for at most one promotion, so promotion sales never add up to more than sales.
- ``StockCheck``: what the rep saw on a distributor's shelves on a visit (DOMAIN §7, "display and
  stock status"): how our products are displayed, how many facings, whether stock is enough and
  which products are out. ``is_latest`` marks the account's latest check (by day checked, then
  entry); the service keeps it, and a partial unique constraint lets only one row hold it, so the
  accounts list can filter "out of stock at the last check" along an index instead of working out
  every account's latest check.
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


class StockCheck(TimeStampedModel):
    class Display(models.TextChoices):
        GOOD = "good", _("Good")
        PARTIAL = "partial", _("Partial")
        POOR = "poor", _("Poor")
        NONE = "none", _("Not displayed")

    class Stock(models.TextChoices):
        ENOUGH = "enough", _("Enough")
        LOW = "low", _("Low")
        OUT = "out", _("Out of stock")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="stock_checks", db_index=False
    )
    checked_on = models.DateField(_("checked on"))
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    display = models.CharField(_("display"), max_length=8, choices=Display.choices)
    facings = models.PositiveIntegerField(
        _("facings"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    stock = models.CharField(_("stock"), max_length=8, choices=Stock.choices)
    out_of_stock = models.CharField(_("products out of stock"), max_length=255, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    is_latest = models.BooleanField(default=False, editable=False)

    class Meta:
        verbose_name = _("display and stock check")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=models.Q(is_latest=True), name="stock_check_one_latest"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-checked_on"], name="stock_check_customer_idx"),
            models.Index(fields=["organisation", "checked_on"], name="stock_check_org_day_idx"),
            # Accounts out of stock at their last check: a few rows per organisation.
            models.Index(
                fields=["organisation", "customer"],
                name="stock_check_latest_out_idx",
                condition=models.Q(is_latest=True, stock="out"),
            ),
        ]
