"""Class merging before NMS: overlapping boxes of classes in one group suppress each other (a vehicle the model
calls both car and truck gives one box); other classes, and groups left unset, behave as before."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from vigil.domain.coco import class_index
from vigil.vision.detector import DetectorConfig, finalize

CAR, TRUCK, BUS, PERSON = (class_index(n) for n in ("car", "truck", "bus", "person"))
SHAPE = (480, 640, 3)


def _run(boxes: list[list[float]], scores: list[float], classes: list[int], **config: object) -> list[tuple]:
    dets = finalize(np.asarray(boxes, np.float32), np.asarray(scores, np.float32), np.asarray(classes, np.int64),
                    SHAPE, DetectorConfig(score_threshold=0.1, **config))  # type: ignore[arg-type]
    return [(int(c), round(float(s), 3)) for c, s in zip(dets.class_id, dets.score, strict=True)]


# one vehicle seen twice (IoU ~0.82), as car and as truck, plus a far-away car that overlaps nothing
VEHICLE = [[100, 100, 200, 160], [104, 98, 206, 162], [400, 300, 440, 330]]


def test_without_merging_both_classes_survive() -> None:
    assert _run(VEHICLE, [0.6, 0.5, 0.4], [CAR, TRUCK, CAR]) == [(CAR, 0.6), (TRUCK, 0.5), (CAR, 0.4)]


@pytest.mark.parametrize(("scores", "kept"), [
    ([0.6, 0.5, 0.4], [(CAR, 0.6), (CAR, 0.4)]),
    ([0.5, 0.6, 0.4], [(TRUCK, 0.6), (CAR, 0.4)]),  # the better-scored box wins, and keeps its own class
])
def test_merging_keeps_one_box_per_vehicle(scores: list[float], kept: list[tuple]) -> None:
    assert _run(VEHICLE, scores, [CAR, TRUCK, CAR], merge_classes=[[CAR, TRUCK, BUS]]) == kept


def test_classes_outside_the_group_are_untouched() -> None:
    # a person on the same spot as the car is a different object kind: both stay
    got = _run(VEHICLE[:2], [0.6, 0.5], [CAR, PERSON], merge_classes=[[CAR, TRUCK, BUS]])
    assert got == [(CAR, 0.6), (PERSON, 0.5)]
    # two groups: car/truck merge, person/bicycle merge; a car and a person still do not
    got = _run(VEHICLE[:2], [0.6, 0.5], [TRUCK, PERSON], merge_classes=[[CAR, TRUCK], [PERSON, 1]])
    assert got == [(TRUCK, 0.6), (PERSON, 0.5)]


def test_boxes_under_the_iou_threshold_both_stay() -> None:
    apart = [[100, 100, 200, 160], [170, 100, 270, 160]]  # IoU 0.18
    assert _run(apart, [0.6, 0.5], [CAR, TRUCK], merge_classes=[[CAR, TRUCK]]) == [(CAR, 0.6), (TRUCK, 0.5)]


@pytest.mark.parametrize(("groups", "match"), [
    ([[CAR, TRUCK], [TRUCK, BUS]], "class 7 is in two merge_classes groups"),
    ([[CAR, 80]], "COCO-80 indices in 0..79"),
])
def test_bad_groups(groups: list[list[int]], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        DetectorConfig(merge_classes=groups)
