"""A small HTTP client for the sumflow API: JSON in and out, every failure a `CliError`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from api.cli.errors import ApiRefused, ApiUnavailable

__all__ = ["DEFAULT_URL", "ApiClient", "error_message", "path_segment"]

DEFAULT_URL = "http://127.0.0.1:5000"
USER_AGENT = "sumflow-cli"


def path_segment(value: str) -> str:
    """``value`` as one URL path segment. Every reserved character is escaped, so that a task
    id such as ``../schedules/x`` cannot reach another endpoint (``revoke`` deleted that
    schedule); ``.`` and ``..``, which a URL resolves away, have their dots escaped too."""
    segment = quote(value, safe="")
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


def error_message(response: httpx.Response) -> str:
    """``HTTP 422: <the API's message>``; the status phrase when the body has no message."""
    message = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("message")
    return f"HTTP {response.status_code}: {message or response.reason_phrase}"


class ApiClient:
    """One connection pool to ``base_url``; the API key, when given, as a Bearer token."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, **options: Any) -> Any:
        """Send one request and return its JSON body (None for 204); see `exchange`."""
        return self.exchange(method, path, **options)[0]

    def exchange(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        hold: float = 0,
    ) -> tuple[Any, httpx.Headers]:
        """Send one request; its JSON body (None for 204) and headers (a long poll reads
        ``Retry-After``).

        ``hold`` is how long the server may hold the request on purpose (``?wait``); it is
        added to the timeout so that a long poll is not mistaken for a dead server.
        """
        timeout = self.timeout + hold
        try:
            response = self._http.request(method, path, json=json, params=params, timeout=timeout)
        except httpx.TimeoutException:
            raise ApiUnavailable(
                f"the API at {self.base_url} did not answer within {timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"cannot reach the API at {self.base_url}: {exc}") from None
        if response.status_code >= 500:
            raise ApiUnavailable(error_message(response))
        if response.status_code >= 400:
            raise ApiRefused(error_message(response), response.status_code)
        if response.status_code == 204 or not response.content:
            return None, response.headers
        try:
            return response.json(), response.headers
        except ValueError:
            raise ApiUnavailable(
                f"{method} {path} answered {response.status_code} with a body that is not JSON;"
                f" is {self.base_url} a sumflow API?"
            ) from None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("POST", path, json=body, **kwargs)
