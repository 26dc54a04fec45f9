"""YOLOX (Megvii, Apache-2.0) ONNX detector, pre/post-processing as the official ONNX demo does it.

Pre-processing: letterbox anchored top-left, pad value 114, BGR, values 0-255, NCHW float32.
Output rows ``[x, y, w, h, obj, 80 class scores]`` decoded per stride (8, 16, 32):
``cx = (x + gx) * s``, ``w = exp(w) * s``; score = obj * best class score; then class-wise NMS, divide by the
letterbox ratio, clip to the image.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from vigil.domain.detections import Detections
from vigil.errors import ModelError
from vigil.vision.detector import DetectorConfig, OnnxDetector, finalize

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
PAD_VALUE = 114


@functools.lru_cache(maxsize=8)
def _grids(input_size: tuple[int, int]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(grid xy (N, 2), stride (N, 1)) for an input of (width, height), rows in the model's output order."""
    w, h = input_size
    grids, strides = [], []
    for s in STRIDES:
        gx, gy = np.meshgrid(np.arange(w // s), np.arange(h // s))
        grids.append(np.stack([gx, gy], axis=-1).reshape(-1, 2))
        strides.append(np.full((grids[-1].shape[0], 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


def _input_size_for(rows: int) -> tuple[int, int]:
    """The square input size whose grids give ``rows`` outputs: rows = size^2 * 21 / 1024."""
    size = round(math.sqrt(rows * 1024 / 21))
    if sum((size // s) ** 2 for s in STRIDES) != rows:
        raise ModelError(
            f"YOLOX output has {rows} rows, which matches no square input size",
            hint="pass input_size=(width, height) to from_yolox",
        )
    return size, size


def letterbox(img: npt.NDArray[np.uint8], input_size: tuple[int, int]) -> tuple[npt.NDArray[np.uint8], float]:
    """Resize ``img`` to fit (width, height) keeping its aspect, top-left, pad 114: (HxWx3 uint8, ratio)."""
    w, h = input_size
    ratio = min(h / img.shape[0], w / img.shape[1])
    nw, nh = int(img.shape[1] * ratio), int(img.shape[0] * ratio)
    canvas = np.full((h, w, 3), PAD_VALUE, np.uint8)
    canvas[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, ratio


def from_yolox(
    raw_output: npt.NDArray[np.float32],
    ratio: float,
    image_shape: tuple[int, ...],
    config: DetectorConfig,
    *,
    input_size: tuple[int, int] | None = None,
) -> Detections:
    """Convert one image's raw YOLOX output ((N, 85) or (1, N, 85)) into :class:`Detections`.

    ``ratio`` is the letterbox scale (network pixels per image pixel), ``image_shape`` the original
    (H, W, ...), ``input_size`` the network (width, height), inferred from N for square inputs when None.
    Raises ``ModelError`` if the array is not YOLOX-shaped.
    """
    raw = np.asarray(raw_output, np.float32)
    if raw.ndim == 3 and raw.shape[0] == 1:
        raw = raw[0]
    if raw.ndim != 2 or raw.shape[1] != 85:
        raise ModelError(
            f"YOLOX output must be (N, 85), got {raw.shape}", hint="is this a COCO-80 YOLOX model?"
        )
    grid, stride = _grids(input_size or _input_size_for(raw.shape[0]))
    if len(grid) != len(raw):
        raise ModelError(f"YOLOX output has {len(raw)} rows, input size {input_size} implies {len(grid)}")
    cls_scores = raw[:, 5:] * raw[:, 4:5]
    class_id = cls_scores.argmax(axis=1)
    score = cls_scores[np.arange(len(raw)), class_id]
    # Decode only rows that can survive the threshold: cheaper, and exp() never sees background garbage.
    cand = np.flatnonzero(score >= config.score_threshold)
    rows, s = raw[cand], stride[cand]
    cxy = (rows[:, :2] + grid[cand]) * s
    half = np.exp(rows[:, 2:4]) * s / 2
    xyxy = np.concatenate([cxy - half, cxy + half], axis=1) / np.float32(ratio)
    return finalize(
        xyxy.astype(np.float32), score[cand], class_id[cand].astype(np.int64), image_shape, config
    )


class YoloxDetector(OnnxDetector):
    """YOLOX ONNX detector (default: yolox_nano_416.onnx). See :class:`~vigil.vision.detector.Detector`."""

    name = "yolox"
    default_input_size = (416, 416)

    def check_input_size(self, size: tuple[int, int]) -> None:
        if size[0] % STRIDES[-1] or size[1] % STRIDES[-1]:
            raise ModelError(f"YOLOX input {size[0]}x{size[1]} is not a multiple of {STRIDES[-1]} both ways",
                             hint="use sizes such as 416x416, 416x320 or 640x352")

    def _preprocess(
        self, images: Sequence[npt.NDArray[np.uint8]]
    ) -> tuple[npt.NDArray[np.float32], list[float]]:
        w, h = self.input_size
        canvas = np.empty((len(images), h, w, 3), np.uint8)
        ratios = []
        for i, img in enumerate(images):
            canvas[i], ratio = letterbox(img, self.input_size)
            ratios.append(ratio)
        return np.ascontiguousarray(canvas.transpose(0, 3, 1, 2), dtype=np.float32), ratios

    def _postprocess(
        self, raw: npt.NDArray[np.float32], meta: list[float], images: Sequence[npt.NDArray[np.uint8]]
    ) -> list[Detections]:
        return [
            from_yolox(raw[i], meta[i], img.shape, self.config, input_size=self.input_size)
            for i, img in enumerate(images)
        ]
