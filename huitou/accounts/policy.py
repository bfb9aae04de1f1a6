"""Organisation policy: every number of DOMAIN.md is a default here, editable per organisation.

Stored as JSON on the organisation and read through this typed model, so a missing key takes its
default and a wrong value is refused with the field's name. Later capabilities add their own
sections as new fields with defaults; old rows keep working.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["owner", "manager", "rep", "dcrc", "aftersales"]
_UNMASKED_DEFAULT: tuple[Role, ...] = ("rep", "dcrc", "aftersales")


class ArchivePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_region: str = Field("CN", description="Region used to read phone numbers without a country code")
    unmasked_phone_roles: list[Role] = Field(
        default_factory=lambda: list(_UNMASKED_DEFAULT),
        description="Roles that see full phone numbers; others see 138****5678",
    )
    testimonials_per_product_target: int = Field(10, ge=0, le=1000)
    duplicate_match_name_birthday: bool = True


class PeoplePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    manager_sees_whole_store: bool = True
    dcrc_sees_whole_organisation: bool = True


class ContactPolicy(BaseModel):
    """Pace and routing of the contact plan (DOMAIN §3)."""

    model_config = ConfigDict(extra="forbid")

    marketing_cap_week: int = Field(1, ge=0, le=50, description="Marketing touches per customer in 7 days")
    marketing_cap_month: int = Field(4, ge=0, le=200, description="Marketing touches per customer in 30 days")
    quiet_start: str = Field("21:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="No messages from")
    quiet_end: str = Field("08:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="No messages until")
    send_at: str = Field(
        "09:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Planned messages go out at"
    )
    escalate_after_days: int = Field(2, ge=0, le=60, description="Overdue days before the manager is told")
    missed_after_days: int = Field(
        14, ge=1, le=365, description="Overdue days before a task counts as missed"
    )
    tasks_on_rest_days: bool = Field(False, description="Keep tasks on weekends and holidays")
    request_reply_cutoff: str = Field(
        "17:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Requests after this are due the next working day",
    )
    default_km_per_day: float = Field(40.0, gt=0, le=1000, description="Used when a car's mileage is unknown")
    catch_up_days: int = Field(7, ge=0, le=90, description="How many missed days the plan catches up")


class SegmentPolicy(BaseModel):
    """Value tiers, RFM and customer-type suggestions (DOMAIN §2)."""

    model_config = ConfigDict(extra="forbid")

    basis: Literal["revenue", "margin"] = Field(
        "revenue", description="Value that ranks customers into tiers"
    )
    lookback_days: int = Field(730, ge=30, le=3650, description="Purchases counted for value and frequency")
    gold_share: float = Field(
        0.5, gt=0, le=1, description="Gold: the best customers making this share of value"
    )
    silver_share: float = Field(0.8, gt=0, le=1, description="Silver: up to this cumulative share of value")
    auto_tiers: bool = Field(True, description="The nightly run writes each customer's tier")
    profit_min_margin_rate: float = Field(0.15, ge=0, le=1, description="Profit type: margin rate at least")
    volume_min_f_score: int = Field(4, ge=1, le=5, description="Volume type: frequency score at least")
    relationship_min_referrals: int = Field(
        2, ge=1, le=1000, description="Relationship type: referrals at least"
    )

    @model_validator(mode="after")
    def _shares_in_order(self) -> SegmentPolicy:
        if self.silver_share < self.gold_share:
            raise ValueError("silver_share must be at least gold_share")
        return self


class OrgPolicy(BaseModel):
    """The whole policy document of one organisation."""

    model_config = ConfigDict(extra="ignore")

    archive: ArchivePolicy = Field(default_factory=lambda: ArchivePolicy())
    people: PeoplePolicy = Field(default_factory=lambda: PeoplePolicy())
    contact: ContactPolicy = Field(default_factory=lambda: ContactPolicy())
    segments: SegmentPolicy = Field(default_factory=lambda: SegmentPolicy())
