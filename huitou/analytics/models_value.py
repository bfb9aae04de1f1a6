"""Lifetime-value snapshots: one row per customer and as-of date."""

from __future__ import annotations

__all__: list[str] = []
