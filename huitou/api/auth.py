"""Who is calling the API: a bearer token (scripts, integrations) or the browser session (pages' JS).

A token is looked up by the SHA-256 of the key, so the key itself is never stored. Users who left
or were deactivated are refused even with a valid token or a live session.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.security.session import SessionAuth

from huitou.accounts import permissions
from huitou.accounts.models import ApiToken, User

TOKEN_PREFIX = "ht_"
# Writing last_used_at on every call would turn each read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def token_user(key: str) -> User | None:
    """The active member owning this unrevoked token, or None."""
    if not key.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user", "user__organisation")
        .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None or not permissions.is_active_member(token.user):
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional update: concurrent calls within the minute write at most once.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
    return token.user


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = token_user(token.strip())
        if user is not None:
            request.user = user
        return user


class SessionCsrfAuth(SessionAuth):
    """Django's session, with the CSRF check on unsafe methods (ninja's ``SessionAuth``).

    A request without a session cookie is simply not authenticated here (401), rather than
    failing the CSRF check (403): only a browser carrying a session needs CSRF protection.
    """

    def _get_key(self, request: HttpRequest) -> str | None:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = request.user
        if isinstance(user, User) and permissions.is_active_member(user):
            return user
        return None
