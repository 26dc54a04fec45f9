"""Fixtures for every test package: the shared models and data folders (see tests/shared_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
def video_dir() -> Path:
    return require(SHARED / "data" / "video")


@pytest.fixture(scope="session")
def car_park(video_dir: Path) -> list[bytes]:
    """The first 200 frames of the car-park clip (12.5 fps; cars pass at ~59-110 and ~180-240) as JPEG bytes
    (quality 95), as `vigil bench --video` commits them."""
    import cv2

    cap = cv2.VideoCapture(str(video_dir / "intel_car-detection.mp4"))
    out: list[bytes] = []
    try:
        while len(out) < 200:
            ok, img = cap.read()
            if not ok:
                break
            out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
    finally:
        cap.release()
    assert len(out) == 200
    return out
