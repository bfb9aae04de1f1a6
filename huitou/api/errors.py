"""Service errors and request validation errors as JSON: ``{"detail": ..., "errors": {field: [msgs]}}``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import ValidationError as NinjaValidationError

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

# Where a value came from in ninja's error locations; the client only cares about the field.
_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}
# Endpoints name their body schema ``payload`` and their query schema ``filters``; not fields either.
PARAM_NAMES = {"payload", "filters"}


def _field_of(loc: list[Any] | tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in PARAM_NAMES:
        parts = parts[1:]
    return ".".join(parts) or "__all__"


def request_errors(exc: NinjaValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for err in exc.errors:
        field = _field_of(err.get("loc", ()))
        errors.setdefault(field, []).append(str(err.get("msg", "invalid")))
    return errors


def register_error_handlers(api: NinjaAPI) -> None:
    def body(detail: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return {"detail": detail, "errors": errors or {}}

    @api.exception_handler(NotFound)
    def not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
        return api.create_response(request, body(_("Not found.")), status=404)

    @api.exception_handler(PermissionDenied)
    def denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return api.create_response(request, body(_("You are not allowed to do this.")), status=403)

    @api.exception_handler(Conflict)
    def conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
        return api.create_response(
            request,
            body(_("This record was changed by someone else; reload it and try again.")),
            status=409,
        )

    @api.exception_handler(ValidationFailed)
    def invalid(request: HttpRequest, exc: ValidationFailed) -> HttpResponse:
        # Services speak English source strings; a catalogue entry, where there is one, translates.
        errors = {field: [_(m) if m else m for m in messages] for field, messages in exc.errors.items()}
        return api.create_response(request, body(_("Some values are not valid."), errors), status=422)

    @api.exception_handler(NinjaValidationError)
    def invalid_request(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return api.create_response(
            request, body(_("Some values are not valid."), request_errors(exc)), status=422
        )
