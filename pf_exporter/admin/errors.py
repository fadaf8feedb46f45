"""The admin API's error type: an HTTP status plus a message that names the problem and the fix.

Messages are written for the operator and never contain secrets (tokens, request
bodies, certificate material); the field, or line and column, at fault travel as
separate members of the JSON error body.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request that cannot be served; rendered as ``{"error": {...}}`` with *status*."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        line: int | None = None,
        column: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.line = line
        self.column = column
        self.headers = headers or {}
        self.extra = extra or {}  # more members of the error body (e.g. the limit a request hit)

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        if self.line is not None:
            err["line"] = self.line
        if self.column is not None:
            err["column"] = self.column
        err.update(self.extra)
        return {"error": err}


class ValidationError(ApiError):
    """400: the request is malformed; *field* is a JSON path such as ``rules[2].from.port``."""

    def __init__(self, field: str | None, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(400, message, field=field, line=line, column=column)


def bad(field: str | None, message: str) -> ValidationError:
    return ValidationError(field, message)
