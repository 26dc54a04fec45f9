"""Shared test plumbing: the models/data folder beside the checkout (../shared), and the one rule for what a
test does when something it needs is absent.

``unavailable(why)`` skips locally but FAILS under CI=true: CI always has ../shared, the services and the
tools, so their absence there is an error, never a reason to skip. Every conditional skip in the suite goes
through it; ``require(path)`` is the common case."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = next((p for p in (REPO / "shared", REPO.parent / "shared") if p.is_dir()), REPO.parent / "shared")
IN_CI = os.environ.get("CI") == "true"


def unavailable(why: str, *, module_level: bool = False) -> NoReturn:
    """Skip (locally) or fail (CI=true) because ``why``."""
    if IN_CI:
        pytest.fail(f"{why} (CI=true: everything the tests need must be present)", pytrace=False)
    pytest.skip(why, allow_module_level=module_level)  # reached only outside CI


def require(path: Path) -> Path:
    """``path`` if it exists, else :func:`unavailable`."""
    if path.exists():
        return path
    unavailable(f"{path} is absent (the shared models/data folder sits next to the checkout)")
