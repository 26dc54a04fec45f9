"""A browser-less dashboard client: an httpx client with its cookie jar that logs in through the form, and
reads the CSRF token of a page as a browser's form would send it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


@contextmanager
def log_in(base: str, token: str) -> Iterator[httpx.Client]:
    """A client logged in with ``token`` (through GET and POST of the login form)."""
    with httpx.Client(base_url=base) as client:
        form = client.get("/ui/login")
        r = client.post("/ui/login", data={"token": token, "csrf": csrf_of(form.text), "next": "/ui/review"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/review", r.text
        yield client
