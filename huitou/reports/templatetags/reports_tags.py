"""``{% pct value %}``: a ratio as a percentage with one decimal, or a dash when there is none."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.simple_tag
def pct(value: float | None) -> str:
    if value is None:
        return "—"
    return number_format(round(value * 100, 1), 1) + "%"
