"""The detect stage: what it finds on the seed stills, that it leaves the model's answers untouched (equal to a
straight onnxruntime loop on PETS 2009), and that any model family committed to the model repo works."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.stages.conftest import Camera, new_camera
from vigil.errors import SpecError
from vigil.stages.detect import DetectStage
from vigil.vision import framecache
from vigil.vision.framecache import FrameCache
from vigil.vision.graph import SOURCE_KEY

# At least these many of each class per frame (YOLOX-nano, score >= 0.3), checked by eye on annotated frames.
SEED_EXPECTED = {
    "/dev1/1511891098.json": {"person": 1},
    "/dev1/1511891155.json": {"person": 1},  # street
    "/dev1/1511891255.json": {"person": 1},
    "/dev2/1511891326.json": {"dog": 1},  # a French bulldog indoors
    "/dev3/1511891385.json": {"person": 1, "car": 1},  # man walking past parked cars
    "/dev4/1511891463.json": {"person": 8},  # bank queue on a crowded pavement
    "/dev4/1511891512.json": {"car": 3},  # night IR view of the driveway and street
}
PETS_BASE_TS = 1_500_000_000


def test_seed_detections(seeded: Camera, models_dir: Path) -> None:
    labels = seeded.labels()
    assert sorted(labels) == sorted(SEED_EXPECTED)
    for frame, wanted in SEED_EXPECTED.items():
        for label, at_least in wanted.items():
            assert labels[frame].count(label) >= at_least, f"{frame}: {labels[frame]}"
    assert "person" not in labels["/dev2/1511891326.json"], "nobody in the dog's room"
    assert "dog" not in {lbl for frame, found in labels.items() if frame != "/dev2/1511891326.json" for lbl in found}
    job = seeded.jobs["detect"]
    assert (job.n_total, job.n_processed) == (7, 7)


def test_detection_records_name_frame_model_and_boxes(seeded: Camera, models_dir: Path) -> None:
    (committed,) = seeded.app.store.list_files("model")
    graph = onnx.load_from_string(seeded.app.store.read_bytes("model", None, committed.path))
    shipped = hashlib.sha256((models_dir / "yolox_nano_416.onnx").read_bytes()).hexdigest()
    assert {p.key: p.value for p in graph.metadata_props}[SOURCE_KEY] == shipped, "model add made the size variable"
    valid = {f.path: f.oid for f in seeded.app.store.list_files("validate")}
    for path, doc in seeded.docs("detect").items():
        assert doc["model"] == {"file": "/yolox_nano_416.onnx", "sha256": committed.oid, "kind": "yolox",
                                "score_threshold": 0.3, "nms_iou": 0.45, "input_size": [416, 416]}
        assert doc["source"]["sha256"] == valid[doc["source"]["path"]]
        assert path == f"/{doc['camera']}/{doc['ts']}.json" and doc["camera"] == doc["device"]
        scores = [o["score"] for o in doc["objects"]]
        assert scores == sorted(scores, reverse=True) and min(scores) >= 0.3
        for o in doc["objects"]:
            x1, y1, x2, y2 = o["box"]
            assert 0 <= x1 <= x2 <= doc["width"] and 0 <= y1 <= y2 <= doc["height"], o
    assert all(p.endswith(".json") for p in seeded.files("detect")), "no annotated copies unless asked"


def test_annotate_writes_a_boxed_copy_of_each_frame(camera: Camera) -> None:
    camera.spec.write_text(camera.spec.read_text().replace("annotate: false", "annotate: true"))
    camera.app.create_pipelines(camera.spec, update=True)
    camera.run()
    docs = camera.docs("detect")
    assert len(docs) == 7
    for path, doc in docs.items():
        jpeg = camera.app.store.read_bytes("detect", None, path.replace(".json", ".jpg"))
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape[:2] == (doc["height"], doc["width"])


# ---- equivalence with a straight onnxruntime loop, written here from SOURCES.md alone ---------------------


def _straight_yolox(session: ort.InferenceSession, img: np.ndarray, thr: float, iou: float) -> np.ndarray:
    """Rows (x1, y1, x2, y2, score, coco80 class) sorted by score descending then x1."""
    h, w = img.shape[:2]
    r = min(416 / h, 416 / w)
    canvas = np.full((416, 416, 3), 114, np.uint8)
    canvas[: int(h * r), : int(w * r)] = cv2.resize(img, (int(w * r), int(h * r)), interpolation=cv2.INTER_LINEAR)
    out = session.run(None, {session.get_inputs()[0].name: canvas.transpose(2, 0, 1)[None].astype(np.float32)})
    pred = out[0][0].astype(np.float64)
    decoded, start = [], 0
    for stride in (8, 16, 32):
        n = 416 // stride
        p = pred[start : start + n * n]
        gy, gx = np.divmod(np.arange(n * n), n)
        cx, cy = (p[:, 0] + gx) * stride, (p[:, 1] + gy) * stride
        bw, bh = np.exp(p[:, 2]) * stride, np.exp(p[:, 3]) * stride
        scores = p[:, 4:5] * p[:, 5:]
        cls = scores.argmax(1)
        best = scores[np.arange(n * n), cls]
        decoded.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, best, cls], 1)[best >= thr])
        start += n * n
    rows = np.concatenate(decoded)
    kept = []
    for c in np.unique(rows[:, 5]):
        mine = rows[rows[:, 5] == c]
        boxes = [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in mine.tolist()]
        idx = np.asarray(cv2.dnn.NMSBoxes(boxes, mine[:, 4].tolist(), thr, iou), np.int64).reshape(-1)
        kept.append(mine[idx])
    res = np.concatenate(kept) if kept else np.zeros((0, 6))
    res[:, :4] /= r
    res[:, [0, 2]] = res[:, [0, 2]].clip(0, w)
    res[:, [1, 3]] = res[:, [1, 3]].clip(0, h)
    return res[np.lexsort((res[:, 0], -res[:, 4]))]


@pytest.mark.slow  # about 12 s on 2 cores: 106 frames through the stage and the loop
def test_stage_equals_straight_onnxruntime_loop_on_pets(tmp_path: Path, vigil_env: dict[str, str],
                                                        pets_dir: Path, models_dir: Path) -> None:
    frames = sorted(pets_dir.glob("frame_*.jpg"))
    assert len(frames) == 106
    cam = new_camera(tmp_path, ("validate", "motion", "detect"))
    cam.app.model_add(str(models_dir / "yolox_nano_416.onnx"))
    cam.put("images", {f"pets_{PETS_BASE_TS + i}.jpg": p for i, p in enumerate(frames)})
    cam.app.create_pipelines(cam.spec)
    jobs = cam.run()
    assert jobs["detect"].n_processed == len(frames), "every PETS frame passes validate"
    session = ort.InferenceSession(str(models_dir / "yolox_nano_416.onnx"), providers=["CPUExecutionProvider"])
    total = 0
    for i, path in enumerate(frames):
        doc = cam.doc("detect", f"/pets/{PETS_BASE_TS + i}.json")
        ref = _straight_yolox(session, cv2.imread(str(path)), thr=0.3, iou=0.45)
        objs = doc["objects"]
        got = np.array([[*o["box"], o["score"], o["class_id"]] for o in objs], np.float64).reshape(-1, 6)
        got = got[np.lexsort((got[:, 0], -got[:, 4]))]
        assert len(got) == len(ref), f"{path.name}: stage {len(got)} boxes, straight loop {len(ref)}"
        np.testing.assert_allclose(got[:, :4], ref[:, :4], atol=1.0, err_msg=path.name)
        np.testing.assert_allclose(got[:, 4], ref[:, 4], atol=1e-4, err_msg=path.name)
        np.testing.assert_array_equal(got[:, 5], ref[:, 5], err_msg=path.name)
        total += len(got)
    assert total > 3 * len(frames), "PETS frames hold several people each"


def test_fastestdet_through_model_add_also_detects(seeded: Camera, models_dir: Path,
                                                   vigil_env: dict[str, str]) -> None:
    seeded.cli("model", "add", str(models_dir / "FastestDet_352.onnx"), env=vigil_env)
    assert seeded.files("model") == ["/FastestDet_352.onnx"]
    jobs = seeded.run()
    assert jobs["detect"].n_processed == 7
    docs = seeded.docs("detect")
    assert {d["model"]["kind"] for d in docs.values()} == {"fastestdet"}
    labels = seeded.labels()
    assert sum(map(len, labels.values())) >= 7, labels
    assert labels["/dev4/1511891463.json"].count("person") >= 2, labels
    assert "car" in labels["/dev4/1511891512.json"] or "car" in labels["/dev3/1511891385.json"], labels


def test_detect_reuses_validate_decodes_and_gives_the_same_bytes_either_way(
        tmp_path: Path, vigil_env: dict[str, str], seed_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validate's decoded pixels are reused by detect (7 hits, no decode); with the cache off, detect decodes
    each frame itself and writes byte-identical records."""
    outputs = {}
    for budget in (256 << 20, 0):
        cache = FrameCache(budget)
        monkeypatch.setattr(framecache, "_shared", cache)
        cam = new_camera(tmp_path / f"cache{budget}", ("validate", "motion", "detect"))
        cam.app.model_add("yolox-nano")
        cam.put("images", {p.name: p for p in sorted(seed_dir.glob("*.jpg"))})
        cam.app.create_pipelines(cam.spec)
        cam.app.run("validate")
        cam.app.run("motion")
        cam.app.run("detect")
        outputs[budget] = {f.path: f.oid for f in cam.app.store.list_files("detect")}
        assert (cache.hits, cache.misses) == ((7, 0) if budget else (0, 7))
        cam.app.executor.close()
    assert len(outputs[0]) == 7 and outputs[256 << 20] == outputs[0]


def test_per_camera_input_size_and_class_merging(camera: Camera) -> None:
    """dev4 (the crowded pavement and the night street) runs aspect-matched at 640, the others at the model's
    416; with car/truck/bus merged no two vehicle boxes of one frame overlap beyond the NMS IoU."""
    params = "annotate: false, input_size: {cameras: {'dev4': {aspect: 640}}}, merge_classes: [[car, truck, bus]]"
    camera.spec.write_text(camera.spec.read_text().replace("annotate: false", params))
    camera.app.create_pipelines(camera.spec, update=True)
    camera.run()
    docs = camera.docs("detect")
    assert len(docs) == 7
    for path, doc in docs.items():
        w, h = doc["width"], doc["height"]
        expected = [640, -(-640 * min(w, h) // (max(w, h) * 32)) * 32] if doc["device"] == "dev4" else [416, 416]
        if doc["device"] == "dev4" and h > w:
            expected.reverse()
        assert doc["model"]["input_size"] == expected, path
        assert doc["model"]["merge_classes"] == [["car", "truck", "bus"]]
        vehicles = np.array([o["box"] for o in doc["objects"] if o["label"] in ("car", "truck", "bus")])
        for a in range(len(vehicles)):
            for b in range(a + 1, len(vehicles)):
                assert _iou(vehicles[a], vehicles[b]) <= 0.45, (path, vehicles[a], vehicles[b])
    labels = camera.labels()
    assert labels["/dev4/1511891463.json"].count("person") >= 8, "the bank queue at 640 as at 416"
    assert labels["/dev4/1511891512.json"].count("car") >= 3


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def test_a_size_the_committed_graph_cannot_take_fails_the_datums_with_the_fix(
        tmp_path: Path, vigil_env: dict[str, str], seed_dir: Path) -> None:
    cam = new_camera(tmp_path, ("validate", "motion", "detect"))
    cam.app.model_add("yolox-nano", any_input_size=False)
    cam.put("images", {"dev1_1511891098.jpg": seed_dir / "dev1_1511891098.jpg"})
    cam.spec.write_text(cam.spec.read_text().replace("annotate: false", "annotate: false, input_size: 640"))
    cam.app.create_pipelines(cam.spec)
    jobs = {j.pipeline: j for j in cam.app.run()}
    assert (jobs["detect"].n_failed, cam.app.store.head("detect")) == (1, None)
    assert "accepts only 416x416 input, not 640x640" in jobs["detect"].reason
    assert "vigil[models]" in jobs["detect"].reason, "the reason says how to fix it"
    cam.app.executor.close()


@pytest.mark.parametrize(("params", "match"), [
    ({"input_size": 650}, r"input_size: default: Value error, 650 is not a multiple of 32"),
    ({"merge_classes": [["car", "lorry"]]}, r"lorry"),
    ({"merge_classes": [["car", "truck"], ["truck"]]}, r"merge_classes: Value error, class 7 is in two"),
])
def test_bad_params_fail_at_stage_creation(params: dict[str, object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        DetectStage(params)
