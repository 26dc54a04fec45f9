"""Image bytes <-> BGR arrays, the one place Vigil decodes and encodes pictures.

All of ``vigil.vision`` works on OpenCV's layout: ``uint8`` arrays of shape (H, W, 3) in BGR channel order.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import numpy.typing as npt

from vigil.errors import UsageError
from vigil.vision.native_messages import captured

log = logging.getLogger(__name__)

BGRImage = npt.NDArray[np.uint8]


class ImageDecodeError(UsageError):
    """Bytes that are not a picture OpenCV can read (empty, truncated, or another format)."""


def decode_image(data: bytes) -> BGRImage:
    """Decode JPEG/PNG/BMP/WebP/... bytes into a BGR ``uint8`` array of shape (H, W, 3).

    Grey and alpha images are converted to 3-channel BGR; EXIF orientation is applied.
    Raises :class:`ImageDecodeError` (a ``UsageError``) when the bytes cannot be decoded.
    """
    if not data:
        raise ImageDecodeError("cannot decode an image from 0 bytes", hint="check that the file is not empty")
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        with captured():  # libjpeg's warnings go to the datum's log, not the terminal
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV raises on some malformed headers instead of returning None
        raise ImageDecodeError(
            f"cannot decode {len(data)} bytes as an image: {exc}", hint="check the file is a JPEG or PNG"
        ) from exc
    if img is None or img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        head = data[:8].hex()
        raise ImageDecodeError(
            f"cannot decode {len(data)} bytes as an image (first bytes: {head})",
            hint="check the file is a complete JPEG, PNG, BMP or WebP picture",
        )
    return np.asarray(img, np.uint8)  # IMREAD_COLOR always yields 8-bit BGR


def encode_jpeg(img: npt.NDArray[np.uint8], quality: int = 90) -> bytes:
    """Encode a BGR (H, W, 3) or grey (H, W) ``uint8`` array as JPEG bytes.

    ``quality`` is 1..100. Raises ``UsageError`` on a wrong dtype/shape or quality.
    """
    if not 1 <= quality <= 100:
        raise UsageError(f"JPEG quality must be in 1..100, got {quality}", hint="use e.g. quality=90")
    arr = np.asarray(img)
    if (
        arr.dtype != np.uint8
        or arr.ndim not in (2, 3)
        or (arr.ndim == 3 and arr.shape[2] != 3)
        or arr.size == 0
    ):
        raise UsageError(
            f"cannot encode an array of shape {arr.shape} and dtype {arr.dtype} as JPEG",
            hint="pass a non-empty uint8 array of shape (H, W, 3) in BGR order or (H, W)",
        )
    ok, out = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise UsageError(f"OpenCV failed to encode an array of shape {arr.shape} as JPEG")
    return out.tobytes()
