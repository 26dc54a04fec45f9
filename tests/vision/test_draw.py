"""annotate: draws inside the boxes, in the class colour, deterministically, without touching the input."""

from __future__ import annotations

import numpy as np

from vigil.domain.detections import Detections
from vigil.vision.draw import PALETTE, annotate, class_colour


def _dets() -> Detections:
    return Detections(
        np.array([[10, 20, 60, 90], [100, 30, 150, 80]], np.float32),
        np.array([0, 16], np.int64),
        np.array([0.9, 0.5], np.float32),
    )


def test_annotate_draws_boxes_in_class_colours() -> None:
    img = np.full((120, 200, 3), 127, np.uint8)
    out = annotate(img, _dets())
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (img == 127).all(), "input untouched"
    assert tuple(out[60, 10]) == class_colour(0)  # left edge of the person box, below its tag
    assert tuple(out[60, 150]) == class_colour(16)  # right edge of the dog box
    assert (out[5:15, 170:200] == 127).all(), "away from boxes nothing changes"


def test_annotate_is_deterministic_and_handles_empty() -> None:
    img = np.zeros((120, 200, 3), np.uint8)
    assert np.array_equal(annotate(img, _dets()), annotate(img, _dets()))
    assert np.array_equal(annotate(img, Detections.empty()), img)


def test_palette_is_distinct_per_class() -> None:
    assert PALETTE.shape == (80, 3)
    assert len({tuple(c) for c in PALETTE.tolist()}) == 80
    assert class_colour(0) != class_colour(2)
