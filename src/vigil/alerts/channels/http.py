"""What HTTP channels (webhook, SendGrid) share: one kept-alive client, and an answer turned into an outcome."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

from vigil.alerts.channels.base import Outcome


def client(timeout: float) -> httpx.Client:
    """Keep-alive, no redirects (a 3xx is a failure: the URL should be fixed), no proxy from the environment."""
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the receiver asks to wait: ``Retry-After`` (seconds or an HTTP date) or SendGrid's
    ``X-RateLimit-Reset`` (a unix time); None without either."""
    value = response.headers.get("retry-after")
    now = time.time() if now is None else now
    if value:
        if value.strip().isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            return None
    reset = response.headers.get("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - now)
    return None


def outcome(response: httpx.Response, permanent: tuple[int, ...] = ()) -> Outcome:
    """2xx: sent; 410: gone (disable the endpoint); a code in ``permanent``: dead; anything else: retry,
    honouring ``Retry-After``."""
    code = response.status_code
    if 200 <= code < 300:
        return Outcome("sent", code, "accepted")
    detail = f"HTTP {code} {response.reason_phrase}: {response.text[:300]}".strip()
    if code == 410:
        return Outcome("gone", code, detail)
    if code in permanent:
        return Outcome("dead", code, detail)
    return Outcome("retry", code, detail, retry_after(response))


def failure(exc: httpx.HTTPError) -> Outcome:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return Outcome("retry", None, f"request {kind}: {exc.__class__.__name__}: {exc}")


__all__ = ["client", "failure", "outcome", "retry_after"]
