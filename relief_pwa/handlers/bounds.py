"""One place that bounds every path and query parameter before a handler runs.

A Litestar middleware (it runs after routing, so the route's declared
parameter types are known):

* an ``int`` path parameter outside the 64-bit range → 404 (no such row can
  exist; the databases would otherwise raise an overflow → 500);
* a text path parameter longer than 256 characters → 404;
* a query string over 16 kB, a query value over 4000 characters, bytes
  that are not UTF-8, or "digits" that are not decimal (², ①) → 400;
* a query parameter the handler declares as ``int`` that is not a 64-bit
  integer → 400; one declared as ``date`` outside 1900–2100 → 400.

Handlers that read dates from text use :func:`relief_pwa.core.bounds.parse_day`.
"""

from __future__ import annotations

import types
import typing
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

from litestar.enums import ScopeType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.types import ASGIApp, Receive, Scope, Send

from relief_pwa.core.bounds import (
    MAX_PATH_TEXT,
    MAX_QUERY_STRING,
    MAX_QUERY_VALUE,
    fits_int64,
    fits_row_id,
    year_ok,
)

_SKIP = {"request", "actor", "data", "state", "scope", "socket", "headers", "cookies"}
_TYPES_CACHE: dict[int, dict[str, type]] = {}


def _base_type(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _base_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else annotation
    return annotation


def _query_types(handler: Any) -> dict[str, type]:
    """Query key → declared type (int or date) of the handler's parameters."""
    key = id(handler)
    cached = _TYPES_CACHE.get(key)
    if cached is not None:
        return cached
    found: dict[str, type] = {}
    try:
        parameters = handler.parsed_fn_signature.parameters
    except AttributeError:
        parameters = {}
    for name, param in parameters.items():
        if name in _SKIP:
            continue
        kind = _base_type(param.annotation)
        if kind in (int, date):
            kwarg = param.kwarg_definition
            query = getattr(kwarg, "query", None) if kwarg is not None else None
            found[query or name] = kind
    _TYPES_CACHE[key] = found
    return found


def check_scope(scope: Scope) -> None:
    """Raise 404/400 for a request whose parameters are out of bounds."""
    for value in (scope.get("path_params") or {}).values():
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not fits_row_id(value):
            raise NotFoundException()  # every int path parameter is a row id
        if isinstance(value, str) and len(value) > MAX_PATH_TEXT:
            raise NotFoundException()
    raw = scope.get("query_string", b"") or b""
    if not raw:
        return
    if len(raw) > MAX_QUERY_STRING:
        raise ValidationException("query string too long")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise ValidationException("query string is not UTF-8") from None
    handler = scope.get("route_handler")
    declared = _query_types(handler) if handler is not None else {}
    for name, value in pairs:
        if len(value) > MAX_QUERY_VALUE:
            raise ValidationException(f"query parameter {name[:40]} too long")
        if any(char.isdigit() and not char.isdecimal() for char in value):
            # superscripts, circled digits: str.isdigit() accepts them, int() does not
            raise ValidationException(f"query parameter {name[:40]} has digits that are not numbers")
        kind = declared.get(name)
        if kind is int and value.strip():
            text = value.strip()
            if not (text.lstrip("+-").isascii() and text.lstrip("+-").isdigit()) or not fits_int64(int(text)):
                raise ValidationException(f"query parameter {name[:40]} is not a valid number")
        elif kind is date and value.strip():
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                raise ValidationException(f"query parameter {name[:40]} is not a date") from None
            if not year_ok(day.year):
                raise ValidationException(f"query parameter {name[:40]} is out of range")


def bounds_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            check_scope(scope)
        await app(scope, receive, send)

    return middleware
