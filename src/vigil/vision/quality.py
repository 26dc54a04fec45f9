"""The validate stage's checks: is this upload a usable camera image, and whose is it?

:func:`validate_image` is a pure function of (bytes, name, config, sidecar). It never raises for bad input:
every problem becomes a :class:`Reason`, and all applicable reasons are collected. The good path costs one
decode: the header is read lazily first with Pillow (format, size, EXIF, decompression-bomb guard), the file's
structure is checked for truncation, then the pixels are decoded ONCE with :func:`vigil.vision.image.decode_image`
(the decoder every stage uses). Brightness, contrast and sharpness are measured on a small grey copy, and the
decoded frame is returned with the verdict so that the detector can reuse it instead of decoding again.

Truncation: libjpeg, under OpenCV, pads a short JPEG with grey and only warns, so truncation is found from the
structure instead: a JPEG must end its image data with an EOI marker after the scan begins, a PNG must reach its
IEND chunk, a WEBP its RIFF length. Anything a decoder cannot read at all is ``corrupt``.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, UnidentifiedImageError
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from vigil.domain.identity import Identity, merge_identity, parse_name, parse_sidecar
from vigil.errors import SpecError
from vigil.vision.camera_settings import CameraOverrides, first_error
from vigil.vision.image import BGRImage, ImageDecodeError, decode_image

log = logging.getLogger(__name__)

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_DATETIME = 0x0132
# Pillow names some JPEGs after their container; they are JPEG for our purposes.
_FORMAT_ALIASES = {"MPO": "JPEG"}


@dataclass(frozen=True)
class Reason:
    """Why an image is invalid: a stable machine ``code`` and a message for people."""

    code: str
    message: str


@dataclass(frozen=True)
class ValidationResult:
    """The verdict on one image; ``to_dict()`` is the JSON record written next to a quarantined file."""

    name: str
    valid: bool
    reasons: list[Reason]
    identity: Identity | None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    # The decoded BGR pixels of a frame that could be measured (None otherwise): the detector reuses them.
    frame: BGRImage | None = field(default=None, repr=False, compare=False)

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "valid": self.valid,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
            "identity": self.identity.to_dict() if self.identity else None,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "metrics": dict(self.metrics),
        }


class ValidationConfig(CameraOverrides):
    """Thresholds of the validate stage. Defaults were measured on the seed images and the eval datasets.

    ``cameras`` maps a device glob (``fnmatch``, case-sensitive) to field overrides, e.g.
    ``{"night-*": {"min_brightness": 2}}``; see :meth:`for_device`.
    """

    allowed_formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP")
    min_width: int = Field(32, ge=1)
    min_height: int = Field(32, ge=1)
    max_width: int = Field(10_000, ge=1)
    max_height: int = Field(10_000, ge=1)
    max_file_bytes: int = Field(50_000_000, ge=1)
    # Checked from the header before decoding. Pillow itself refuses (before we can look) anything over
    # 2 x Image.MAX_IMAGE_PIXELS (~179 MP), so larger values here do not admit larger images.
    max_pixels: int = Field(100_000_000, ge=1)
    min_brightness: float = Field(8.0, ge=0, le=255)  # mean luma below: black frame
    max_brightness: float = Field(245.0, ge=0, le=255)  # mean luma above: overexposed / white-out
    min_contrast: float = Field(6.0, ge=0)  # std of luma below: low contrast (fog, covered lens)
    blank_std: float = Field(1.0, ge=0)  # std of luma below: one flat colour, no scene at all
    min_sharpness: float = Field(15.0, ge=0)  # variance of Laplacian at analysis_size below: blurry
    analysis_size: int = Field(512, ge=16)  # longest side of the grey image the statistics are measured on
    require_identity: bool = True
    timezone: str = "UTC"  # camera wall-clock zone for naive EXIF / sidecar times

    @field_validator("allowed_formats", mode="before")
    @classmethod
    def _upper_formats(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return tuple(str(v).upper() for v in value) if isinstance(value, list | tuple | set) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name like 'Europe/Paris'") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ValidationConfig:
        for low, high in (
            ("min_width", "max_width"),
            ("min_height", "max_height"),
            ("min_brightness", "max_brightness"),
            ("blank_std", "min_contrast"),
        ):
            if getattr(self, low) > getattr(self, high):
                lo, hi = getattr(self, low), getattr(self, high)
                raise ValueError(f"{low} ({lo}) must not exceed {high} ({hi})")
        return self

    @classmethod
    def parse(cls, data: Any, where: str = "validate config") -> ValidationConfig:
        """Build from a mapping (YAML/JSON); raises :class:`SpecError` naming ``where`` and the bad key."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            hint = "fix the key, or remove it to use the default"
            raise SpecError(f"{where}: {first_error(exc)}", hint) from None


@contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Log Pillow's warnings (corrupt EXIF and the like) instead of letting a warnings filter (``-W error``,
    pytest ``filterwarnings``) turn a tolerable file into a crash. Not thread-isolated before Python 3.14:
    the filters are process-wide for the duration of the block."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        log.debug("pillow: %s: %s", w.category.__name__, w.message)


def _open_header(data: bytes) -> tuple[ImageFile.ImageFile | None, list[Reason]]:
    """Identify format and size without decoding pixels; bomb and garbage become reasons.

    Pillow's DecompressionBombWarning (MAX_IMAGE_PIXELS..2x) is silenced here: our own ``max_pixels`` decides.
    """
    try:
        with _pillow_warnings():
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        return None, [Reason("bomb", f"declared size is a decompression bomb: {exc}")]
    except UnidentifiedImageError:
        return None, [Reason("format", "not a recognised image format (text or random bytes?)")]
    except Exception as exc:  # untrusted bytes: any parser failure is a verdict, not a crash
        if _riff_short(data):
            return None, [Reason("truncated", f"WEBP data ends before its declared length: {exc}")]
        return None, [_decode_reason(exc, "unreadable image header")]
    return im, []


def _riff_short(data: bytes) -> bool:
    """A RIFF/WEBP file shorter than its header says (Pillow decodes WEBP at open and only says 'corrupt')."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    return int.from_bytes(data[4:8], "little") + 8 > len(data)


def _size_reasons(width: int, height: int, cfg: ValidationConfig) -> list[Reason]:
    reasons = []
    if width < cfg.min_width or height < cfg.min_height:
        reasons.append(Reason("too_small", f"{width}x{height} is below {cfg.min_width}x{cfg.min_height}"))
    if width > cfg.max_width or height > cfg.max_height:
        reasons.append(Reason("too_large", f"{width}x{height} exceeds {cfg.max_width}x{cfg.max_height}"))
    if width * height > cfg.max_pixels:
        pixels = width * height
        reasons.append(Reason("bomb", f"{pixels} pixels declared, limit {cfg.max_pixels}: not decoded"))
    return reasons


def _exif_datetime(im: Image.Image) -> datetime | None:
    """EXIF DateTimeOriginal (else DateTime), naive; ``None`` when absent or unreadable (garbage ignored)."""
    try:
        with _pillow_warnings():
            exif = im.getexif()
        raw = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
        if isinstance(raw, bytes):
            raw = raw.decode("ascii", "replace")
        if not isinstance(raw, str):
            return None
        return datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except Exception:  # garbage EXIF must never fail validation by itself
        return None


def _luma(frame: BGRImage, size: int) -> npt.NDArray[np.uint8]:
    """A grey copy of ``frame`` with its longest side at most ``size``.

    Bilinear, not area-averaged: INTER_AREA at a non-integer scale costs ~1.6 ms a frame (4x), and on the 395
    seed and eval images and the hostile set every verdict is the same (sharpness reads ~13% higher on
    detailed scenes, where it is far above any blur threshold; blurred frames have nothing to alias).
    """
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    height, width = grey.shape
    scale = min(1.0, size / max(width, height))
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if target != (width, height):
        grey = cv2.resize(grey, target, interpolation=cv2.INTER_LINEAR)
    return np.asarray(grey, dtype=np.uint8)


_JPEG_SOS, _JPEG_EOI = b"\xff\xda", b"\xff\xd9"
_JPEG_BARE_MARKERS = {0x01, 0xD8, *range(0xD0, 0xD8)}  # markers without a length field


def _jpeg_scan_start(data: bytes) -> int | None:
    """Offset of the main image's first SOS marker, walking the header segments (so an EXIF thumbnail's own
    markers are skipped); None when the file ends inside the header."""
    i = 2
    while i + 1 < len(data):
        if data[i] != 0xFF:
            return None if i + 4 > len(data) else i  # not a marker: let the decoder judge the bytes
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker in _JPEG_BARE_MARKERS:
            i += 2
        elif marker == _JPEG_SOS[1]:
            return i
        else:
            if i + 4 > len(data):
                return None
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def _ends_early(data: bytes, fmt: str) -> str | None:
    """Why the file stops before its image data does (structure only, nothing decoded), else None."""
    if fmt == "JPEG":
        scan = _jpeg_scan_start(data)
        if scan is None:
            return "the file ends inside the JPEG header"
        if data.rfind(_JPEG_EOI) < scan:
            return "no JPEG end-of-image marker after the image data"
    elif fmt == "PNG" and data.rfind(b"IEND") < 0:
        return "the PNG stops before its IEND chunk"
    elif fmt == "WEBP" and _riff_short(data):
        return "WEBP data ends before its declared length"
    return None


def _decode_reason(exc: Exception, what: str = "image data cannot be decoded") -> Reason:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, EOFError) or "truncated" in text.lower() or "premature" in text.lower():
        return Reason("truncated", f"image data ends early: {text}")
    return Reason("corrupt", f"{what}: {text}")


def _measure(grey: npt.NDArray[np.uint8]) -> dict[str, float]:
    mean, std = cv2.meanStdDev(grey)
    sharpness = 0.0
    if min(grey.shape) >= 3:  # int16 holds a 3x3 Laplacian of uint8 exactly; border pixels are reflections
        _, lap_std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_16S, ksize=1)[1:-1, 1:-1])
        sharpness = float(lap_std[0, 0]) ** 2
    return {
        "luma_mean": round(float(mean[0, 0]), 3),
        "luma_std": round(float(std[0, 0]), 3),
        "sharpness": round(sharpness, 3),
    }


def _quality_reasons(m: dict[str, float], cfg: ValidationConfig) -> list[Reason]:
    reasons = []
    mean, std, sharp = m["luma_mean"], m["luma_std"], m["sharpness"]
    if mean < cfg.min_brightness:
        reasons.append(Reason("black", f"mean luma {mean:.1f} < {cfg.min_brightness} (black frame)"))
    if mean > cfg.max_brightness:
        reasons.append(Reason("overexposed", f"mean luma {mean:.1f} > {cfg.max_brightness}"))
    if std < cfg.blank_std:
        reasons.append(Reason("blank", f"luma std {std:.2f} < {cfg.blank_std}: one flat colour"))
    if std < cfg.min_contrast:
        reasons.append(Reason("low_contrast", f"luma std {std:.2f} < {cfg.min_contrast}"))
    if sharp < cfg.min_sharpness and std >= cfg.blank_std:  # a flat frame has no edges to be blurry
        reasons.append(Reason("blurry", f"variance of Laplacian {sharp:.1f} < {cfg.min_sharpness}"))
    return reasons


@dataclass
class _IdentityState:
    from_name: Identity | None
    sidecar: dict[str, Any] | None
    device: str | None
    reasons: list[Reason]


def _pre_identity(name: str, sidecar: dict[str, Any] | None, config: ValidationConfig) -> _IdentityState:
    """Name and sidecar: enough to know the device (and so its config) before touching pixels."""
    from_name = parse_name(name)
    reasons: list[Reason] = []
    side_device = None
    if sidecar is not None:
        try:
            side_device = parse_sidecar(sidecar, ZoneInfo(config.timezone)).device
        except ValueError as exc:
            reasons.append(Reason("sidecar", f"sidecar ignored: {exc}"))
            sidecar = None
    device = side_device or (from_name.device if from_name else None)
    return _IdentityState(from_name, sidecar, device, reasons)


def _resolve_identity(
    state: _IdentityState, im: Image.Image | None, cfg: ValidationConfig, name: str
) -> tuple[Identity | None, list[Reason]]:
    tz = ZoneInfo(cfg.timezone)
    identity = merge_identity(state.from_name, None, state.sidecar, tz)
    if identity is None and state.device is not None and im is not None:
        identity = merge_identity(state.from_name, _exif_datetime(im), state.sidecar, tz)
    if identity is not None or not cfg.require_identity:
        return identity, []
    if state.device is None:
        why = f"{name!r} is not <device>_<unix seconds>.<ext> and no sidecar names the device"
        return None, [Reason("name", why)]
    return None, [
        Reason(
            "exif",
            "no capture time: not in the name or sidecar, and EXIF DateTimeOriginal is missing or unreadable",
        )
    ]


def validate_image(
    data: bytes, name: str, config: ValidationConfig, sidecar: dict[str, Any] | None = None
) -> ValidationResult:
    """Check one uploaded image; never raises for bad bytes, names or sidecars.

    ``name`` is the file name (a directory part is ignored); ``sidecar`` the parsed JSON sidecar, if any.
    The device's ``cameras`` overrides apply once the device is known (from sidecar or name).
    Returns every applicable :class:`Reason`; ``valid`` is true when there are none.
    """
    state = _pre_identity(name, sidecar, config)
    cfg = config.for_device(state.device) if state.device else config
    reasons = list(state.reasons)
    fmt = width = height = None
    frame: BGRImage | None = None
    metrics: dict[str, float] = {"file_bytes": float(len(data))}
    im: ImageFile.ImageFile | None = None
    if not data:
        reasons.append(Reason("empty", "the file has zero bytes"))
    elif len(data) > cfg.max_file_bytes:
        reasons.append(Reason("file_size", f"{len(data)} bytes exceeds {cfg.max_file_bytes}: not decoded"))
    else:
        im, header_reasons = _open_header(data)
        reasons += header_reasons
    if im is not None:
        fmt = _FORMAT_ALIASES.get(im.format or "", im.format or "unknown")
        width, height = im.size
        size_reasons = _size_reasons(width, height, cfg)
        reasons += size_reasons
        if fmt not in cfg.allowed_formats:
            allowed = ", ".join(cfg.allowed_formats)
            reasons.append(Reason("format", f"{fmt} is not allowed (allowed: {allowed})"))
        elif not any(r.code in ("bomb", "too_large") for r in size_reasons):
            pixel_reasons, frame = _check_pixels(data, fmt, cfg, metrics, skip_stats=bool(size_reasons))
            reasons += pixel_reasons
    identity, id_reasons = _resolve_identity(state, im, cfg, name)
    reasons = id_reasons + reasons
    return ValidationResult(name, not reasons, reasons, identity, fmt, width, height, metrics, frame)


def _check_pixels(
    data: bytes, fmt: str, cfg: ValidationConfig, metrics: dict[str, float], skip_stats: bool
) -> tuple[list[Reason], BGRImage | None]:
    """Check the structure, decode once, and (unless the image is too small to judge) measure it.
    Returns the reasons and the decoded frame (None when it could not be decoded or measured)."""
    short = _ends_early(data, fmt)
    if short is not None:
        return [Reason("truncated", f"image data ends early: {short}")], None
    try:
        frame = decode_image(data)
    except ImageDecodeError as exc:  # untrusted bytes: a decoder failure is a verdict, not a crash
        return [Reason("corrupt", f"image data cannot be decoded: {exc}")], None
    if skip_stats:
        return [], None
    metrics.update(_measure(_luma(frame, cfg.analysis_size)))
    return _quality_reasons(metrics, cfg), frame


def capture_time(data: bytes) -> datetime | None:
    """EXIF ``DateTimeOriginal`` (else ``DateTime``) of image bytes, naive (camera wall-clock time); ``None``
    when absent or unreadable. Reads the header only (no pixel decode)."""
    im, _ = _open_header(data)
    return _exif_datetime(im) if im is not None else None
