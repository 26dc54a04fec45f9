"""decode_image / encode_jpeg on real seed images and on bytes that are not images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.shared_data import require
from vigil.errors import UsageError
from vigil.vision.image import ImageDecodeError, decode_image, encode_jpeg


@pytest.fixture
def seed_jpeg(seed_dir: Path) -> bytes:
    return require(seed_dir / "dev3_1511891385.jpg").read_bytes()


def test_decode_seed_jpeg_is_bgr_uint8(seed_jpeg: bytes) -> None:
    img = decode_image(seed_jpeg)
    assert img.dtype == np.uint8
    assert img.shape == (360, 640, 3)
    ref = cv2.imdecode(np.frombuffer(seed_jpeg, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(img, ref)


def test_encode_then_decode_round_trip_is_close(seed_jpeg: bytes) -> None:
    img = decode_image(seed_jpeg)
    again = decode_image(encode_jpeg(img, quality=95))
    assert again.shape == img.shape
    assert np.abs(again.astype(int) - img.astype(int)).mean() < 3


def test_encode_is_deterministic_and_quality_matters(seed_jpeg: bytes) -> None:
    img = decode_image(seed_jpeg)
    assert encode_jpeg(img) == encode_jpeg(img)
    assert len(encode_jpeg(img, quality=30)) < len(encode_jpeg(img, quality=95))


def test_grey_and_alpha_png_decode_to_three_channels() -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    bgra = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    for arr in (grey, bgra):
        ok, png = cv2.imencode(".png", arr)
        assert ok
        assert decode_image(png.tobytes()).shape == (8, 8, 3)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world", b"\xff\xd8\xff" + b"\x00" * 20, b"\x89PNG\r\n\x1a\n" + b"0" * 50],
    ids=["empty", "text", "jpeg-magic-only", "broken-png"],
)
def test_undecodable_bytes_raise_a_clear_error(data: bytes) -> None:
    with pytest.raises(ImageDecodeError, match="cannot decode") as info:
        decode_image(data)
    assert info.value.hint
    assert isinstance(info.value, UsageError)


def test_truncated_jpeg_raises(seed_jpeg: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(seed_jpeg[:100])


@pytest.mark.parametrize(
    ("arr", "quality", "match"),
    [
        (np.zeros((4, 4, 3), np.float32), 90, "dtype float32"),
        (np.zeros((4, 4, 4), np.uint8), 90, "shape"),
        (np.zeros((0, 4, 3), np.uint8), 90, "shape"),
        (np.zeros((4, 4, 3), np.uint8), 0, "quality"),
        (np.zeros((4, 4, 3), np.uint8), 101, "quality"),
    ],
)
def test_encode_rejects_bad_input(arr: np.ndarray, quality: int, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        encode_jpeg(arr, quality=quality)
