"""Errors raised by services; pages and the API turn them into messages and status codes."""

from __future__ import annotations


class HuitouError(Exception):
    """Base of every error a service raises on purpose."""


class ValidationFailed(HuitouError):
    """Input is wrong. ``errors`` maps a field name to its messages."""

    def __init__(self, errors: dict[str, list[str]] | str):
        if isinstance(errors, str):
            errors = {"__all__": [errors]}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))


class PermissionDenied(HuitouError):
    """The viewer may see the object but not do this to it."""


class NotFound(HuitouError):
    """The object does not exist or is outside the viewer's scope (we never tell which)."""


class Conflict(HuitouError):
    """Someone else changed the record first (optimistic version check)."""
