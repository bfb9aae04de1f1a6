"""Self-service referral links: the signed token, its absolute URL, its QR code and the per-IP limit.

The token is the link's id signed with the site key (``django.core.signing.Signer``, own salt): it
cannot be guessed or altered, and it never expires by itself; the link row holds the expiry and the
revocation, so a link can be ended early and its validity changed by policy. The same link always
gives the same token, so a printed QR code and an SMS for one link are interchangeable.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import segno
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.urls import reverse
from django.utils.translation import gettext as _

from huitou.core.errors import NotFound

if TYPE_CHECKING:
    from django.http import HttpRequest

    from huitou.customers.models import Customer

LINK_SALT = "huitou.referrals.link"
# Submissions of the public form per client address and hour, whatever link is used: stops one
# machine from trying tokens or flooding one link. Per-link limits come from policy.
PUBLIC_POSTS_PER_IP_HOUR = 30


class LinkError(NotFound):
    """A token that does not lead to a usable link. ``reason``: invalid, expired or revoked."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def _signer() -> signing.Signer:
    # A plain Signer, not ``signing.dumps`` (a TimestampSigner): the token must not change with
    # the time it is made, and the link row, not the token, says until when it works.
    return signing.Signer(salt=LINK_SALT)


def token_for(link_id: int) -> str:
    return _signer().sign_object(int(link_id))


def link_id_from(token: str) -> int:
    try:
        value = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:
        raise LinkError("invalid") from exc
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise LinkError("invalid")
    return value


def public_url(token: str) -> str:
    """Absolute: the link leaves the building (QR code, SMS), so it uses the public address."""
    return str(settings.OUTBOX["PUBLIC_URL"]).rstrip("/") + reverse("referrals:public", args=[token])


def qr_svg(url: str, *, scale: int = 4) -> str:
    """An inline SVG of the QR code, drawn on the server (no script, prints sharply)."""
    return str(segno.make(url, error="m").svg_inline(scale=scale, border=2))


def client_ip(request: HttpRequest) -> str:
    """The client's address as the login lockout sees it (django-axes: ``AXES_CLIENT_IP_CALLABLE``
    behind a proxy, else ``REMOTE_ADDR``), so one setting serves both limits."""
    from axes.helpers import get_client_ip_address

    return str(get_client_ip_address(request) or "unknown")


def ip_limited(request: HttpRequest, *, now: dt.datetime) -> bool:
    """Count one public submission from this address; True once it is over the hourly limit.

    Fixed hourly windows in the shared cache (``cache.add`` then ``incr`` are atomic on Redis and
    in-process on LocMem) rather than django-ratelimit: installed as an app, its system check
    reports the LocMem cache of the embedded demo as an error.
    """
    window = now.strftime("%Y%m%d%H")
    key = f"referrals:public-ip:{client_ip(request)}:{window}"
    if cache.add(key, 1, timeout=3600):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=3600)
            count = 1
    return count > PUBLIC_POSTS_PER_IP_HOUR


def salutation(customer: Customer) -> str:
    """How the public page and the SMS greet the referrer: 王先生, 王女士 (no full name)."""
    from .rewards import surname

    family = surname(customer.name)
    if not family:
        return ""
    if customer.gender == "m":
        return _("Mr %(surname)s") % {"surname": family}
    if customer.gender == "f":
        return _("Ms %(surname)s") % {"surname": family}
    return _("Mr/Ms %(surname)s") % {"surname": family}
