"""Motion and scene analysis of one frame against a bounded look-back of its camera's earlier frames.

The method follows Frigate's improved motion detector (downscale to ~100 px high, contrast stretch, blur, delta
against a background, threshold, dilate, contours over a minimum area, a global-change guard), changed where a
pipeline needs it: the verdict is a pure function of the frame and the look-back frames handed in, never of
what this process happened to see before, so any worker, in any order, gives the same verdict.

* Background: the per-pixel median of up to ``samples`` look-back frames spread evenly over the window. Frigate
  keeps a running average that needs a warm-up and keeps a passing car in it for many frames; a bounded
  look-back may begin on such a frame, so a median (a transient object is a minority of the samples) is the
  order-independent equivalent. An object that stops keeps counting as motion until it fills half the samples.
* Contrast: each thumbnail's own 4th..96th percentile is stretched to the full range. Frigate stretches every
  frame by limits averaged over its last 50 frames and recalibrates when most of the image changed; a camera's
  auto-exposure ramp after a car passes (10-30 grey levels over ~20 frames on the car-park clip) then reads as
  a global change on every frame of the ramp. Normalising each image removes the gain and offset of exposure,
  so only local change remains.
* Global change (lights, IR switch, a flash): more than ``lightning_threshold`` of the image changed. The frame
  is then judged as moving (detection runs: never miss an event because the light changed).

Grey thumbnails are always made from the frame's bytes (never from pixels another stage decoded, which would
differ slightly): ~0.5 ms for a 768x432 JPEG with libjpeg's DCT scaling (``IMREAD_REDUCED_GRAYSCALE_*``), against
1.8 ms for a full colour decode; they are kept per blob id in a small cache (:class:`ThumbnailCache`), so a
camera's look-back frames are decoded once per worker: a cache changes speed, never a verdict.

Scene facts for camera health ride along: the mean absolute change from the previous frame (frozen feed), the
luma of the thumbnail (blinded/covered), and the structural similarity of the frame to the background (a moved
or tampered camera no longer matches its recent view, whatever the light does to the pixel values).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import Field, ValidationError

from vigil.errors import SpecError
from vigil.vision.camera_settings import CameraOverrides, first_error
from vigil.vision.image import ImageDecodeError
from vigil.vision.native_messages import captured

Grey = npt.NDArray[np.uint8]
Reason = Literal["motion", "no_motion", "first_frame", "light_change", "keepalive", "disabled"]
RUNS_DETECTION: frozenset[str] = frozenset({"motion", "first_frame", "light_change", "keepalive", "disabled"})


class MotionSettings(CameraOverrides):
    """Motion gating settings of one camera (defaults: Frigate's, measured on the shared clips).

    ``cameras`` maps a device glob (``fnmatch``, case-sensitive) to field overrides applied in order, e.g.
    ``{"lobby-*": {"enabled": false}}``; see :meth:`for_device`.
    """

    enabled: bool = Field(True, description="false: every frame is judged as moving (detection always runs)")
    frame_height: int = Field(100, ge=16, le=1080, description="height of the analysed thumbnail, pixels")
    threshold: int = Field(30, ge=1, le=255, description="grey-level change that counts a pixel as changed")
    contour_area: int = Field(10, ge=0, description="smallest changed blob counted as motion, thumbnail pixels")
    lightning_threshold: float = Field(0.8, gt=0.0, le=1.0,
                                       description="changed fraction taken as a global light change")
    improve_contrast: bool = Field(True, description="stretch the 4th..96th percentile to the full range")
    lookback_seconds: int = Field(10, ge=1, le=3600, description="how far back the background comes from")
    samples: int = Field(5, ge=1, le=15, description="look-back frames the background is the median of")
    keepalive_seconds: int = Field(
        10, ge=0, description="detection also runs on a camera's first frame in each such interval, so objects "
        "that stopped moving keep being seen (0: never)")
    @classmethod
    def parse(cls, data: Any, where: str = "motion settings") -> MotionSettings:
        """From a mapping (YAML/JSON); :class:`SpecError` naming ``where`` and the bad key."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise SpecError(f"{where}: {first_error(exc)}", "fix the key, or remove it to use the default") from None


@dataclass(frozen=True)
class Thumb:
    """A frame's grey thumbnail (``frame_height`` rows) and capture time."""

    ts: int
    oid: str
    grey: Grey


@dataclass(frozen=True)
class MotionVerdict:
    """Whether a frame needs detection, why, and the scene facts health rules judge."""

    reason: Reason
    changed: float  # fraction of the thumbnail that changed against the background (0 without one)
    boxes: tuple[tuple[float, float, float, float], ...]  # motion areas, normalised x1, y1, x2, y2
    lookback: int  # look-back frames the verdict used
    prev_delta: float | None  # mean |change| (grey levels) from the previous frame; None without one
    same_as_prev: bool  # byte-identical to the previous frame (the same blob)
    luma_mean: float
    luma_std: float
    similarity: float | None  # structural similarity to the background (1 = same view); None without one

    @property
    def detect(self) -> bool:
        return self.reason in RUNS_DETECTION

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason, "detect": self.detect, "changed": round(self.changed, 6),
            "boxes": [[round(v, 4) for v in b] for b in self.boxes], "lookback": self.lookback,
            "prev_delta": None if self.prev_delta is None else round(self.prev_delta, 4),
            "same_as_prev": self.same_as_prev, "luma_mean": round(self.luma_mean, 3),
            "luma_std": round(self.luma_std, 3),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
        }


# --------------------------------------------------------------------------------------------- thumbnails
def _reduce_flag(height: int, frame_height: int) -> int:
    for factor, flag in ((8, cv2.IMREAD_REDUCED_GRAYSCALE_8), (4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
                         (2, cv2.IMREAD_REDUCED_GRAYSCALE_2)):
        if height // factor >= frame_height:
            return flag
    return cv2.IMREAD_GRAYSCALE


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF or a PNG's IHDR header, nothing decoded; None when not found."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def _to_height(grey: Grey, frame_height: int) -> Grey:
    h, w = grey.shape[:2]
    size = (max(1, round(w * frame_height / h)), frame_height)
    return np.ascontiguousarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), np.uint8)


def thumbnail_from_bytes(data: bytes, frame_height: int) -> Grey:
    """A ``frame_height``-row grey thumbnail of encoded image bytes; JPEGs are decoded at 1/2..1/8 scale
    (libjpeg DCT scaling) when that still leaves at least ``frame_height`` rows. ``ImageDecodeError`` if
    the bytes do not decode."""
    size = image_size(data) if data[:2] == b"\xff\xd8" else None
    flag = cv2.IMREAD_GRAYSCALE if size is None else _reduce_flag(size[1], frame_height)
    with captured():  # libjpeg's warnings go to the datum's log, not the terminal
        grey: Grey | None = cv2.imdecode(np.frombuffer(data, np.uint8), flag)  # type: ignore[assignment]
    if grey is None or grey.size == 0:
        raise ImageDecodeError(f"cannot decode {len(data)} bytes for motion analysis",
                               "the frame passed validate, so its blob may be damaged: run `vigil fsck`")
    return _to_height(grey, frame_height)


class ThumbnailCache:
    """Grey thumbnails by (blob id, height), least recently used out first; bounded by count (1024 100-px
    thumbnails of 16:9 frames take ~18 MB). A thumbnail is always made by the same function of the blob's
    bytes, so a hit and a miss give the same pixels."""

    def __init__(self, max_items: int = 1024) -> None:
        self.max_items = max_items
        self._items: OrderedDict[tuple[str, int], Grey] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, oid: str, frame_height: int, make: Callable[[], Grey]) -> Grey:
        key = (oid, frame_height)
        with self._lock:
            grey = self._items.get(key)
            if grey is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return grey
            self.misses += 1
        grey = make()
        grey.flags.writeable = False
        with self._lock:
            self._items[key] = grey
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return grey


_shared = ThumbnailCache()


def shared_thumbnails() -> ThumbnailCache:
    return _shared


# ----------------------------------------------------------------------------------------------- analysis
def _median(stack: Sequence[Grey]) -> Grey:
    """Per-pixel median of an odd number of equal-shape images (odd-even transposition network of cv2
    min/max: ~20x faster than ``np.median`` on a few thumbnails); an even count drops the oldest first."""
    items = list(stack[len(stack) % 2 == 0:]) if len(stack) > 1 else list(stack)
    n = len(items)
    for rnd in range(n):
        for i in range(rnd % 2, n - 1, 2):
            items[i], items[i + 1] = cv2.min(items[i], items[i + 1]), cv2.max(items[i], items[i + 1])  # type: ignore[assignment]
    return items[n // 2]


def _stretch(grey: Grey) -> Grey:
    """``grey`` with its 4th..96th percentile stretched to 0..255 (a flat image is returned as it is)."""
    lo, hi = (float(v) for v in np.percentile(grey, (4, 96)))
    if hi - lo < 1.0:  # one flat colour: nothing to stretch
        return grey
    scale = 255.0 / (hi - lo)
    stretched: Grey = cv2.convertScaleAbs(grey, alpha=scale, beta=-lo * scale)  # type: ignore[assignment]
    return stretched


def _structure(grey: Grey) -> npt.NDArray[np.float32]:
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.magnitude(gx, gy)
    return np.asarray(mag - mag.mean(), np.float32)


def similarity(a: Grey, b: Grey) -> float:
    """Zero-mean normalised correlation of the two images' gradient magnitudes (1 = the same structure,
    ~0 = unrelated views). Edges survive light changes that shift every grey level; a moved camera's do not."""
    sa, sb = _structure(a), _structure(b)
    denom = float(np.sqrt(float((sa * sa).sum()) * float((sb * sb).sum())))
    return float((sa * sb).sum()) / denom if denom > 0 else 1.0


def pick_samples(lookback: Sequence[Thumb], samples: int) -> list[Thumb]:
    """Up to ``samples`` look-back frames spread evenly from the oldest to the newest (both kept)."""
    n = len(lookback)
    if n <= samples:
        return list(lookback)
    if samples == 1:
        return [lookback[-1]]
    idx = sorted({round(i * (n - 1) / (samples - 1)) for i in range(samples)})
    return [lookback[i] for i in idx]


def _changes(current: Grey, background: Grey, settings: MotionSettings
             ) -> tuple[float, list[tuple[float, float, float, float]]]:
    delta = cv2.absdiff(current, background)
    _, mask = cv2.threshold(delta, settings.threshold - 1, 255, cv2.THRESH_BINARY)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=1)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    h, w = current.shape
    boxes = []
    for c in contours:
        if cv2.contourArea(c) > settings.contour_area:
            x, y, bw, bh = cv2.boundingRect(c)
            boxes.append((x / w, y / h, (x + bw) / w, (y + bh) / h))
    return float(np.count_nonzero(mask)) / float(h * w), sorted(boxes)


def analyse(current: Thumb, lookback: Sequence[Thumb], settings: MotionSettings) -> MotionVerdict:
    """Judge ``current`` against ``lookback`` (its camera's earlier frames in the look-back window, oldest
    first, all of ``settings.frame_height`` rows). Pure: the same thumbnails give the same verdict."""
    grey = current.grey
    mean, std = cv2.meanStdDev(grey)
    luma = (float(mean[0, 0]), float(std[0, 0]))
    prev = lookback[-1] if lookback else None
    prev_delta = float(cv2.absdiff(grey, prev.grey).mean()) if prev is not None else None
    same = prev is not None and prev.oid == current.oid
    chosen = [t.grey for t in pick_samples(lookback, settings.samples) if t.grey.shape == grey.shape]
    if not chosen:
        return MotionVerdict("first_frame" if settings.enabled else "disabled", 0.0, (), 0, prev_delta, same,
                             *luma, None)
    images = [_stretch(g) for g in (grey, *chosen)] if settings.improve_contrast else [grey, *chosen]
    blurred: list[Grey] = [cv2.GaussianBlur(g, (3, 3), 1.0) for g in images]  # type: ignore[misc]
    background = _median(blurred[1:])
    changed, boxes = _changes(blurred[0], background, settings)
    sim = similarity(grey, _median(chosen))
    reason: Reason
    if not settings.enabled:
        reason = "disabled"
    elif changed > settings.lightning_threshold:
        reason = "light_change"
    elif boxes:
        reason = "motion"
    elif (every := settings.keepalive_seconds) and prev is not None and prev.ts // every != current.ts // every:
        reason = "keepalive"
    else:
        reason = "no_motion"
    return MotionVerdict(reason, changed, tuple(boxes), len(chosen), prev_delta, same, *luma, sim)


__all__ = ["RUNS_DETECTION", "MotionSettings", "MotionVerdict", "Thumb", "ThumbnailCache", "analyse",
           "image_size", "pick_samples", "shared_thumbnails", "similarity", "thumbnail_from_bytes"]
