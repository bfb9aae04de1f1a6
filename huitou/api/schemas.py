"""Schemas every router shares."""

from typing import Any

from ninja import Schema
from pydantic import Field


class ErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]] = Field(
        default_factory=dict, description="Messages per field; ``__all__`` for the record as a whole"
    )


ERROR_RESPONSES: dict[int, Any] = {
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}


def page_out(page: Any) -> dict[str, Any]:
    """A ``core.pagination.Page`` as every list endpoint returns it."""
    return {
        "items": page.items,
        "page": page.number,
        "size": page.size,
        "has_next": page.has_next,
        "total": page.total,
        "total_capped": page.total_capped,
    }
