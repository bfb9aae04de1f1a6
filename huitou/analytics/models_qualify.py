"""Lead qualification (red, green and rotten apples)."""

from __future__ import annotations

__all__: list[str] = []
