"""Suggested operating thresholds: the lowest score reaching a target precision (hand-made rankings, ties,
unreachable targets, per-camera scopes), checked against the metrics' own P/R at that score."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.evaluation.test_metrics import CAR, PERSON, det, gt
from vigil.errors import UsageError
from vigil.evaluation.groundtruth import ClassMap
from vigil.evaluation.metrics import PRCurve, evaluate
from vigil.evaluation.operating import ALL, short_threshold, suggest_thresholds, threshold_for_precision


def curve(hits: list[bool], scores: list[float], n_gt: int) -> PRCurve:
    tp = np.cumsum(hits, dtype=np.float64)
    ranks = np.arange(1, len(hits) + 1)
    return PRCurve(tp / n_gt, tp / ranks, np.asarray(scores, np.float64))


@pytest.mark.parametrize(("hits", "scores", "target", "expected"), [
    # TP TP FP TP FP FP: precision 1, 1, .67, .75, .6, .5
    ([1, 1, 0, 1, 0, 0], [.9, .8, .7, .6, .5, .4], 0.75, (0.6, 3, 1)),
    ([1, 1, 0, 1, 0, 0], [.9, .8, .7, .6, .5, .4], 0.8, (0.8, 2, 0)),
    ([1, 1, 0, 1, 0, 0], [.9, .8, .7, .6, .5, .4], 0.5, (0.4, 3, 3)),
    # a tie at 0.6 (TP, FP): the cut cannot fall between them, so 0.6 gives 3/5 = 0.6 < 0.75 -> 0.8
    ([1, 1, 0, 1, 0], [.9, .8, .7, .6, .6], 0.75, (0.8, 2, 0)),
    ([0, 1, 1], [.9, .8, .7], 0.5, (0.7, 2, 1)),
    ([0, 0, 1], [.9, .8, .7], 0.5, None),  # never reaches 0.5
])
def test_threshold_for_precision(hits: list[int], scores: list[float], target: float,
                                 expected: tuple[float, int, int] | None) -> None:
    assert threshold_for_precision(curve([bool(h) for h in hits], scores, 5), 5, target) == expected


def test_no_ground_truth_or_no_predictions() -> None:
    assert threshold_for_precision(curve([], [], 1), 0, 0.5) is None
    assert threshold_for_precision(curve([], [], 3), 3, 0.5) is None


A, B, C = [10, 10, 50, 90], [100, 100, 160, 140], [200, 200, 240, 260]
MISS = [400, 400, 440, 440]


def _scene() -> tuple[dict, dict, dict]:
    """cam1: two people found at high scores, one false alarm at 0.5; cam2: a false alarm at 0.9 above its
    only person at 0.4."""
    truth = {"c1a": gt((A, PERSON), (B, PERSON)), "c1b": gt((C, PERSON)), "c2a": gt((A, PERSON))}
    preds = {"c1a": det((A, PERSON, 0.95), (B, PERSON, 0.8), (MISS, PERSON, 0.5)),
             "c1b": det((C, PERSON, 0.45)),
             "c2a": det((MISS, PERSON, 0.9), (A, PERSON, 0.4))}
    scopes = {"cam1": ["c1a", "c1b"], "cam2": ["c2a"]}
    return truth, preds, scopes


def test_per_camera_suggestions_and_their_precision_really_holds() -> None:
    truth, preds, scopes = _scene()
    got = {(s.scope, s.class_name): s for s in suggest_thresholds(preds, truth, 0.75, scopes=scopes)}
    assert set(got) == {(ALL, "person"), ("cam1", "person"), ("cam2", "person")}
    cam1, cam2, every = got["cam1", "person"], got["cam2", "person"], got[ALL, "person"]
    # cam1: every prediction (lowest 0.45) has precision 3/4: the shortest threshold keeping them all
    assert (cam1.threshold, cam1.tp, cam1.fp, cam1.recall) == (0.4, 3, 1, 1.0)
    assert cam2.threshold is None and math.isnan(cam2.precision) and cam2.n_gt == 1  # 0.5 at best
    # all together: 0.95 TP, 0.9 FP (cam2), 0.8 TP, 0.5 FP ...: only the first cut keeps precision >= 0.75
    assert every.threshold is not None and 0.9 < every.threshold <= 0.95
    assert (every.tp, every.fp, every.recall) == (1, 0, 0.25)
    for s, images in ((cam1, scopes["cam1"]), (every, list(truth))):
        assert s.threshold is not None
        report = evaluate({i: preds[i] for i in images}, {i: truth[i] for i in images},
                          operating_score=s.threshold)
        (c,) = report.classes
        assert c.precision >= 0.75 and (c.precision, c.recall) == (pytest.approx(s.precision),
                                                                  pytest.approx(s.recall))


def test_class_map_and_classes_are_honoured() -> None:
    truth = {"x": gt((A, CAR))}
    preds = {"x": det((A, 7, 0.6))}  # a truck on the car
    (s,) = suggest_thresholds(preds, truth, 0.9, classes=["car"], class_map=ClassMap.parse("truck=car"))
    assert (s.class_name, s.threshold, s.recall) == ("car", pytest.approx(0.6), 1.0)
    (s,) = suggest_thresholds(preds, truth, 0.9, classes=["car"])
    assert s.threshold is None


@pytest.mark.parametrize("target", [0.0, 1.5, -1.0])
def test_bad_target(target: float) -> None:
    truth, preds, _ = _scene()
    with pytest.raises(UsageError, match="target precision must be in"):
        suggest_thresholds(preds, truth, target)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 20)), min_size=1, max_size=30),
       st.floats(0.05, 1.0))
def test_suggestion_is_the_best_recall_cut_reaching_the_target(rows: list[tuple[bool, int]], target: float) -> None:
    """Against brute force over every distinct score: the suggestion is the lowest cut with P >= target (so no
    lower threshold reaches the target)."""
    rows.sort(key=lambda r: -r[1])
    hits, scores = [r[0] for r in rows], [r[1] / 20 for r in rows]
    n_gt = max(1, sum(hits))
    best = None
    for thr in sorted(set(scores)):  # lowest first
        kept = [h for h, s in zip(hits, scores, strict=True) if s >= thr]
        if sum(kept) >= target * len(kept) - 1e-9:
            best = (sum(kept), len(kept) - sum(kept))
            break
    got = threshold_for_precision(curve(hits, scores, n_gt), n_gt, target)
    assert (got and got[1:]) == best or got == best
    if got is not None:  # the short threshold keeps exactly the predictions of the brute-force cut
        kept = [h for h, s in zip(hits, scores, strict=True) if np.float32(s) >= got[0]]
        assert (sum(kept), len(kept) - sum(kept)) == best


@pytest.mark.parametrize(("lower", "cut", "expected"), [
    (0.5, 0.6, 0.6), (0.2, 0.35, 0.3), (0.03, 0.0304, 0.0304), (0.0301, 0.0304, 0.0304),
    (0.0301, 0.03048, 0.0304), (0.0, 0.4, 0.4),
    (0.30000001, 0.30000002, 0.30000002),
])
def test_short_threshold(lower: float, cut: float, expected: float) -> None:
    t = short_threshold(lower, cut)
    assert t == pytest.approx(expected) and lower < t <= cut
