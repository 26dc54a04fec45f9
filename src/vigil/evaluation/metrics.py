"""COCO-style per-class detection accuracy: pure functions of arrays.

Matching rules (identical to pycocotools ``COCOeval`` with ``iouType="bbox"``, area range "all", with a gt
``ignore`` box playing the part of a COCO ``iscrowd`` box; the test suite checks agreement to 1e-6):

* Classes are matched separately. Predictions are first renamed by the :class:`ClassMap` (ground truth
  never is); predictions of classes not evaluated are dropped, not counted as false positives.
* Per image and class, predictions are visited by descending score (stable for ties). At each IoU threshold
  ``t`` (0.50:0.05:0.95) a prediction takes the not-yet-taken regular gt box of highest IoU with IoU >= t
  (ties: the later box, as COCOeval). If there is none, it is *ignored* (neither TP nor FP) when it covers an
  ``ignore`` box with IoA = |pred ∩ ignore| / |pred| >= t; ignore boxes may absorb any number of predictions.
  Otherwise it is a false positive.
* ``ignore`` boxes never count as positives (``n_gt`` counts regular boxes only).
* AP is the mean over 101 recall points 0:0.01:1 of the interpolated precision (max precision at any recall >=
  r; 0 beyond the highest recall reached). A class with ``n_gt == 0`` has AP NaN and is left out of the mean.
* The operating point counts predictions with ``score >= operating_score`` at IoU 0.5; as matching is greedy
  by score, this equals re-matching only those predictions. ``fp_per_image`` divides by all evaluated images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vigil.domain.coco import COCO80_NAMES, class_index
from vigil.errors import UsageError
from vigil.evaluation.groundtruth import ClassMap, TruthArrays

__all__ = [
    "IOU_THRESHOLDS",
    "RECALL_POINTS",
    "ClassResult",
    "DetectionsLike",
    "EvalReport",
    "PRCurve",
    "average_precision",
    "evaluate",
    "match_image",
    "pairwise_ioa",
    "pairwise_iou",
]

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

# Built exactly as COCOeval builds them, so threshold comparisons agree bit for bit.
IOU_THRESHOLDS: F64 = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_POINTS: F64 = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1, endpoint=True)


class DetectionsLike(Protocol):
    """Anything with :class:`vigil.domain.detections.Detections`' three arrays."""

    @property
    def xyxy(self) -> npt.NDArray[Any]: ...
    @property
    def class_id(self) -> npt.NDArray[Any]: ...
    @property
    def score(self) -> npt.NDArray[Any]: ...


def _intersection(a: F64, b: F64) -> F64:
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter: F64 = np.clip(w, 0.0, None) * np.clip(h, 0.0, None)
    return inter


def _area(boxes: F64) -> F64:
    area: F64 = np.clip(boxes[:, 2] - boxes[:, 0], 0.0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0.0, None)
    return area


def pairwise_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> F64:
    """IoU of each box in ``a`` (N, 4) with each in ``b`` (M, 4), xyxy: (N, M) float64, 0 for empty unions."""
    a64, b64 = _boxes(a), _boxes(b)
    inter = _intersection(a64, b64)
    union = _area(a64)[:, None] + _area(b64)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def pairwise_ioa(a: npt.ArrayLike, b: npt.ArrayLike) -> F64:
    """Intersection over the area of ``a``'s box: (N, M) float64, 0 where that box has no area."""
    a64, b64 = _boxes(a), _boxes(b)
    inter = _intersection(a64, b64)
    area = np.broadcast_to(_area(a64)[:, None], inter.shape)
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)


def _boxes(x: npt.ArrayLike) -> F64:
    boxes: F64 = np.asarray(x, dtype=np.float64).reshape(-1, 4)
    return boxes


def match_image(
    pred_xyxy: npt.ArrayLike,
    pred_score: npt.ArrayLike,
    gt_xyxy: npt.ArrayLike,
    gt_ignore: npt.ArrayLike,
    thresholds: F64 = IOU_THRESHOLDS,
) -> tuple[F64, Bools, Bools]:
    """Greedy matching of one image's predictions of one class (rules in the module docstring).

    Returns ``(score, tp, ignored)``: the scores sorted descending (D,), and (T, D) booleans per threshold:
    true positive, and ignored (neither TP nor FP). A prediction that is neither is a false positive.
    """
    boxes, score = _boxes(pred_xyxy), np.asarray(pred_score, dtype=np.float64).reshape(-1)
    order = np.argsort(-score, kind="mergesort")
    boxes, score = boxes[order], score[order]
    gts, ignore = _boxes(gt_xyxy), np.asarray(gt_ignore, dtype=np.bool_).reshape(-1)
    iou = pairwise_iou(boxes, gts[~ignore])
    ioa = pairwise_ioa(boxes, gts[ignore]).max(axis=1, initial=0.0)
    thr = np.minimum(thresholds, 1 - 1e-10)[:, None]
    n_t, n_d, n_g = len(thresholds), len(score), iou.shape[1]
    tp = np.zeros((n_t, n_d), np.bool_)
    taken = np.zeros((n_t, n_g), np.bool_)
    rows = np.arange(n_t)
    for d in range(n_d):
        candidate = (iou[d][None, :] >= thr) & ~taken
        found = candidate.any(axis=1)
        if n_g:
            best = n_g - 1 - np.argmax(np.where(candidate, iou[d], -1.0)[:, ::-1], axis=1)
            taken[rows[found], best[found]] = True
        tp[:, d] = found
    ignored = ~tp & (ioa[None, :] >= thr)
    return score, tp, ignored


def average_precision(tp: Bools, n_gt: int) -> float:
    """COCO 101-point interpolated AP of ranked non-ignored predictions (``tp``: true = TP, false = FP)."""
    if n_gt <= 0:
        return math.nan
    if len(tp) == 0:
        return 0.0
    tps = np.cumsum(tp, dtype=np.float64)
    fps = np.cumsum(~tp, dtype=np.float64)
    recall = tps / n_gt
    precision = tps / np.maximum(tps + fps, 1.0)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    sampled = np.where(idx < len(envelope), envelope[np.minimum(idx, len(envelope) - 1)], 0.0)
    return float(sampled.mean())


@dataclass(frozen=True)
class PRCurve:
    """Raw precision/recall after each non-ignored prediction, by descending score, at IoU 0.5."""

    recall: F64
    precision: F64
    score: F64

    def envelope(self) -> F64:
        """Interpolated precision (max precision at this or any higher recall), the curve AP integrates."""
        return np.maximum.accumulate(self.precision[::-1])[::-1] if len(self.precision) else self.precision


@dataclass(frozen=True)
class ClassResult:
    """Accuracy of one class. AP and rates are NaN where undefined (no gt boxes; no predictions kept)."""

    class_id: int
    n_gt: int
    n_pred: int
    ap50: float
    ap: float
    ap_per_iou: tuple[float, ...]
    tp: int
    fp: int
    precision: float
    recall: float
    fp_per_image: float
    pr_curve: PRCurve

    @property
    def name(self) -> str:
        return COCO80_NAMES[self.class_id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "class_id": self.class_id,
            "n_gt": self.n_gt,
            "n_pred": self.n_pred,
            "ap50": _num(self.ap50),
            "ap": _num(self.ap),
            "ap_per_iou": [_num(v) for v in self.ap_per_iou],
            "tp": self.tp,
            "fp": self.fp,
            "precision": _num(self.precision),
            "recall": _num(self.recall),
            "fp_per_image": _num(self.fp_per_image),
            "pr_curve": {
                "recall": [round(float(v), 6) for v in self.pr_curve.recall],
                "precision": [round(float(v), 6) for v in self.pr_curve.precision],
                "score": [round(float(v), 6) for v in self.pr_curve.score],
            },
        }


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


@dataclass(frozen=True)
class EvalReport:
    """Per-class results of :func:`evaluate` and the settings that produced them."""

    classes: tuple[ClassResult, ...]
    n_images: int
    operating_score: float
    class_map: str
    iou_thresholds: tuple[float, ...]

    @property
    def map50(self) -> float:
        """Mean AP50 over classes with ground truth; NaN if none has any."""
        return _nanmean([c.ap50 for c in self.classes])

    @property
    def map(self) -> float:
        """Mean AP@[.5:.95] over classes with ground truth; NaN if none has any."""
        return _nanmean([c.ap for c in self.classes])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes ``None``."""
        return {
            "n_images": self.n_images,
            "operating_score": self.operating_score,
            "class_map": self.class_map,
            "iou_thresholds": [round(t, 4) for t in self.iou_thresholds],
            "map50": _num(self.map50),
            "map": _num(self.map),
            "classes": [c.to_dict() for c in self.classes],
        }

    def format_table(self) -> str:
        """Plain-text table, one row per class and a mean row; ``-`` marks undefined values."""
        head = ("class", "n_gt", "n_pred", "AP50", "AP", "P", "R", "FP/img")
        rows = [
            (c.name, str(c.n_gt), str(c.n_pred), *(_fmt(v) for v in (c.ap50, c.ap, c.precision, c.recall)),
             _fmt(c.fp_per_image, 2))
            for c in self.classes
        ]  # fmt: skip
        rows.append(("mean", "", "", _fmt(self.map50), _fmt(self.map), "", "", ""))
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = [
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in [head, *rows]
        ]
        lines = [line.rstrip() for line in lines]
        note = f"{self.n_images} images; P/R/FP at score >= {self.operating_score:g}, IoU 0.5"
        if self.class_map:
            note += f"; class map {self.class_map}"
        return "\n".join([*lines, note])


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def _nanmean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


@dataclass(frozen=True)
class _Preds:
    xyxy: F64
    class_id: npt.NDArray[np.int64]
    score: F64


def evaluate(
    predictions: Mapping[str, DetectionsLike],
    ground_truth: Mapping[str, TruthArrays],
    *,
    classes: Sequence[str | int] | None = None,
    operating_score: float = 0.5,
    class_map: ClassMap | None = None,
) -> EvalReport:
    """Score ``predictions`` against ``ground_truth``, both keyed by image name.

    Every image in ``ground_truth`` is evaluated; one without predictions counts as predicting nothing.
    ``classes`` (COCO-80 names or indices) defaults to the classes present in the ground truth, by index.
    Raises :class:`UsageError` for predictions of an image absent from the ground truth, class ids outside
    COCO-80, an unknown class name, or a non-finite ``operating_score``.
    """
    if not math.isfinite(operating_score):
        raise UsageError(f"operating score must be a finite number, got {operating_score}")
    unknown = sorted(set(predictions) - set(ground_truth))
    if unknown:
        raise UsageError(
            f"predictions for {len(unknown)} image(s) without ground truth, e.g. {unknown[0]!r}",
            "evaluate against the gt.json of the same data set",
        )
    cmap = class_map or ClassMap.identity()
    images = list(ground_truth)
    preds = {image: _prepare(image, predictions.get(image), cmap) for image in images}
    class_ids = _resolve_classes(classes, ground_truth)
    results = tuple(_evaluate_class(c, images, preds, ground_truth, operating_score) for c in class_ids)
    return EvalReport(
        results, len(images), float(operating_score), str(cmap), tuple(map(float, IOU_THRESHOLDS))
    )


def _prepare(image: str, det: DetectionsLike | None, cmap: ClassMap) -> _Preds:
    if det is None:
        return _Preds(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0))
    class_id = np.asarray(det.class_id, dtype=np.int64).reshape(-1)
    if len(class_id) and (class_id.min() < 0 or class_id.max() >= len(COCO80_NAMES)):
        raise UsageError(f"predictions for {image!r} have class ids outside COCO-80 0..79")
    return _Preds(_boxes(det.xyxy), cmap.apply(class_id), np.asarray(det.score, dtype=np.float64).reshape(-1))


def _resolve_classes(classes: Sequence[str | int] | None, truth: Mapping[str, TruthArrays]) -> list[int]:
    if classes is None:
        present = [t.class_id for t in truth.values()]
        return sorted(set(np.concatenate(present).tolist())) if present else []
    out: list[int] = []
    for c in classes:
        if isinstance(c, str):
            try:
                index = class_index(c)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        elif 0 <= int(c) < len(COCO80_NAMES):
            index = int(c)
        else:
            raise UsageError(f"class index {c} is outside COCO-80 0..79")
        if index not in out:
            out.append(index)
    return out


def _evaluate_class(
    class_id: int, images: list[str], preds: Mapping[str, _Preds], truth: Mapping[str, TruthArrays], op: float
) -> ClassResult:
    scores, tps, ignores = [], [], []
    n_gt = n_pred = 0
    for image in images:
        p, g = preds[image], truth[image]
        pm, gm = p.class_id == class_id, g.class_id == class_id
        n_gt += int(np.count_nonzero(gm & ~g.ignore))
        n_pred += int(np.count_nonzero(pm))
        s, tp, ig = match_image(p.xyxy[pm], p.score[pm], g.xyxy[gm], g.ignore[gm])
        scores.append(s)
        tps.append(tp)
        ignores.append(ig)
    score = np.concatenate(scores) if scores else np.zeros(0)
    tp = np.concatenate(tps, axis=1) if tps else np.zeros((len(IOU_THRESHOLDS), 0), np.bool_)
    ignored = np.concatenate(ignores, axis=1) if ignores else np.zeros_like(tp)
    order = np.argsort(-score, kind="mergesort")  # stable: images in order, as COCOeval.accumulate
    score, tp, ignored = score[order], tp[:, order], ignored[:, order]
    ap_per_iou = tuple(average_precision(tp[t][~ignored[t]], n_gt) for t in range(len(IOU_THRESHOLDS)))

    kept = ~ignored[0]
    tp50, score50 = tp[0][kept], score[kept]
    cum_tp = np.cumsum(tp50, dtype=np.float64)
    ranks = np.arange(1, len(tp50) + 1, dtype=np.float64)
    curve = PRCurve(cum_tp / n_gt if n_gt else np.full(len(tp50), np.nan), cum_tp / ranks, score50)
    at_op = score50 >= op
    n_tp = int(np.count_nonzero(tp50[at_op]))
    n_fp = int(np.count_nonzero(at_op)) - n_tp
    return ClassResult(
        class_id=class_id,
        n_gt=n_gt,
        n_pred=n_pred,
        ap50=ap_per_iou[0],
        ap=_nanmean(ap_per_iou) if n_gt else math.nan,
        ap_per_iou=ap_per_iou,
        tp=n_tp,
        fp=n_fp,
        precision=n_tp / (n_tp + n_fp) if n_tp + n_fp else math.nan,
        recall=n_tp / n_gt if n_gt else math.nan,
        fp_per_image=n_fp / len(images) if images else math.nan,
        pr_curve=curve,
    )
