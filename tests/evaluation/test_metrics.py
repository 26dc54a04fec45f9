"""COCO-style metrics: hand-computed cases, invariants, and a cross-check against pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.shared_data import unavailable
from vigil.domain.coco import class_index
from vigil.domain.detections import Detections
from vigil.errors import UsageError
from vigil.evaluation.groundtruth import ClassMap, TruthArrays
from vigil.evaluation.metrics import EvalReport, evaluate, match_image, pairwise_ioa, pairwise_iou

PERSON, CAR, TRUCK = class_index("person"), class_index("car"), class_index("truck")
Box = Sequence[float]


def gt(*boxes: tuple[Box, int] | tuple[Box, int, bool]) -> TruthArrays:
    """Builder: ``gt(([x1, y1, x2, y2], class_id[, ignore]), ...)``."""
    return TruthArrays(
        np.array([b[0] for b in boxes], np.float64).reshape(-1, 4),
        np.array([b[1] for b in boxes], np.int64),
        np.array([b[2] if len(b) > 2 else False for b in boxes], np.bool_),
    )


def det(*boxes: tuple[Box, int, float]) -> Detections:
    """Builder: ``det(([x1, y1, x2, y2], class_id, score), ...)``."""
    if not boxes:
        return Detections.empty()
    return Detections(
        np.array([b[0] for b in boxes], np.float32),
        np.array([b[1] for b in boxes], np.int64),
        np.array([b[2] for b in boxes], np.float32),
    )


A, B, FAR = [10, 10, 50, 90], [100, 100, 160, 140], [300, 300, 340, 340]


def only(report: EvalReport, class_id: int = PERSON) -> Any:
    (result,) = [c for c in report.classes if c.class_id == class_id]
    return result


def test_iou_and_ioa_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]])
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30]])
    assert np.allclose(pairwise_iou(a, b), [[50 / 150, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert np.allclose(pairwise_ioa(a, b), [[0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert pairwise_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_perfect_predictions() -> None:
    truth = {"x": gt((A, PERSON), (B, PERSON)), "y": gt((FAR, CAR))}
    preds = {"x": det((A, PERSON, 0.9), (B, PERSON, 0.6)), "y": det((FAR, CAR, 0.7))}
    report = evaluate(preds, truth, operating_score=0.5)
    for c in report.classes:
        assert (c.ap50, c.ap, c.precision, c.recall, c.fp_per_image) == (1.0, 1.0, 1.0, 1.0, 0.0)
    assert (report.map50, report.map) == (1.0, 1.0)
    assert [c.name for c in report.classes] == ["person", "car"]


def test_false_positive_above_the_true_positive_halves_ap() -> None:
    report = evaluate({"x": det((FAR, PERSON, 0.9), (A, PERSON, 0.8))}, {"x": gt((A, PERSON))})
    r = only(report)
    assert r.ap50 == r.ap == 0.5
    assert (r.tp, r.fp, r.precision, r.recall, r.fp_per_image) == (1, 1, 0.5, 1.0, 1.0)
    np.testing.assert_allclose(r.pr_curve.precision, [0.0, 0.5])
    np.testing.assert_allclose(r.pr_curve.recall, [0.0, 1.0])


def test_false_positive_below_the_true_positive_costs_nothing() -> None:
    r = only(evaluate({"x": det((FAR, PERSON, 0.2), (A, PERSON, 0.8))}, {"x": gt((A, PERSON))}))
    assert r.ap == 1.0
    assert (r.tp, r.fp) == (1, 0)  # the FP is below the operating score 0.5


def test_missed_ground_truth() -> None:
    r = only(evaluate({"x": det((A, PERSON, 0.9))}, {"x": gt((A, PERSON)), "y": gt((B, PERSON))}))
    assert r.ap50 == pytest.approx(51 / 101)  # precision 1 for recall points 0.00..0.50, 0 after
    assert (r.n_gt, r.recall, r.precision) == (2, 0.5, 1.0)


def test_duplicate_is_a_false_positive() -> None:
    r = only(evaluate({"x": det((A, PERSON, 0.9), (A, PERSON, 0.8))}, {"x": gt((A, PERSON))}))
    assert r.ap == 1.0  # the duplicate ranks below the TP
    assert (r.tp, r.fp, r.precision, r.fp_per_image) == (1, 1, 0.5, 1.0)


def test_iou_threshold_sweep() -> None:
    # IoU 0.72 with the gt: a TP at thresholds 0.50..0.70 (5 of 10), FP above.
    shifted = [10, 10 + 0.1627907 * 80, 50, 90 + 0.1627907 * 80]
    iou = pairwise_iou([shifted], [A])[0, 0]
    assert 0.7 < iou < 0.75
    r = only(evaluate({"x": det((shifted, PERSON, 0.9))}, {"x": gt((A, PERSON))}))
    assert r.ap50 == 1.0 and r.ap == pytest.approx(0.5)
    assert r.ap_per_iou == (1.0,) * 5 + (0.0,) * 5


def test_prediction_on_ignore_box_is_neither_tp_nor_fp() -> None:
    truth = {"x": gt((A, PERSON), (B, PERSON, True))}
    r = only(evaluate({"x": det((B, PERSON, 0.95), (B, PERSON, 0.9), (A, PERSON, 0.8))}, truth))
    assert (r.n_gt, r.n_pred, r.ap, r.tp, r.fp) == (1, 3, 1.0, 1, 0)
    assert len(r.pr_curve.score) == 1


def test_prediction_inside_large_ignore_region_is_ignored_by_ioa() -> None:
    region = [0, 0, 400, 400]
    r = only(
        evaluate(
            {"x": det(([20, 20, 40, 40], PERSON, 0.9))}, {"x": gt((region, PERSON, True), (FAR, PERSON))}
        )
    )
    assert pairwise_iou([[20, 20, 40, 40]], [region])[0, 0] < 0.01
    assert (r.fp, r.ap) == (0, 0.0)  # no FP; the regular gt was simply missed


def test_half_covered_ignore_region_is_ignored_only_at_iou_050() -> None:
    pred = [50, 0, 150, 100]  # IoA 0.5 with the ignore box
    truth = {"x": gt(([0, 0, 100, 100], PERSON, True), (B, PERSON))}
    r = only(evaluate({"x": det((pred, PERSON, 0.9), (B, PERSON, 0.5))}, truth))
    assert r.ap_per_iou == (1.0,) + (0.5,) * 9
    assert r.ap == pytest.approx(0.55)


def test_regular_box_is_preferred_over_ignore_box() -> None:
    _, tp, ignored = match_image([A], [0.9], [A, A], [True, False])
    assert tp.all() and not ignored.any()


def test_ignore_boxes_are_per_class_and_not_positives() -> None:
    truth = {"x": gt((A, CAR, True))}
    report = evaluate({"x": det((A, PERSON, 0.9))}, truth, classes=["person", "car"])
    person, car = only(report, PERSON), only(report, CAR)
    assert (person.fp, person.n_gt) == (1, 0) and math.isnan(person.ap)
    assert car.n_gt == 0 and math.isnan(car.ap) and math.isnan(report.map)
    assert "-" in report.format_table()


def test_class_map_renames_predictions_before_matching() -> None:
    truth, preds = {"x": gt((A, CAR), (B, CAR))}, {"x": det((A, TRUCK, 0.9), (B, class_index("bus"), 0.8))}
    assert only(evaluate(preds, truth), CAR).ap == 0.0  # truck and bus are not evaluated, nor counted as FP
    report = evaluate(preds, truth, class_map=ClassMap.parse("truck,bus=car"))
    assert only(report, CAR).ap == 1.0
    assert report.class_map == "bus,truck=car"  # canonical: sources by COCO index


def test_grouped_duplicates_across_images_and_empty_images() -> None:
    truth = {"x": gt((A, PERSON)), "y": gt(), "z": gt((B, PERSON))}
    r = only(evaluate({"x": det((A, PERSON, 0.9)), "y": det((FAR, PERSON, 0.6))}, truth))
    assert (r.n_gt, r.tp, r.fp, r.fp_per_image) == (2, 1, 1, pytest.approx(1 / 3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"predictions": {"nope.jpg": Detections.empty()}}, "without ground truth, e.g. 'nope.jpg'"),
        ({"classes": ["lorry"]}, "unknown class name"),
        ({"classes": [80]}, "outside COCO-80"),
        ({"operating_score": math.nan}, "finite"),
    ],
)
def test_evaluate_rejects_bad_usage(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"predictions": {}, "ground_truth": {"x": gt((A, PERSON))}, **kwargs}
    with pytest.raises(UsageError, match=match):
        evaluate(**args)


def test_report_to_dict_is_strict_json_and_table_lists_classes() -> None:
    report = evaluate({"x": det((A, PERSON, 0.9))}, {"x": gt((A, PERSON), (B, CAR))})
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert json.loads(text)["classes"][1]["precision"] is None  # car: no predictions at the operating point
    table = report.format_table()
    assert table.splitlines()[0].split() == ["class", "n_gt", "n_pred", "AP50", "AP", "P", "R", "FP/img"]
    assert "person" in table and "car" in table and "1 images" in table


# ---------------------------------------------------------------- property tests

coord = st.floats(0, 500, allow_nan=False, allow_subnormal=False)


@st.composite
def box_st(draw: st.DrawFn) -> list[float]:
    x, y = draw(coord), draw(coord)
    return [x, y, x + draw(st.floats(1, 200)), y + draw(st.floats(1, 200))]


@st.composite
def scene(draw: st.DrawFn) -> tuple[dict[str, TruthArrays], dict[str, Detections]]:
    truth, preds = {}, {}
    for i in range(draw(st.integers(1, 4))):
        gts = draw(st.lists(st.tuples(box_st(), st.sampled_from([PERSON, CAR]), st.booleans()), max_size=5))
        dets = draw(
            st.lists(st.tuples(box_st(), st.sampled_from([PERSON, CAR]), st.floats(0, 1)), max_size=6)
        )
        truth[f"i{i}"] = gt(*gts)
        preds[f"i{i}"] = det(*dets)
    return truth, preds


@settings(max_examples=60, deadline=None)
@given(scene())
def test_ap_is_within_unit_interval(data: tuple[dict[str, TruthArrays], dict[str, Detections]]) -> None:
    truth, preds = data
    for c in evaluate(preds, truth, classes=[PERSON, CAR]).classes:
        for value in (c.ap, c.ap50, *c.ap_per_iou):
            assert math.isnan(value) == (c.n_gt == 0)
            assert math.isnan(value) or 0.0 <= value <= 1.0


@settings(max_examples=60, deadline=None)
@given(scene(), st.randoms(use_true_random=False))
def test_perfect_predictions_score_one(data: tuple[dict[str, TruthArrays], Any], rnd: Any) -> None:
    truth, _ = data
    preds = {
        k: Detections(
            t.xyxy[~t.ignore].astype(np.float32),
            t.class_id[~t.ignore],
            np.array([rnd.random() for _ in range(int((~t.ignore).sum()))], np.float32),
        )
        for k, t in truth.items()
    }
    for c in evaluate(preds, truth).classes:
        assert c.n_gt == 0 or (c.ap == 1.0 and c.ap50 == 1.0)


@settings(max_examples=80, deadline=None)
@given(scene(), st.floats(0, 1), st.sampled_from([PERSON, CAR]))
def test_far_prediction_never_increases_ap50(data: Any, score: float, cls: int) -> None:
    truth, preds = data
    before = evaluate(preds, truth, classes=[PERSON, CAR])
    image = next(iter(truth))
    p = preds[image]
    far = [5000.0, 5000.0, 5050.0, 5050.0]
    preds = {
        **preds,
        image: Detections(
            np.vstack([p.xyxy, [far]]).astype(np.float32),
            np.append(p.class_id, cls),
            np.append(p.score, np.float32(score)),
        ),
    }
    after = evaluate(preds, truth, classes=[PERSON, CAR])
    for b, a in zip(before.classes, after.classes, strict=True):
        assert (math.isnan(b.ap50) and math.isnan(a.ap50)) or a.ap50 <= b.ap50


# ---------------------------------------------------------------- pycocotools cross-check


def _pycocotools() -> Any:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        unavailable("pycocotools not installed (pip install pycocotools): no COCOeval cross-check")
    return COCO, COCOeval


def synthetic(seed: int) -> tuple[dict[str, TruthArrays], dict[str, Detections]]:
    """Random scenes: jittered and duplicated gt copies, class flips, clutter; <= 100 predictions/image."""
    rng = np.random.default_rng(seed)
    classes = np.array([PERSON, CAR, TRUCK])
    truth, preds = {}, {}
    for i in range(40):
        m = int(rng.integers(0, 9))
        xy = rng.uniform(0, 600, (m, 2))
        boxes = np.hstack([xy, xy + rng.uniform(8, 150, (m, 2))])
        cls = rng.choice(classes, m)
        truth[f"img{i:03d}"] = TruthArrays(boxes, cls, rng.random(m) < 0.15)
        reps = rng.integers(0, 3, m)
        copies, copy_cls = np.repeat(boxes, reps, axis=0), np.repeat(cls, reps)
        sizes = (copies[:, 2:] - copies[:, :2]).repeat(2, axis=1)
        copies = copies + rng.normal(0, 0.08, copies.shape) * sizes
        copies[:, 2:] = np.maximum(copies[:, 2:], copies[:, :2] + 1)
        flip = rng.random(len(copy_cls)) < 0.1
        copy_cls = np.where(flip, rng.choice(classes, len(copy_cls)), copy_cls)
        k = int(rng.integers(0, 12))
        cxy = rng.uniform(0, 600, (k, 2))
        clutter = np.hstack([cxy, cxy + rng.uniform(5, 120, (k, 2))])
        xyxy = np.vstack([copies, clutter])[:100]
        cid = np.concatenate([copy_cls, rng.choice(classes, k)])[:100]
        score = np.concatenate([rng.uniform(0.3, 1.0, len(copies)), rng.uniform(0.0, 0.8, k)])[:100]
        preds[f"img{i:03d}"] = Detections(xyxy.astype(np.float32), cid, score.astype(np.float32))
    return truth, preds


def coco_eval(truth: dict[str, TruthArrays], preds: dict[str, Detections]) -> Any:
    coco_cls, coco_eval_cls = _pycocotools()
    ids = {name: i + 1 for i, name in enumerate(truth)}
    anns = [
        {"id": len_ + 1, "image_id": ids[name], "category_id": int(c) + 1, "iscrowd": int(ig),
         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)}
        for len_, (name, (x1, y1, x2, y2), c, ig) in enumerate(
            (name, box.tolist(), c, ig)
            for name, t in truth.items() for box, c, ig in zip(t.xyxy, t.class_id, t.ignore, strict=True)
        )
    ]  # fmt: skip
    results = [
        {"image_id": ids[name], "category_id": int(c) + 1, "score": float(s),
         "bbox": [float(b[0]), float(b[1]), float(b[2]) - float(b[0]), float(b[3]) - float(b[1])]}
        for name, d in preds.items() for b, c, s in zip(d.xyxy, d.class_id, d.score, strict=True)
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt_api = coco_cls()
        gt_api.dataset = {
            "images": [{"id": i} for i in ids.values()],
            "categories": [{"id": c + 1} for c in (PERSON, CAR, TRUCK)],
            "annotations": anns,
        }
        gt_api.createIndex()
        ev = coco_eval_cls(gt_api, gt_api.loadRes(results), "bbox")
        ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        ev.params.maxDets = [100]
        ev.evaluate()
        ev.accumulate()
    return ev


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_agrees_with_pycocotools(seed: int) -> None:
    truth, preds = synthetic(seed)
    ev = coco_eval(truth, preds)
    report = evaluate(preds, truth, classes=[PERSON, CAR, TRUCK])
    precision = ev.eval["precision"][:, :, :, 0, 0]  # (T, R, K)
    for k, result in enumerate(report.classes):
        per_class = precision[:, :, k]
        assert (per_class > -1).all() == (result.n_gt > 0)
        if result.n_gt:
            assert abs(per_class.mean() - result.ap) < 1e-6
            assert abs(per_class[0].mean() - result.ap50) < 1e-6
    valid = precision[precision > -1]
    assert abs(valid.mean() - report.map) < 1e-6
    assert abs(precision[0][precision[0] > -1].mean() - report.map50) < 1e-6
