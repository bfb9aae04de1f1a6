"""Typed request for views behind ``login_required``: ``request.user`` is a real user there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
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


def require(allowed: bool) -> None:
    """A role that may never do this gets 403 (rows outside the scope are 404 in the selectors)."""
    if not allowed:
        raise DjangoPermissionDenied


def is_htmx(request: HttpRequest) -> bool:
    """An htmx request that wants a fragment (a history restore wants the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not getattr(htmx, "history_restore_request", False)


def pager_links(request: HttpRequest, page: Any) -> tuple[str, str]:
    """Previous and next page URLs of a list, keeping its filters ("" where there is none)."""
    kept = {k: v for k, v in request.GET.items() if k != "page" and v}
    prev_url = next_url = ""
    if page.has_previous:
        prev_url = request.path + "?" + urlencode({**kept, "page": page.number - 1})
    if page.has_next:
        next_url = request.path + "?" + urlencode({**kept, "page": page.number + 1})
    return prev_url, next_url
