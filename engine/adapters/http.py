"""The ``http`` adapter: send ``{"variables": ..., "context": ...}`` as JSON to an endpoint.

The request carries ``Content-Type: application/json`` and ``Idempotency-Key: <job id>:<attempt>`` (the
same for every delivery of one attempt) plus the configured headers.  ``${VAR}`` in the URL and the
header values are read from the environment at call time.

How the answer is read:

=========================  ==========================================================================
2xx with a JSON object     the output variables (``{"bpmnError": {...}}`` -> BPMN error)
2xx empty, or 204          no outputs
2xx, not a JSON object     non-retryable failure
408, 429                   retryable failure (``Retry-After`` in ``details["retry_after"]``)
other 4xx                  non-retryable failure (retryable if ``retry_on_4xx``)
5xx                        retryable failure
3xx, 1xx                   non-retryable failure (redirects are not followed)
network error, timeout     retryable failure
=========================  ==========================================================================

``retry_statuses`` (a list of status codes), when given, replaces that table for non-2xx answers: exactly
those statuses are retryable.  Failure details hold the method, the URL as configured (placeholders
unexpanded, query string and credentials removed), the status and the first 4 KB of the body.

One ``httpx.Client`` (thread-safe, pooled connections) is shared by all calls of an adapter and created
on the first call; :meth:`HttpAdapter.close` releases it.  Each network operation may take at most the
time left to ``context.deadline``, and the body is read in chunks with the deadline checked in between.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..errors import AgentFailure
from . import encode_request, head, parse_result, seconds, substitute
from .base import CallContext

MAX_BODY_BYTES = 16 * 1024 * 1024


class HttpAdapter:
    """Calls an HTTP endpoint as an agent."""

    def __init__(
        self,
        url: str,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        retry_on_4xx: bool = False,
        retry_statuses: Iterable[int] | None = None,
    ) -> None:
        self.url = url
        self.method = method.upper()
        self.headers = dict(headers or {})
        self.retry_on_4xx = retry_on_4xx
        self.retry_statuses = None if retry_statuses is None else frozenset(retry_statuses)
        self.display_url = redact_url(url)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def call(self, variables: dict[str, Any], context: CallContext) -> dict[str, Any]:
        url = substitute(self.url, where=f"the url of agent {context.topic!r}")
        headers = {
            name: substitute(value, where=f"header {name} of agent {context.topic!r}")
            for name, value in self.headers.items()
        }
        headers.setdefault("Content-Type", "application/json")
        headers["Idempotency-Key"] = context.idempotency_key
        body = encode_request(variables, context)
        where: dict[str, Any] = {"method": self.method, "url": self.display_url}
        budget = context.timeout
        if budget <= 0:
            raise AgentFailure(f"{self.method} {self.display_url}: the deadline had passed before the call", **where)
        try:
            with self._http().stream(
                self.method, url, content=body, headers=headers, timeout=httpx.Timeout(budget)
            ) as response:
                data = _read(response, context.deadline)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise AgentFailure(
                f"{self.method} {self.display_url}: invalid URL: {exc}", retryable=False, **where
            ) from exc
        except httpx.TimeoutException as exc:
            raise AgentFailure(
                f"{self.method} {self.display_url} timed out after {seconds(budget)} s",
                retryable=True,
                timeout=budget,
                **where,
            ) from exc
        except httpx.TransportError as exc:
            raise AgentFailure(
                f"{self.method} {self.display_url}: network error: {type(exc).__name__}: {exc}", retryable=True, **where
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            return self._outputs(status, data, where)
        retryable = self._retryable(status)
        raise AgentFailure(
            f"{self.method} {self.display_url} answered {status} {response.reason_phrase}".rstrip(),
            retryable=retryable,
            status=status,
            body=head(data),
            retry_after=response.headers.get("Retry-After"),
            location=response.headers.get("Location") if 300 <= status < 400 else None,
            **where,
        )

    def close(self) -> None:
        """Close the pooled connections (the adapter can still be used: a new client is opened)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(follow_redirects=False, headers={"User-Agent": "baton"})
            return self._client

    def _retryable(self, status: int) -> bool:
        if self.retry_statuses is not None:
            return status in self.retry_statuses
        if status in (408, 429) or status >= 500:
            return True
        return 400 <= status < 500 and self.retry_on_4xx

    def _outputs(self, status: int, data: bytes, where: dict[str, Any]) -> dict[str, Any]:
        if status == 204 or not data.strip():
            return {}
        try:
            answer = json.loads(data)
        except ValueError as exc:
            raise AgentFailure(
                f"{self.method} {self.display_url} answered {status} with a body that is not JSON",
                retryable=False,
                status=status,
                body=head(data),
                **where,
            ) from exc
        return parse_result(answer, f"{self.method} {self.display_url}")


def _read(response: httpx.Response, deadline: dt.datetime) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise AgentFailure(f"the response body is larger than {MAX_BODY_BYTES} bytes", retryable=False)
        if dt.datetime.now(dt.UTC) > deadline:
            raise httpx.ReadTimeout("the deadline passed while reading the response body")
    return b"".join(chunks)


def redact_url(url: str) -> str:
    """``url`` without credentials, query string or fragment (safe to store in an incident)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
