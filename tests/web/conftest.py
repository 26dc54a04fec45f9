"""Fixtures: a workspace with two tenants' data behind a real uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.builders import Site, build_site, serving
from vigil.app import App


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return build_site(App.init(tmp_path / "ws"))


@pytest.fixture
def base(site: Site) -> Iterator[str]:
    with serving(site.app, token_ttl=0.0) as url:
        yield url


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
