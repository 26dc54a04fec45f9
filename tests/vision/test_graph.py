"""Variable YOLOX input size: the graph edit (bit-identical at 416, runs at other sizes), the cached copy that
`vigil model add` commits, and the detector at other sizes."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest

from vigil.errors import ModelError
from vigil.vision.detector import DetectorConfig, load_detector
from vigil.vision.graph import SOURCE_KEY, any_input_size, same_outputs, symbolic_input_size
from vigil.vision.yolox import letterbox

YOLOX = "yolox_nano_416.onnx"


@pytest.fixture(scope="module")
def original(models_dir: Path) -> bytes:
    return (models_dir / YOLOX).read_bytes()


@pytest.fixture(scope="module")
def edited(original: bytes) -> bytes:
    out = symbolic_input_size(original, hashlib.sha256(original).hexdigest())
    assert out is not None
    return out


@pytest.fixture(scope="module")
def anysize(tmp_path_factory: pytest.TempPathFactory, edited: bytes) -> Path:
    path = tmp_path_factory.mktemp("anysize") / YOLOX
    path.write_bytes(edited)
    return path


@pytest.fixture(scope="module")
def frame(pets_dir: Path) -> npt.NDArray[np.uint8]:
    img = cv2.imread(str(pets_dir / "frame_0000.jpg"))
    assert img is not None
    return np.asarray(img, np.uint8)


def _session(data: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _blob(img: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.float32]:
    canvas, _ = letterbox(img, size)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)


def test_edit_makes_height_width_symbolic_and_records_the_source(original: bytes, edited: bytes) -> None:
    proto = onnx.load_from_string(edited)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value or d.dim_param for d in dims] == [1, 3, "height", "width"]
    out = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value or d.dim_param for d in out] == [1, "anchors", 85]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta[SOURCE_KEY] == hashlib.sha256(original).hexdigest()
    assert symbolic_input_size(edited, "x") is None, "a second edit has nothing to do"


def test_outputs_bit_identical_at_416_on_a_real_frame(original: bytes, edited: bytes,
                                                      frame: npt.NDArray[np.uint8]) -> None:
    blob = _blob(frame, (416, 416))
    a = _session(original).run(None, {"images": blob})[0]
    b = _session(edited).run(None, {"images": blob})[0]
    assert a.shape == b.shape == (1, 3549, 85)
    assert np.array_equal(a, b)
    assert same_outputs(original, edited, (416, 416))


@pytest.mark.parametrize(("size", "rows"), [((640, 352), 4620), ((416, 320), 2730), ((320, 640), 4200)])
def test_edited_graph_runs_at_other_sizes(edited: bytes, frame: npt.NDArray[np.uint8],
                                          size: tuple[int, int], rows: int) -> None:
    out = _session(edited).run(None, {"images": _blob(frame, size)})[0]
    assert out.shape == (1, rows, 85)  # (w/8*h/8 + w/16*h/16 + w/32*h/32) anchors


def test_not_yolox_or_not_onnx(models_dir: Path) -> None:
    assert symbolic_input_size((models_dir / "FastestDet_352.onnx").read_bytes(), "x") is None
    with pytest.raises(ModelError, match="not an ONNX model"):
        symbolic_input_size(b"not a model at all", "x")


def test_any_input_size_copy_is_made_once_and_keeps_the_name(tmp_path: Path, models_dir: Path,
                                                             edited: bytes) -> None:
    path, note = any_input_size(models_dir / YOLOX, tmp_path / "cache")
    assert path.name == YOLOX and path.parent.parent.name == "anysize"
    assert "made variable" in note and path.read_bytes() == edited
    mtime = path.stat().st_mtime_ns
    again, _ = any_input_size(models_dir / YOLOX, tmp_path / "cache")
    assert again == path and again.stat().st_mtime_ns == mtime
    kept, why = any_input_size(models_dir / "FastestDet_352.onnx", tmp_path / "cache")
    assert kept == models_dir / "FastestDet_352.onnx" and "kept as is" in why


def test_detections_at_416_are_identical_with_either_graph(models_dir: Path, anysize: Path,
                                                           frame: npt.NDArray[np.uint8]) -> None:
    config = DetectorConfig(score_threshold=0.05)
    fixed = load_detector(models_dir / YOLOX, config=config).detect([frame])[0]
    variable = load_detector(anysize, "yolox", config).detect([frame])[0]
    assert len(fixed) > 5
    assert np.array_equal(fixed.xyxy, variable.xyxy) and np.array_equal(fixed.score, variable.score)
    assert np.array_equal(fixed.class_id, variable.class_id)


def test_detector_at_another_size_shares_the_session(anysize: Path, frame: npt.NDArray[np.uint8]) -> None:
    det = load_detector(anysize, "yolox")
    assert det.input_size == (416, 416)
    wide = det.resized((640, 480))
    assert wide.input_size == (640, 480) and wide.session is det.session  # type: ignore[attr-defined]
    assert det.resized((416, 416)) is det
    found = wide.detect([frame])[0]
    h, w = frame.shape[:2]
    assert found.labels.count("person") >= 4, "PETS frame 0 holds several people"
    assert (found.xyxy >= 0).all() and (found.xyxy[:, [0, 2]] <= w).all() and (found.xyxy[:, [1, 3]] <= h).all()
    # the same people at 416 and at 640x480: every 416 person box has a 640 box over it
    base = det.detect([frame])[0]
    for box in base.xyxy[base.class_id == 0]:
        ious = _iou(box, found.xyxy[found.class_id == 0])
        assert ious.max() > 0.5, box


def _iou(box: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    x1, y1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x2, y2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / (area - inter), np.float64)


@pytest.mark.parametrize(("model", "size", "match"), [
    (YOLOX, (640, 352), "accepts only 416x416 input, not 640x352"),
    ("anysize", (640, 350), "not a multiple of 32"),
])
def test_sizes_a_model_cannot_take(models_dir: Path, anysize: Path, model: str, size: tuple[int, int],
                                   match: str) -> None:
    path = anysize if model == "anysize" else models_dir / model
    with pytest.raises(ModelError, match=match) as info:
        load_detector(path, "yolox", DetectorConfig(input_size=size))
    assert info.value.hint


def test_fixed_graph_at_its_own_size_is_fine(models_dir: Path) -> None:
    assert load_detector(models_dir / YOLOX, config=DetectorConfig(input_size=(416, 416))).input_size == (416, 416)


# ---- vigil model add -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("onnx_importable", "any_size", "edited_in_repo"), [
    (True, True, True),
    (True, False, False),  # --fixed-input
    (False, True, False),  # a bare `pip install .`: committed as exported, with a warning
])
def test_model_add(tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch,
                   caplog: pytest.LogCaptureFixture, onnx_importable: bool, any_size: bool,
                   edited_in_repo: bool) -> None:
    from tests.pipeline.builders import make_app

    monkeypatch.setenv("VIGIL_CACHE", str(tmp_path / "cache"))
    if not onnx_importable:
        monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError, as when absent
    app = make_app(tmp_path / "ws")
    commit = app.model_add(str(models_dir / YOLOX), any_input_size=any_size)
    (f,) = app.store.list_files("model")
    shipped = hashlib.sha256((models_dir / YOLOX).read_bytes()).hexdigest()
    assert f.path == "/" + YOLOX and (f.oid != shipped) == edited_in_repo
    assert ("made variable" in commit.description) == edited_in_repo
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if onnx_importable:
        assert not warned
    else:
        assert "pip install 'vigil[models]'" in warned[0] and "onnx not installed" in commit.description
    committed = tmp_path / "committed.onnx"
    committed.write_bytes(app.store.read_bytes("model", None, f.path))
    det = load_detector(committed, "yolox")
    assert det.input_size == (416, 416)
    if edited_in_repo:
        assert det.resized((640, 352)).input_size == (640, 352)
    else:
        with pytest.raises(ModelError, match="accepts only 416x416"):
            det.resized((640, 352))

