"""Organisation policy: every number of DOMAIN.md is a default here, editable per organisation.

Stored as JSON on the organisation and read through this typed model, so a missing key takes its
default and a wrong value is refused with the field's name. Later capabilities add their own
sections as new fields with defaults; old rows keep working.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from huitou.feedback.policy import FeedbackPolicy
from huitou.reports.policy import ReportPolicy

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
    # Lead qualification (红/绿/烂苹果): where a rep's time should go, and what each touch costs in minutes.
    apple_red_min_pct: int = Field(
        60, ge=0, le=100, description="Red apples: at least this % of a rep's time"
    )
    apple_green_min_pct: int = Field(
        30, ge=0, le=100, description="Green apples: at least this % of a rep's time"
    )
    apple_rotten_max_pct: int = Field(
        10, ge=0, le=100, description="Rotten apples: at most this % of a rep's time"
    )
    minutes_call: int = Field(10, ge=0, le=1440, description="Minutes a phone call takes")
    minutes_visit: int = Field(90, ge=0, le=1440, description="Minutes a visit takes")
    minutes_wechat: int = Field(5, ge=0, le=1440, description="Minutes a WeChat note takes")
    minutes_message: int = Field(3, ge=0, le=1440, description="Minutes an SMS or e-mail takes")
    minutes_letter: int = Field(20, ge=0, le=1440, description="Minutes a letter or card takes")
    minutes_gift: int = Field(15, ge=0, le=1440, description="Minutes handing over a gift takes")

    @model_validator(mode="after")
    def _shares_in_order(self) -> SegmentPolicy:
        if self.silver_share < self.gold_share:
            raise ValueError("silver_share must be at least gold_share")
        return self


class ServeCostPolicy(BaseModel):
    """What serving a customer costs (DOMAIN §2, best and worst customers), in ¥ per piece of work."""

    model_config = ConfigDict(extra="forbid")

    task_call: Decimal = Field(
        Decimal("8"), ge=0, le=100_000, description="Cost of a phone-call task done (¥)"
    )
    task_wechat: Decimal = Field(Decimal("3"), ge=0, le=100_000, description="Cost of a WeChat task done (¥)")
    task_message: Decimal = Field(
        Decimal("2"), ge=0, le=100_000, description="Cost of an SMS, e-mail, letter or card task done (¥)"
    )
    visit: Decimal = Field(Decimal("120"), ge=0, le=100_000, description="Cost of a visit (¥)")
    ticket_complaint: Decimal = Field(Decimal("150"), ge=0, le=100_000, description="Cost of a complaint (¥)")
    ticket_request: Decimal = Field(
        Decimal("60"), ge=0, le=100_000, description="Cost of a service request (¥)"
    )


class RewardTier(BaseModel):
    """From the ``min_won``-th won referral of one referrer on, each reward is worth ``value``."""

    model_config = ConfigDict(extra="forbid")

    min_won: int = Field(ge=1, le=1000)
    value: Decimal = Field(ge=0, le=1_000_000)


class QuotaPeriod(BaseModel):
    """A past period under another quota (e.g. 一拓五 before 一拓一), for comparing the two."""

    model_config = ConfigDict(extra="forbid")

    starts_on: dt.date
    quota: int = Field(ge=1, le=50)
    label: str = Field("", max_length=40)


class ReferralPolicy(BaseModel):
    """The referral system, 一拓一 (DOMAIN §5): quota, asks, fraud rules, rewards and vouchers."""

    model_config = ConfigDict(extra="forbid")

    quota: int = Field(1, ge=1, le=50, description="Verified referrals each customer who bought must bring")
    quota_days: int = Field(90, ge=1, le=730, description="Days after delivery to reach the quota")
    quota_periods: list[QuotaPeriod] = Field(
        default_factory=list, description="Earlier periods under another quota (e.g. 一拓五), for comparison"
    )
    ask_days: list[int] = Field(
        default_factory=lambda: [0, 7, 30, 60, 90],
        description="Days after delivery on which the rep asks for a referral",
    )
    rep_reward_verified: Decimal = Field(
        Decimal("50"), ge=0, le=100_000, description="Rep reward per verified referral (¥)"
    )
    rep_reward_won: Decimal = Field(
        Decimal("200"), ge=0, le=100_000, description="Rep reward per referral won (¥)"
    )
    rep_penalty_missed: Decimal = Field(
        Decimal("50"),
        ge=0,
        le=100_000,
        description="Rep penalty per sold customer whose quota was missed (¥)",
    )
    rep_penalty_fake: Decimal = Field(
        Decimal("200"), ge=0, le=100_000, description="Rep penalty per referral found to be faked (¥)"
    )
    reward_kind: Literal["maintenance_voucher", "gift_voucher"] = Field(
        "maintenance_voucher", description="What the referrer gets when a referral is won"
    )
    reward_value: Decimal = Field(
        Decimal("300"), ge=0, le=1_000_000, description="Value of the referrer's reward (¥)"
    )
    reward_tiers: list[RewardTier] = Field(
        default_factory=list, description="Higher rewards for repeat referrers, by won referrals"
    )
    referred_offer_value: Decimal = Field(
        Decimal("200"), ge=0, le=1_000_000, description="Value of the referred customer's own offer (¥)"
    )
    voucher_valid_days: int = Field(365, ge=1, le=3650, description="Days a voucher stays valid")
    reward_hold_days: int = Field(
        7, ge=0, le=365, description="Days after the sale before the reward is issued (refund window)"
    )
    monthly_cap: int = Field(
        5, ge=0, le=1000, description="Referrals per referrer per month before review (0: no cap)"
    )
    flag_self_referral: bool = Field(True, description="Review referrals of oneself")
    flag_duplicate: bool = Field(True, description="Review a person already referred (first valid one wins)")
    flag_existing_customer: bool = Field(True, description="Review referrals of existing customers")
    link_valid_days: int = Field(
        30, ge=1, le=365, description="Days a self-service referral link stays valid"
    )
    link_max_per_hour: int = Field(
        10, ge=1, le=1000, description="Self-service submissions per link per hour"
    )


class RiskPolicy(BaseModel):
    """Crisis signals (DOMAIN §4): how much each signal weighs in the 0–100 risk score."""

    model_config = ConfigDict(extra="forbid")

    weight_alive: float = Field(35, ge=0, le=100, description="Weight: low probability of still buying")
    weight_gap: float = Field(25, ge=0, le=100, description="Weight: gap beyond the customer's usual one")
    weight_spend: float = Field(15, ge=0, le=100, description="Weight: falling spend")
    weight_complaint: float = Field(10, ge=0, le=100, description="Weight: open complaint")
    weight_satisfaction: float = Field(5, ge=0, le=100, description="Weight: low satisfaction answers")
    weight_late: float = Field(5, ge=0, le=100, description="Weight: late payment")
    weight_competitor: float = Field(5, ge=0, le=100, description="Weight: contact with a competitor")
    threshold: int = Field(50, ge=1, le=100, description="At risk from this score")
    save_days: int = Field(90, ge=1, le=730, description="A win-back is a save if they buy within these days")


class ValuePolicy(BaseModel):
    """Customer lifetime value (DOMAIN §8): the buy-till-you-die model and how CLV is counted."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["bgnbd", "paretonbd"] = Field("bgnbd", description="Purchase model: BG/NBD or Pareto/NBD")
    horizon_months: int = Field(36, ge=1, le=120, description="Months of future purchases counted in CLV")
    annual_discount_rate: float = Field(0.1, ge=0, le=1, description="Yearly discount rate of future margin")
    margin_rate_fallback: float = Field(
        0.1, ge=0, le=1, description="Margin rate of purchases recorded without a margin"
    )
    time_unit_days: int = Field(7, ge=1, le=31, description="Days per time unit the model is fitted in")
    min_customers: int = Field(50, ge=2, le=1_000_000, description="Buying customers needed to fit the model")
    min_repeat_customers: int = Field(
        10, ge=2, le=1_000_000, description="Customers with a repeat purchase needed to fit the models"
    )
    include_service: bool = Field(True, description="Count workshop visits as purchases")


class OrgPolicy(BaseModel):
    """The whole policy document of one organisation."""

    model_config = ConfigDict(extra="ignore")

    archive: ArchivePolicy = Field(default_factory=lambda: ArchivePolicy())
    people: PeoplePolicy = Field(default_factory=lambda: PeoplePolicy())
    contact: ContactPolicy = Field(default_factory=lambda: ContactPolicy())
    segments: SegmentPolicy = Field(default_factory=lambda: SegmentPolicy())
    serve_costs: ServeCostPolicy = Field(default_factory=lambda: ServeCostPolicy())
    referrals: ReferralPolicy = Field(default_factory=lambda: ReferralPolicy())
    feedback: FeedbackPolicy = Field(default_factory=lambda: FeedbackPolicy())
    reports: ReportPolicy = Field(default_factory=lambda: ReportPolicy())
    risk: RiskPolicy = Field(default_factory=lambda: RiskPolicy())
    value: ValuePolicy = Field(default_factory=lambda: ValuePolicy())
