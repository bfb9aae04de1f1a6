"""Turn service errors that escape a view into the right page instead of a server error.

Views handle the errors they expect (a form error, a conflict). This is the safety net that keeps a
forgotten case from becoming a 500: out of scope is 404 (never revealing that the object exists),
a refused action is 403.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views.defaults import page_not_found, permission_denied

from huitou.core.errors import NotFound, PermissionDenied


class ServiceErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.path.startswith("/api/"):
            return None  # the API maps errors to JSON itself
        if isinstance(exception, NotFound):
            return page_not_found(request, Http404(str(exception)))
        if isinstance(exception, PermissionDenied):
            return permission_denied(request, DjangoPermissionDenied(str(exception)))
        return None
