"""The admin API's request and response values, shared by its route modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..pf import PfLimitError
from .errors import ApiError


@dataclass
class Request:
    method: str
    path: str  # raw path, without the query
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def limit_error(e: PfLimitError) -> ApiError:
    """409: the change would pass one of pf's limits; the body names it, its value and what was needed."""
    return ApiError(409, str(e), extra={"limit": e.limit, "limit_value": e.value, "needed": e.needed})
