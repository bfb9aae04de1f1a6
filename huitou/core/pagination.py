"""Server-side pagination that never counts a million rows.

A page is fetched with one extra row to know whether there is a next page; the total is counted
only up to ``COUNT_CAP`` (shown as "1,000+"), which keeps the count query bounded at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from django.core.cache import cache
from django.db.models import QuerySet

T = TypeVar("T")
# Counting is the costliest part of a list page at 1M rows (the rows to count must be read from the
# table to apply the scope); past a thousand the exact figure helps nobody page through.
COUNT_CAP = 1_000
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    size: int
    has_next: bool
    total: int
    total_capped: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.size + len(self.items)


COUNT_CACHE_SECONDS = 60


def paginate(
    qs: QuerySet, *, page: int = 1, size: int = 50, count: bool = True, count_cache_key: str = ""
) -> Page:
    """One page of ``qs``. ``count_cache_key`` lets a list reuse its (capped) count for a minute:
    paging and re-sorting the same list then costs no count query at all."""
    page = max(1, int(page or 1))
    size = max(1, min(int(size or 50), MAX_PAGE_SIZE))
    offset = (page - 1) * size
    rows = list(qs[offset : offset + size + 1])
    has_next = len(rows) > size
    rows = rows[:size]
    total, capped = 0, False
    if count:
        if not has_next and (rows or page == 1):
            total = offset + len(rows)  # the last page tells the exact total for free
        elif count_cache_key:
            total = int(
                cache.get_or_set(count_cache_key, lambda: _capped_count(qs), COUNT_CACHE_SECONDS) or 0
            )
        else:
            total = _capped_count(qs)
        capped = total > COUNT_CAP
        total = min(total, COUNT_CAP)
    return Page(items=rows, number=page, size=size, has_next=has_next, total=total, total_capped=capped)


def _capped_count(qs: QuerySet) -> int:
    return int(qs.order_by().values("pk")[: COUNT_CAP + 1].count())
