"""Operating points: the score threshold that reaches a target precision with the most recall.

A camera pipeline runs at one score (detect's ``score_threshold``, a rule's ``min_score``); the default 0.3
is far from right everywhere (highway cars: recall 0.08 at 0.3). From the PR curve at IoU 0.5, the suggested
threshold is the lowest score whose predictions at or above it still have precision >= the target; being the
lowest such score, it is the one with the best recall. Pure functions of the evaluation's arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.errors import UsageError
from vigil.evaluation.groundtruth import ClassMap, TruthArrays
from vigil.evaluation.metrics import DetectionsLike, PRCurve, evaluate

ALL = "all"  # the scope of every image together


@dataclass(frozen=True)
class Suggestion:
    """The threshold for one class over one scope (all images, or one camera/sequence); None if unreachable."""

    scope: str
    class_name: str
    target: float
    threshold: float | None
    precision: float
    recall: float
    tp: int
    fp: int
    n_gt: int

    def to_dict(self) -> dict[str, Any]:
        def num(v: float | None) -> float | None:
            return None if v is None or math.isnan(v) else round(v, 6)

        return {"scope": self.scope, "class": self.class_name, "target_precision": self.target,
                "threshold": num(self.threshold), "precision": num(self.precision), "recall": num(self.recall),
                "tp": self.tp, "fp": self.fp, "n_gt": self.n_gt}


def threshold_for_precision(curve: PRCurve, n_gt: int, target: float) -> tuple[float, int, int] | None:
    """(threshold, TP, FP) of the lowest score cut with precision >= ``target``, or None if no cut reaches it.

    Cuts fall only between different scores: predictions tied at the threshold are all kept by ``>=``. The
    threshold is the shortest decimal between the cut and the next lower score (:func:`short_threshold`).
    """
    if n_gt <= 0 or not len(curve.score):
        return None
    score = curve.score
    last_of_tie = np.append(score[1:] < score[:-1], True)
    ranks = np.arange(1, len(score) + 1)
    tp = np.rint(curve.precision * ranks).astype(np.int64)  # precision = cumulative TP / rank
    ok = np.flatnonzero(last_of_tie & (tp >= target * ranks - 1e-9))
    if not len(ok):
        return None
    k = int(ok[-1])
    lower = float(score[k + 1]) if k + 1 < len(score) else 0.0
    return short_threshold(lower, float(score[k])), int(tp[k]), int(k + 1 - tp[k])


def short_threshold(lower: float, cut: float) -> float:
    """The shortest decimal ``t`` with ``lower < t <= cut`` (in float32 too, as detection scores are): a value
    to type into a config that keeps exactly the predictions scored >= ``cut``. Rounding the cut score itself
    could drop it (0.0305 as 0.031) or let in a lower-scored false positive (0.0304 as 0.030)."""
    for digits in range(1, 9):
        scale = 10.0**digits
        t = math.floor(cut * scale + 1e-6) / scale  # + 1e-6: 0.0304 * 1e4 is 303.99999...
        if lower < float(np.float32(t)) and t > lower and float(np.float32(t)) <= cut:
            return t
    return cut


def suggest_thresholds(
    predictions: Mapping[str, DetectionsLike],
    truth: Mapping[str, TruthArrays],
    target: float,
    *,
    scopes: Mapping[str, Sequence[str]] | None = None,
    classes: Sequence[str | int] | None = None,
    class_map: ClassMap | None = None,
) -> list[Suggestion]:
    """One :class:`Suggestion` per scope and class: scope ``all`` (every image), then each of ``scopes`` (name
    -> image names, e.g. per camera). Predictions must come from a low detector score (``vigil eval``'s 0.01)
    or thresholds below it cannot be found. ``UsageError`` when ``target`` is not in (0, 1].
    """
    if not 0.0 < target <= 1.0:
        raise UsageError(f"target precision must be in (0, 1], got {target}", "e.g. --target-precision 0.9")
    out = []
    for scope, images in {ALL: list(truth), **(scopes or {})}.items():
        sub_truth = {i: truth[i] for i in images}
        sub_pred = {i: predictions[i] for i in images if i in predictions}
        report = evaluate(sub_pred, sub_truth, classes=classes, class_map=class_map)
        for c in report.classes:
            found = threshold_for_precision(c.pr_curve, c.n_gt, target)
            if found is None:
                out.append(Suggestion(scope, c.name, target, None, math.nan, math.nan, 0, 0, c.n_gt))
                continue
            thr, tp, fp = found
            out.append(Suggestion(scope, c.name, target, thr, tp / (tp + fp), tp / c.n_gt, tp, fp, c.n_gt))
    return out


__all__ = ["ALL", "Suggestion", "short_threshold", "suggest_thresholds", "threshold_for_precision"]
