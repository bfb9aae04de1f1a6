"""Typed request for views behind ``login_required``: ``request.user`` is a real user there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from huitou.accounts.models import User


class AuthedRequest(HttpRequest):
    user: User  # type: ignore[assignment]
