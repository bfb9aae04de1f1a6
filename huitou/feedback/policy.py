"""Policy of surveys, CVP and complaint tickets (DOMAIN §6); a section of the organisation policy.

Flat fields of simple types, so the settings page renders them by itself (``accounts.forms``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FeedbackPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Surveys: when and how they go out.
    sales_survey_delay_days: int = Field(
        3, ge=0, le=60, description="Days after the delivery before the sales survey is sent"
    )
    service_survey_delay_days: int = Field(
        1, ge=0, le=60, description="Days after a workshop visit before the service survey is sent"
    )
    followup_survey_delay_days: int = Field(
        2, ge=0, le=60, description="Days after a complaint is closed before the satisfaction check"
    )
    survey_channel: Literal["sms", "email"] = Field("sms", description="Channel of survey invitations")
    survey_valid_days: int = Field(14, ge=1, le=90, description="Days a survey link stays valid")
    survey_catch_up_days: int = Field(
        30, ge=1, le=180, description="Events this many days back still get an invitation (missed runs)"
    )
    # What counts as a low answer: it opens a complaint ticket and the form asks why.
    low_scale_max: int = Field(2, ge=1, le=4, description="A 5-level answer at or below this is low (1–5)")
    low_nps_max: int = Field(6, ge=0, le=9, description="A 0–10 answer at or below this is low")
    low_yes_no: bool = Field(False, description="A “no” to a yes/no question is low")
    auto_ticket_severity: Literal["low", "medium", "high", "critical"] = Field(
        "high", description="Severity of a ticket opened by a low survey answer"
    )
    rep_sees_own_answers: bool = Field(
        False, description="Reps read individual survey answers of their customers (otherwise only CVP)"
    )
    # Tickets: deadlines, escalation and concessions (DOMAIN §4, §6).
    ticket_reply_cutoff: str = Field(
        "17:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Tickets after this are due for a first reply the next working day",
    )
    ticket_resolve_working_days: int = Field(7, ge=1, le=60, description="Working days to resolve a ticket")
    escalate_on_breach: bool = Field(True, description="A missed ticket deadline is escalated to the manager")
    rep_concession_limit: Decimal = Field(
        Decimal("500"), ge=0, le=10_000_000, description="Concessions a rep may offer without approval (¥)"
    )
    manager_concession_limit: Decimal = Field(
        Decimal("5000"),
        ge=0,
        le=10_000_000,
        description="Concessions a manager may approve; above it the owner approves (¥)",
    )
    # CVP and its award.
    cvp_award_per_car: Decimal = Field(
        Decimal("30"), ge=0, le=100_000, description="CVP 100% award per car sold (¥)"
    )
    cvp_award_min_answers: int = Field(
        1, ge=1, le=1000, description="Answers a rep needs in the month to earn the CVP award"
    )
    wholesale_min_cars: int = Field(
        3,
        ge=2,
        le=10_000,
        description="A company buying at least this many cars in a month is a wholesale buyer",
    )
    payroll_lag_months: int = Field(
        1, ge=0, le=12, description="Months between the sales month and the payroll month of the award"
    )
    # Importance–satisfaction analysis.
    quadrant_split: Literal["mean", "fixed"] = Field(
        "mean", description="Split the quadrants at the means of the factors, or at fixed cut-offs"
    )
    importance_cut: float = Field(3.5, ge=1, le=5, description="Fixed cut-off of importance (1–5)")
    satisfaction_cut: float = Field(4.0, ge=1, le=5, description="Fixed cut-off of satisfaction (1–5)")
    # Gaming: every answer top box while the DCRC's audit calls hear otherwise.
    gaming_min_answers: int = Field(
        5, ge=1, le=1000, description="Answers a rep needs in the period before a gaming check"
    )
    gaming_min_audits: int = Field(2, ge=1, le=1000, description="Audit calls needed before a gaming check")
    gaming_audit_top_share: float = Field(
        0.6, ge=0, le=1, description="Flag when the audit calls' top-box share is below this"
    )

    @model_validator(mode="after")
    def _limits_in_order(self) -> FeedbackPolicy:
        if self.manager_concession_limit < self.rep_concession_limit:
            raise ValueError("manager_concession_limit must be at least rep_concession_limit")
        return self
