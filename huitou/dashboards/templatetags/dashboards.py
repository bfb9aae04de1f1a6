"""How a dashboard figure is written: counts, shares, money (the same in every language)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


@register.filter
def figure_value(figure: Any) -> str:
    value = figure.value
    if value is None:
        return "—"
    if figure.kind == "percent":
        return percent(value)
    if figure.kind == "money":
        return f"¥{Decimal(value):,.2f}"
    text = f"{int(value):,}" if figure.kind == "count" else str(value)
    return f"{text}+" if figure.capped else text


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"
