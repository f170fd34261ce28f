"""Domain errors. Each carries an English message id and its parameters.

The edge translates ``message`` with gettext and formats it with ``params``;
``field`` names the form field at fault, when there is one.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule was broken; safe to show to the user after translation."""

    def __init__(self, message: str, *, field: str | None = None, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.field = field
        self.params = params


class ValidationFailed(DomainError):
    """One or more input values are invalid; ``errors`` maps field → DomainError."""

    def __init__(self, errors: dict[str, DomainError]) -> None:
        super().__init__("Please correct the marked fields.")
        self.errors = errors


class AccessRefused(Exception):
    """The actor may not see or do this: never a form error, always a 403 or 404 page.

    Kept apart from ``DomainError`` so that code re-rendering a form on a
    ``DomainError`` can never swallow a refusal.
    """

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message
        self.params = params


class NotFoundOrForbidden(AccessRefused):
    """The row does not exist or the actor may not see it: deliberately the same error."""

    def __init__(self) -> None:
        super().__init__("Not found, or outside your jurisdiction.")


class PermissionDenied(AccessRefused):
    """The actor's capabilities do not include this action (core.permissions)."""


class InvalidTransition(DomainError):
    """The case cannot move from its current state by this action."""


class Conflict(DomainError):
    """The row changed since the actor loaded it (optimistic version check)."""
