"""Policy of the account reports (DOMAIN §7); meant as the ``reports`` section of the organisation
policy. Until ``OrgPolicy`` carries it, every organisation gets these defaults (``report_policy``).

Flat fields of simple types, so the settings page can render them by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation


class ReportPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Receivables ageing: days past due at which each bucket ends (current, 1–30, 31–60, 61–90, >90).
    ageing_first_days: int = Field(
        30, ge=1, le=365, description="Last day past due of the first ageing bucket"
    )
    ageing_second_days: int = Field(
        60, ge=2, le=730, description="Last day past due of the second ageing bucket"
    )
    ageing_third_days: int = Field(
        90, ge=3, le=1095, description="Last day past due of the third ageing bucket"
    )
    # A sale without a payment due date is due on the day it was ordered (cash sale, a car paid at
    # delivery); a distributor with terms sets due dates on its purchases.
    promotion_baseline_days: int = Field(
        0,
        ge=0,
        le=730,
        description="Days before a promotion compared with it (0: as many days as the promotion lasts)",
    )
    # Display and stock checks are a distributor's concern (DOMAIN §7): by default only company
    # accounts (the shops that re-sell our products) get them; a retail chain may want none.
    stock_checks_for: Literal["companies", "all", "none"] = Field(
        "companies", description="Accounts with display and stock checks: companies, all or none"
    )

    @model_validator(mode="after")
    def _increasing(self) -> ReportPolicy:
        if not self.ageing_first_days < self.ageing_second_days < self.ageing_third_days:
            raise ValueError("ageing buckets must end on increasing days")
        return self

    def stock_checks_apply(self, customer_kind: str) -> bool:
        """Whether accounts of this kind (``Customer.kind``) get display and stock checks."""
        if self.stock_checks_for == "all":
            return True
        return self.stock_checks_for == "companies" and customer_kind == "company"

    @property
    def ageing_edges(self) -> tuple[int, int, int]:
        return (self.ageing_first_days, self.ageing_second_days, self.ageing_third_days)


def report_policy(organisation: Organisation | None) -> ReportPolicy:
    """The organisation's report policy: its ``reports`` section once the policy has one."""
    if organisation is None:
        return ReportPolicy()
    section = getattr(organisation.policy, "reports", None)
    return section if isinstance(section, ReportPolicy) else ReportPolicy()
