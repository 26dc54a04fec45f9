"""YOLOX-nano on real images: what it finds on the 2017 seed stills, and equality with an independent loop."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import pytest

from vigil.domain.coco import class_index
from vigil.domain.detections import Detections
from vigil.errors import ModelError, NotFoundError, UsageError
from vigil.vision.detector import DetectorConfig, _kind_from_shapes, load_detector
from vigil.vision.yolox import YoloxDetector, from_yolox


@pytest.fixture(scope="module")
def yolox(models_dir: Path) -> YoloxDetector:
    det = load_detector(models_dir / "yolox_nano_416.onnx")
    assert isinstance(det, YoloxDetector)
    return det


def _imread(path: Path) -> npt.NDArray[np.uint8]:
    img = cv2.imread(str(path))
    assert img is not None, f"cannot read {path}"
    return np.asarray(img, np.uint8)


def _counts(d: Detections) -> dict[str, int]:
    labels = d.labels
    return {name: labels.count(name) for name in set(labels)}


# What YOLOX-nano (score >= 0.3) really finds on each seed still, checked by eye on annotated images:
# at least these many of each class.
SEED_EXPECTED = {
    "blah.jpg": {"person": 1},
    "dev1_1511891098.jpg": {"person": 1},
    "dev1_1511891155.jpg": {"person": 1},
    "dev1_1511891255.jpg": {"person": 1},  # byte-identical to blah.jpg
    "dev2_1511891326.jpg": {"dog": 1},  # a French bulldog indoors
    "dev3_1511891385.jpg": {"person": 1, "car": 1},  # man walking past parked cars
    "dev4_1511891463.jpg": {"person": 8},  # crowded pavement (bank queue)
    "dev4_1511891512.jpg": {"car": 3},  # night IR doorbell view of a street
}


def test_seed_images(yolox: YoloxDetector, data_dir: Path) -> None:
    names = sorted(SEED_EXPECTED)
    images = [_imread(data_dir / "seed" / n) for n in names]
    results = yolox.detect(images)
    assert len(results) == len(names)
    for name, img, det in zip(names, images, results, strict=True):
        found = _counts(det)
        for label, at_least in SEED_EXPECTED[name].items():
            assert found.get(label, 0) >= at_least, f"{name}: expected >= {at_least} {label}, got {found}"
        h, w = img.shape[:2]
        assert det.xyxy.dtype == np.float32 and det.class_id.dtype == np.int64
        assert (det.xyxy >= 0).all() and (det.xyxy[:, [0, 2]] <= w).all() and (det.xyxy[:, [1, 3]] <= h).all()
        assert (det.xyxy[:, 2:] >= det.xyxy[:, :2]).all()
        assert (np.diff(det.score) <= 0).all(), "sorted by score, descending"
        assert (det.score >= 0.3).all()
    # nothing barks in the street scenes
    assert "dog" not in _counts(results[names.index("dev4_1511891463.jpg")])


def test_batch_equals_one_by_one(models_dir: Path, data_dir: Path) -> None:
    det = load_detector(models_dir / "yolox_nano_416.onnx", config=DetectorConfig(batch_size=3))
    images = [_imread(p) for p in sorted((data_dir / "seed").glob("dev*.jpg"))]
    batched = det.detect(images)
    for img, got in zip(images, batched, strict=True):
        (single,) = det.detect([img])
        np.testing.assert_array_equal(got.xyxy, single.xyxy)
        np.testing.assert_array_equal(got.score, single.score)
        np.testing.assert_array_equal(got.class_id, single.class_id)
    assert det.detect([]) == []


def test_class_filter_and_threshold(models_dir: Path, data_dir: Path) -> None:
    img = _imread(data_dir / "seed" / "dev3_1511891385.jpg")
    car = class_index("car")
    cfg = DetectorConfig(classes=[car], score_threshold=0.5)
    (d,) = load_detector(models_dir / "yolox_nano_416.onnx", config=cfg).detect([img])
    assert len(d) >= 1 and set(d.class_id.tolist()) == {car} and (d.score >= 0.5).all()


def test_from_yolox_contract() -> None:
    cfg = DetectorConfig()
    assert len(from_yolox(np.zeros((1, 3549, 85), np.float32), 1.0, (416, 416, 3), cfg)) == 0
    raw = np.zeros((3549, 85), np.float32)
    raw[0, 4], raw[0, 5 + 16] = 0.9, 0.9  # a dog in grid cell (0, 0) of stride 8, w = h = exp(0) * 8
    d = from_yolox(raw, 0.5, (100, 100, 3), cfg)
    assert d.labels == ["dog"]
    np.testing.assert_allclose(d.xyxy[0], [0, 0, 8, 8])  # (-4, -4, 4, 4) / 0.5, clipped at 0
    np.testing.assert_allclose(d.score, [0.81], rtol=1e-6)
    with pytest.raises(ModelError, match="85"):
        from_yolox(np.zeros((10, 84), np.float32), 1.0, (10, 10, 3), cfg)
    with pytest.raises(ModelError, match="square"):
        from_yolox(np.zeros((10, 85), np.float32), 1.0, (10, 10, 3), cfg)


def test_load_detector_kinds_and_errors(models_dir: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "my_model.onnx"
    renamed.write_bytes((models_dir / "yolox_nano_416.onnx").read_bytes())
    assert load_detector(renamed).name == "yolox"  # by sha256
    assert load_detector(renamed, kind="yolox").input_size == (416, 416)
    for name, kind in [("yolox_nano_416.onnx", "yolox"), ("FastestDet_352.onnx", "fastestdet")]:
        session = ort.InferenceSession(str(models_dir / name), providers=["CPUExecutionProvider"])
        assert _kind_from_shapes(session) == kind
    with pytest.raises(ModelError, match="unknown detector kind"):
        load_detector(renamed, kind="ssd")
    with pytest.raises(NotFoundError):
        load_detector(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        load_detector(junk)


def test_rejects_non_bgr_images(yolox: YoloxDetector) -> None:
    with pytest.raises(UsageError, match="image 1"):
        yolox.detect([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)])


# ---- equivalence with an independent, straight onnxruntime loop ----------------------------------------


def _reference_yolox(session: ort.InferenceSession, img: np.ndarray, thr: float, iou: float) -> np.ndarray:
    """Rows (x1, y1, x2, y2, score, class) written from SOURCES.md alone, sorted by score descending."""
    h, w = img.shape[:2]
    r = min(416 / h, 416 / w)
    padded = np.full((416, 416, 3), 114, np.uint8)
    resized = cv2.resize(img, (int(w * r), int(h * r)), interpolation=cv2.INTER_LINEAR)
    padded[: resized.shape[0], : resized.shape[1]] = resized
    x = padded.transpose(2, 0, 1)[None].astype(np.float32)
    out = session.run(None, {session.get_inputs()[0].name: x})[0][0]
    rows = []
    offset = 0
    for s in (8, 16, 32):
        n = 416 // s
        for gy in range(n):
            for gx in range(n):
                p = out[offset + gy * n + gx]
                cls = int(np.argmax(p[5:]))
                score = float(p[4] * p[5 + cls])
                if score >= thr:
                    cx, cy = (p[0] + gx) * s, (p[1] + gy) * s
                    bw, bh = np.exp(p[2]) * s, np.exp(p[3]) * s
                    rows.append([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score, cls])
        offset += n * n
    kept = []
    for cls in {int(r_[5]) for r_ in rows}:
        mine = [r_ for r_ in rows if int(r_[5]) == cls]
        xywh = [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in mine]
        for i in np.asarray(cv2.dnn.NMSBoxes(xywh, [b[4] for b in mine], thr, iou)).reshape(-1):
            kept.append(mine[int(i)])
    res = np.array(kept, np.float64).reshape(-1, 6)
    res[:, :4] /= r
    res[:, [0, 2]] = res[:, [0, 2]].clip(0, w)
    res[:, [1, 3]] = res[:, [1, 3]].clip(0, h)
    return res[np.lexsort((res[:, 0], -res[:, 4]))]


def test_equals_independent_onnxruntime_loop_on_pets(yolox: YoloxDetector, data_dir: Path) -> None:
    paths = sorted((data_dir / "eval" / "pets2009_s2l1" / "images").glob("*.jpg"))[
        ::4
    ]  # all 106 take >10 s here
    assert len(paths) > 20
    session = ort.InferenceSession(str(yolox.model_path), providers=["CPUExecutionProvider"])
    images = [_imread(p) for p in paths]
    total = 0
    for path, img, got in zip(paths, images, yolox.detect(images), strict=True):
        ref = _reference_yolox(session, img, thr=0.3, iou=0.45)
        order = np.lexsort((got.xyxy[:, 0], -got.score))
        assert len(got) == len(ref), f"{path.name}: {len(got)} boxes, reference {len(ref)}"
        np.testing.assert_allclose(got.xyxy[order], ref[:, :4], atol=1.0, err_msg=path.name)
        np.testing.assert_allclose(got.score[order], ref[:, 4], atol=1e-4, err_msg=path.name)
        np.testing.assert_array_equal(got.class_id[order], ref[:, 5].astype(np.int64), err_msg=path.name)
        total += len(got)
    assert total > 3 * len(paths), "PETS frames hold several people each"
