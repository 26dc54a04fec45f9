"""Detection accuracy evaluation: ground truth loading, COCO-style metrics (pure numpy) and PR plots."""

from vigil.evaluation.groundtruth import (
    ClassMap,
    GtBox,
    ImageTruth,
    TruthArrays,
    load_ground_truth,
    truth_arrays,
)
from vigil.evaluation.metrics import ClassResult, EvalReport, PRCurve, evaluate, pairwise_ioa, pairwise_iou

__all__ = [
    "ClassMap",
    "ClassResult",
    "EvalReport",
    "GtBox",
    "ImageTruth",
    "PRCurve",
    "TruthArrays",
    "evaluate",
    "load_ground_truth",
    "pairwise_ioa",
    "pairwise_iou",
    "truth_arrays",
]
