"""Typed request for views behind ``login_required``: ``request.user`` is a real user there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.utils.translation import gettext

from huitou.core.errors import ValidationFailed

if TYPE_CHECKING:
    from huitou.accounts.models import User


class AuthedRequest(HttpRequest):
    user: User  # type: ignore[assignment]


def positive_int(value: str | None) -> int | None:
    """An id or page number from a query or form value; anything else (blank, text, 0) is None."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def error_text(exc: ValidationFailed) -> str:
    """A service's validation errors as one translated line for a page message."""
    return "; ".join(gettext(m) for messages in exc.errors.values() for m in messages)
