"""``vigil.assess`` against an independent evaluation: plain onnxruntime (own letterbox, decode, NMS) and an own
AP50 (greedy matching at IoU 0.5 with ignore regions, COCO 101-point interpolation, as metrics.py uses)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from tests.shared_data import unavailable
from vigil.assess import assess_dataset, evaluate_dataset, load_truth, rule_stats
from vigil.domain.detections import Detections
from vigil.domain.rules import parse_ruleset
from vigil.errors import UsageError
from vigil.evaluation import ClassMap

REPO = Path(__file__).resolve().parents[1]
SHARED = next((p for p in (REPO / "shared", REPO.parent / "shared") if (p / "data").is_dir()), REPO / "shared")
EVAL = SHARED / "data" / "eval"
MODEL = SHARED / "models" / "yolox_nano_416.onnx"
COCO = {"person": 0, "car": 2, "bus": 5, "truck": 7}
# data set -> (scored class, predicted classes renamed to it)
SETS = {
    "pets2009_s2l1": ("person", ()),
    "highway_cctv_vehicles": ("car", ("truck", "bus")),
    "pennfudan_ped": ("person", ()),
    "mot17_mini": ("person", ()),
}


def _need(path: Path) -> None:
    if not path.exists():
        unavailable(f"{path} is missing (shared data/models not present)")


# ---------------------------------------------------------------- independent reference implementation
def _letterbox(img: np.ndarray) -> tuple[np.ndarray, float]:
    r = min(416 / img.shape[0], 416 / img.shape[1])
    resized = cv2.resize(img, (int(img.shape[1] * r), int(img.shape[0] * r)), interpolation=cv2.INTER_LINEAR)
    pad = np.full((416, 416, 3), 114, np.uint8)
    pad[: resized.shape[0], : resized.shape[1]] = resized
    return pad, r


def _nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    order, keep = list(np.argsort(-scores, kind="stable")), []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = np.array(order, dtype=int)
        if not len(rest):
            break
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        iou = inter / (area(boxes[i]) + area(boxes[rest]) - inter)
        order = [j for j, o in zip(rest, iou, strict=True) if o <= thr]
    return keep


def _reference_detect(session: ort.InferenceSession, img: np.ndarray, wanted: set[int]) -> tuple[np.ndarray, ...]:
    """(boxes, scores, classes) of YOLOX-nano at score >= 0.01, class-wise NMS 0.45, as SOURCES.md describes."""
    pad, r = _letterbox(img)
    out = session.run(None, {session.get_inputs()[0].name: pad.transpose(2, 0, 1)[None].astype(np.float32)})[0][0]
    grids, strides = [], []
    for s in (8, 16, 32):
        n = 416 // s
        gy, gx = np.mgrid[0:n, 0:n]
        grids.append(np.stack([gx.ravel(), gy.ravel()], 1))
        strides.append(np.full(n * n, s))
    grid, stride = np.concatenate(grids), np.concatenate(strides)[:, None]
    cxy = (out[:, :2] + grid) * stride
    wh = np.exp(out[:, 2:4]) * stride
    boxes = np.concatenate([cxy - wh / 2, cxy + wh / 2], 1) / r
    cls_scores = out[:, 4:5] * out[:, 5:]
    cls = cls_scores.argmax(1)
    score = cls_scores.max(1)
    keep_b, keep_s, keep_c = [], [], []
    for c in np.unique(cls[score >= 0.01]):
        m = (cls == c) & (score >= 0.01)
        b, s_ = boxes[m], score[m]
        for i in _nms(b, s_, 0.45):
            keep_b.append(b[i])
            keep_s.append(s_[i])
            keep_c.append(c)
    b = np.array(keep_b).reshape(-1, 4)
    b = np.clip(b, 0, [img.shape[1], img.shape[0], img.shape[1], img.shape[0]])
    return b, np.array(keep_s), np.array(keep_c)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _ioa(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1])
    return w * h / area if area > 0 else 0.0


def reference_ap50(name: str) -> float:
    """Own detection loop and own AP50 over one data set."""
    target, merged = SETS[name]
    ids = {COCO[target], *(COCO[m] for m in merged)}
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    gt = json.loads((EVAL / name / "gt.json").read_text())
    ranked: list[tuple[float, str]] = []  # (score, "tp" | "fp" | "ign")
    n_gt = 0
    for entry in gt:
        img = cv2.imread(str(EVAL / name / entry["image"]), cv2.IMREAD_COLOR)
        boxes, scores, classes = _reference_detect(session, img, ids)
        keep = np.isin(classes, list(ids))
        boxes, scores = boxes[keep], scores[keep]
        regular = [np.array([b["x1"], b["y1"], b["x2"], b["y2"]]) for b in entry["boxes"]
                   if b["label"] == target and not b.get("ignore")]
        ignore = [np.array([b["x1"], b["y1"], b["x2"], b["y2"]]) for b in entry["boxes"]
                  if b["label"] == target and b.get("ignore")]
        n_gt += len(regular)
        taken = [False] * len(regular)
        for i in np.argsort(-scores, kind="stable"):
            best, best_iou = -1, 0.5
            for g, box in enumerate(regular):
                o = _iou(boxes[i], box)
                if not taken[g] and o >= best_iou:
                    best, best_iou = g, o
            if best >= 0:
                taken[best] = True
                ranked.append((float(scores[i]), "tp"))
            elif any(_ioa(boxes[i], box) >= 0.5 for box in ignore):
                ranked.append((float(scores[i]), "ign"))
            else:
                ranked.append((float(scores[i]), "fp"))
    ranked = [r for r in sorted(ranked, key=lambda r: -r[0]) if r[1] != "ign"]
    tp = np.cumsum([r[1] == "tp" for r in ranked])
    fp = np.cumsum([r[1] == "fp" for r in ranked])
    recall, precision = tp / n_gt, tp / np.maximum(tp + fp, 1)
    total = 0.0
    for point in np.linspace(0, 1, 101):  # COCO 101-point interpolation
        reached = precision[recall >= point]
        total += reached.max() if len(reached) else 0.0
    return total / 101


def _vigil_ap50(name: str) -> float:
    target, merged = SETS[name]
    cmap = f"{','.join(merged)}={target}" if merged else None
    # merge=False: the reference suppresses duplicates per class (NMS before the map), as vigil does unmerged
    report = evaluate_dataset(EVAL / name / "gt.json", images=EVAL / name, model=MODEL, classes=[target],
                              class_map=cmap, merge=False)
    (result,) = report.classes
    return result.ap50


@pytest.mark.parametrize("name", ["pets2009_s2l1", "highway_cctv_vehicles"])
def test_ap50_matches_independent_evaluation(name: str) -> None:
    _need(EVAL / name)
    _need(MODEL)
    assert _vigil_ap50(name) == pytest.approx(reference_ap50(name), abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pennfudan_ped", "mot17_mini"])
def test_ap50_matches_independent_evaluation_other_sets(name: str) -> None:
    _need(EVAL / name)
    _need(MODEL)
    assert _vigil_ap50(name) == pytest.approx(reference_ap50(name), abs=0.01)


def test_video_ground_truth_by_frame_index(tmp_path: Path) -> None:
    video = SHARED / "data" / "video" / "pets2009_s2l1_dev_7fps.mp4"
    _need(video)
    _need(MODEL)
    gt = video.with_name("pets2009_s2l1_dev_7fps.gt.json")
    records = load_truth(gt)
    assert records[0].image == "frame:0" and records[0].frame_index == 0
    result = assess_dataset(gt, video=video, model=MODEL, classes=["person"], fps=0.7)  # every 10th frame
    assert result.n_frames == len([r for r in records if r.frame_index is not None and r.frame_index % 10 == 0])
    assert result.report.classes[0].ap50 > 0.5


def test_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="exactly one of --images"):
        assess_dataset(tmp_path / "gt.json")


def test_rule_stats_counts_frames() -> None:
    rules = parse_ruleset('{"threat_classes": [1]}', "rule.json")  # person, min score 0.5
    _need(EVAL / "pets2009_s2l1" / "gt.json")
    truth = load_truth(EVAL / "pets2009_s2l1" / "gt.json")[:3]
    person = Detections(np.array([[0, 0, 10, 10]], np.float32), np.array([0]), np.array([0.9], np.float32))
    frames = [(truth[0], person), (truth[1], Detections.empty()), (truth[2], person)]
    stats = rule_stats(rules, frames, {0}, 0.3, ClassMap.identity(), 1.0)
    assert (stats.n_frames, stats.frames_with_events, stats.hits, stats.misses) == (3, 2, 2, 1)
