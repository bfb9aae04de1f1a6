"""Organisation policy: every number of DOMAIN.md is a default here, editable per organisation.

Stored as JSON on the organisation and read through this typed model, so a missing key takes its
default and a wrong value is refused with the field's name. Later capabilities add their own
sections as new fields with defaults; old rows keep working.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


class OrgPolicy(BaseModel):
    """The whole policy document of one organisation."""

    model_config = ConfigDict(extra="ignore")

    archive: ArchivePolicy = Field(default_factory=lambda: ArchivePolicy())
    people: PeoplePolicy = Field(default_factory=lambda: PeoplePolicy())
