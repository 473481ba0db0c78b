"""Query parameters and dates as Camunda's REST API reads and writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request

from ..errors import RequestError
from ..tasks import int_arg

MAX_RESULTS = 1000
MAX_TEXT = 255


def text(name: str) -> str | None:
    """A query parameter (``None`` when absent or empty); never longer than a stored name."""
    value = request.args.get(name) or None
    if value is not None and (len(value) > MAX_TEXT or "\x00" in value):
        raise RequestError(f"'{name}' must be at most {MAX_TEXT} characters, without NUL", field=name)
    return value


def paging() -> tuple[int, int]:
    """``firstResult`` (default 0) and ``maxResults`` (default and at most 1000, Baton's page limit)."""
    return int_arg("firstResult", 0, 0, 2**31 - 1), int_arg("maxResults", MAX_RESULTS, 0, MAX_RESULTS)


def boolean(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise RequestError(f"'{name}' must be true or false, not {raw[:40]!r}", field=name)
    return raw.lower() == "true"


def camunda_date(value: dt.datetime | None) -> str | None:
    """``yyyy-MM-dd'T'HH:mm:ss.SSSZ``, e.g. ``2026-11-25T22:30:00.000+0000``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}" + value.strftime("%z")


def link(rel: str, href: str, method: str = "GET") -> dict[str, Any]:
    return {"method": method, "href": request.host_url.rstrip("/") + "/engine-rest" + href, "rel": rel}


def page(items: list[Any], first: int, most: int) -> list[Any]:
    return items[first:first + most]
