"""Baselines for the web benchmark, mounted at /bench/ only when HUITOU_BENCH=1 (see config/urls.py).

``bare`` is the cheapest response the stack can give (every middleware, no database, no template);
``bare-authed`` adds the session and user lookups that every signed-in page pays. The ratio of a
real page to these shows what the page itself costs.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path


def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


@login_required
def bare_authed(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.user.pk).encode(), content_type="text/plain")


urlpatterns = [
    path("bare/", bare, name="bench-bare"),
    path("bare-authed/", bare_authed, name="bench-bare-authed"),
]
