"""Lead qualification (DOMAIN §2): need, money and decision power make a red, green or rotten apple."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__: list[str] = ["Qualification"]


class Qualification(models.Model):
    """A prospect's or customer's current qualification; its history is on the customer's timeline."""

    class Apple(models.TextChoices):
        RED = "red", _("Red apple")
        GREEN = "green", _("Green apple")
        ROTTEN = "rotten", _("Rotten apple")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="qualification"
    )
    need = models.BooleanField(_("has a need"), default=False)
    money = models.BooleanField(_("has the money"), default=False)
    authority = models.BooleanField(_("decides"), default=False)
    # Stored, not computed, so lists filter and count by apple through an index.
    apple = models.CharField(_("apple"), max_length=6, choices=Apple.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    updated_at = models.DateTimeField(_("updated"))
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("lead qualification")
        indexes = [
            models.Index(fields=["organisation", "apple", "-updated_at"], name="qualify_org_apple_idx"),
            models.Index(fields=["organisation", "-updated_at"], name="qualify_org_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.apple}"
