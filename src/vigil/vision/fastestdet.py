"""FastestDet (dog-qiuqiu, BSD-3-Clause) ONNX detector, processing as its upstream onnx-runtime demo does it.

Checked against ``example/onnx-runtime/runtime.py`` of github.com/dog-qiuqiu/FastestDet and against the
tensors of the pinned model: input ``1x3x352x352`` = plain resize (no letterbox, INTER_AREA), BGR, /255;
output ``1x85xHxW`` (22x22) per cell ``[obj (already sigmoid), x, y, w, h, 80 class probs (already softmax)]``
with ``cx = (gx + tanh(x)) / W``, ``cy = (gy + tanh(y)) / H``, ``w = sigmoid(w)``, ``h = sigmoid(h)``
as fractions of the image. Score = obj * best class prob. Its author uses a score threshold of 0.65
(noisy below).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from vigil.domain.detections import Detections
from vigil.errors import ModelError
from vigil.vision.detector import DetectorConfig, OnnxDetector, finalize

log = logging.getLogger(__name__)

DEFAULT_SCORE_THRESHOLD = 0.65


def from_fastestdet(
    raw_output: npt.NDArray[np.float32], image_shape: tuple[int, ...], config: DetectorConfig
) -> Detections:
    """Convert one image's raw FastestDet output ((85, H, W) or (1, 85, H, W)) into :class:`Detections`.

    Boxes are scaled to ``image_shape`` (H, W, ...). Raises ``ModelError`` if the array is not 85-channel.
    """
    raw = np.asarray(raw_output, np.float32)
    if raw.ndim == 4 and raw.shape[0] == 1:
        raw = raw[0]
    if raw.ndim != 3 or raw.shape[0] != 85:
        raise ModelError(f"FastestDet output must be (85, H, W), got {raw.shape}", hint="is this FastestDet?")
    _, fh, fw = raw.shape
    cells = raw.reshape(85, -1).T  # (H*W, 85), row-major over (gy, gx)
    probs = cells[:, 5:]
    class_id = probs.argmax(axis=1)
    score = cells[:, 0] * probs[np.arange(len(cells)), class_id]
    cand = np.flatnonzero(score >= config.score_threshold)
    rows = cells[cand]
    gy, gx = np.divmod(cand, fw)
    cx = (gx + np.tanh(rows[:, 1])) / fw
    cy = (gy + np.tanh(rows[:, 2])) / fh
    half_w, half_h = 0.5 / (1.0 + np.exp(-np.clip(rows[:, 3:5], -50, 50))).T  # sigmoid, no overflow
    h, w = image_shape[:2]
    xyxy = np.stack([(cx - half_w) * w, (cy - half_h) * h, (cx + half_w) * w, (cy + half_h) * h], axis=1)
    return finalize(
        xyxy.astype(np.float32), score[cand], class_id[cand].astype(np.int64), image_shape, config
    )


class FastestDetDetector(OnnxDetector):
    """FastestDet ONNX detector (FastestDet_352.onnx). Default score threshold 0.65 (its author's)."""

    name = "fastestdet"
    default_input_size = (352, 352)

    @classmethod
    def default_config(cls) -> DetectorConfig:
        return DetectorConfig(score_threshold=DEFAULT_SCORE_THRESHOLD)

    def _preprocess(
        self, images: Sequence[npt.NDArray[np.uint8]]
    ) -> tuple[npt.NDArray[np.float32], list[float]]:
        w, h = self.input_size
        batch = np.empty((len(images), h, w, 3), np.uint8)
        for i, img in enumerate(images):
            batch[i] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        blob = batch.transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255)
        return np.ascontiguousarray(blob), [1.0] * len(images)

    def _postprocess(
        self, raw: npt.NDArray[np.float32], meta: list[float], images: Sequence[npt.NDArray[np.uint8]]
    ) -> list[Detections]:
        return [from_fastestdet(raw[i], img.shape, self.config) for i, img in enumerate(images)]
