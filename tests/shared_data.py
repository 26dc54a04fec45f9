"""The shared models/data folder beside the checkout (../shared), for tests that use real weights and images.

``require(path)`` returns the path, or skips naming what is missing, except under CI=true, where it fails:
CI always has ../shared, so its absence there is an error, not a reason to skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = next((p for p in (REPO / "shared", REPO.parent / "shared") if p.is_dir()), REPO.parent / "shared")


def require(path: Path) -> Path:
    if path.exists():
        return path
    msg = f"{path} is absent (the shared models/data folder sits next to the checkout)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)
