"""FastestDet on real images, and agreement with its upstream demo's per-cell decoding."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.shared_data import SHARED, require
from vigil.errors import ModelError
from vigil.vision.detector import DetectorConfig, load_detector
from vigil.vision.fastestdet import FastestDetDetector, from_fastestdet


@pytest.fixture(scope="module")
def pets_frame() -> np.ndarray:
    path = require(SHARED / "data" / "eval" / "pets2009_s2l1" / "images" / "frame_0030.jpg")
    img = cv2.imread(str(path))
    assert img is not None
    return np.asarray(img, np.uint8)


@pytest.fixture(scope="module")
def fastestdet(models_dir: Path) -> FastestDetDetector:
    det = load_detector(models_dir / "FastestDet_352.onnx")
    assert isinstance(det, FastestDetDetector)
    return det


def test_defaults(fastestdet: FastestDetDetector) -> None:
    assert fastestdet.name == "fastestdet"
    assert fastestdet.input_size == (352, 352)
    assert fastestdet.config.score_threshold == 0.65  # its author's threshold (SOURCES.md)


def test_finds_a_person_on_pets(fastestdet: FastestDetDetector, pets_frame: np.ndarray) -> None:
    (d,) = fastestdet.detect([pets_frame])
    assert "person" in d.labels
    assert (d.score >= 0.65).all()
    h, w = pets_frame.shape[:2]
    person = d.xyxy[d.labels.index("person")]
    assert 0 <= person[0] < person[2] <= w and 0 <= person[1] < person[3] <= h
    assert person[3] - person[1] > person[2] - person[0], "a standing person is taller than wide"


def test_matches_upstream_per_cell_decoding(fastestdet: FastestDetDetector, pets_frame: np.ndarray) -> None:
    """Decode like dog-qiuqiu/FastestDet example/onnx-runtime/runtime.py (loops, tanh, sigmoid), NMS off."""
    img = pets_frame
    x = (cv2.resize(img, (352, 352), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)[None] / 255).astype(
        np.float32
    )
    fmap = fastestdet.session.run(None, {fastestdet.session.get_inputs()[0].name: x})[0][0].transpose(1, 2, 0)
    fh, fw = fmap.shape[:2]
    h, w = img.shape[:2]
    expected = []
    for gy in range(fh):
        for gx in range(fw):
            cell = fmap[gy, gx]
            score = cell[0] * cell[5:].max()
            if score >= 0.65:
                bw, bh = 1 / (1 + math.exp(-cell[3])), 1 / (1 + math.exp(-cell[4]))
                cx, cy = (gx + math.tanh(cell[1])) / fw, (gy + math.tanh(cell[2])) / fh
                expected.append(
                    [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h, score]
                )
    ref = np.array(expected).reshape(-1, 5)
    ref[:, [0, 2]] = ref[:, [0, 2]].clip(0, w)
    ref[:, [1, 3]] = ref[:, [1, 3]].clip(0, h)
    ref = ref[np.argsort(-ref[:, 4], kind="stable")]
    (got,) = fastestdet.detect([img])
    no_nms = load_detector(fastestdet.model_path, config=DetectorConfig(score_threshold=0.65, nms_iou=1.0))
    (all_boxes,) = no_nms.detect([img])
    assert len(ref) >= len(got) >= 1
    assert len(all_boxes) == len(ref)
    np.testing.assert_allclose(all_boxes.xyxy, ref[:, :4], atol=1.0)
    np.testing.assert_allclose(all_boxes.score, ref[:, 4], atol=1e-4)


def test_from_fastestdet_rejects_wrong_shape() -> None:
    with pytest.raises(ModelError, match="85"):
        from_fastestdet(np.zeros((84, 22, 22), np.float32), (10, 10, 3), DetectorConfig())
    assert len(from_fastestdet(np.zeros((1, 85, 22, 22), np.float32), (10, 10, 3), DetectorConfig())) == 0
