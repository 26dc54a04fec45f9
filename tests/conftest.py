"""Fixtures for every test package: the shared models and data folders (see tests/shared_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.containers import require_images
from tests.shared_data import SHARED, require


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return require(SHARED / "models")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return require(SHARED / "data")


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    return require(SHARED / "data" / "seed")


@pytest.fixture(scope="session")
def pets_dir() -> Path:
    return require(SHARED / "data" / "eval" / "pets2009_s2l1" / "images")


@pytest.fixture(scope="session")
def vigil_images() -> None:
    """Every role's image built from this checkout (podman; see tests/containers.py)."""
    require_images()
