"""Policy of surveys, CVP and complaint tickets (DOMAIN §6); a section of the organisation policy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FeedbackPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
