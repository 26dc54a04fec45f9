from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.domain.zones import (
    anchors_in_zones,
    bottom_centres,
    point_in_polygon,
    points_in_polygon,
    validate_polygon,
)

SQUARE = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
TRIANGLE = ((0.0, 0.0), (4.0, 0.0), (0.0, 4.0))
# An L shape: the square (0,0)-(2,2) minus its top-right quadrant (1,1)-(2,2).
L_SHAPE = ((0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (1.0, 1.0), (1.0, 2.0), (0.0, 2.0))


@pytest.mark.parametrize(
    ("polygon", "point", "expected"),
    [
        (SQUARE, (0.5, 0.5), True),
        (SQUARE, (1.5, 0.5), False),
        (SQUARE, (-0.1, 0.5), False),
        (SQUARE, (0.5, 1.0), True),  # on an edge counts as inside
        (SQUARE, (1.0, 1.0), True),  # on a vertex counts as inside
        (SQUARE, (0.0, 0.0), True),
        (TRIANGLE, (1.0, 1.0), True),
        (TRIANGLE, (2.0, 2.0), True),  # on the hypotenuse
        (TRIANGLE, (2.5, 2.0), False),
        (L_SHAPE, (0.5, 1.5), True),
        (L_SHAPE, (1.5, 0.5), True),
        (L_SHAPE, (1.5, 1.5), False),  # the cut-out corner
        (L_SHAPE, (1.0, 1.5), True),  # on the inner edge
        (L_SHAPE, (3.0, 1.0), False),  # ray passes through a vertex
    ],
)
def test_point_in_polygon(
    polygon: tuple[tuple[float, float], ...], point: tuple[float, float], expected: bool
) -> None:
    assert point_in_polygon(*point, polygon) is expected


def test_points_in_polygon_is_vectorised() -> None:
    mask = points_in_polygon([[0.5, 0.5], [1.5, 1.5], [0.5, 1.5]], L_SHAPE)
    assert mask.tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([(0, 0), (1, 1)], "at least 3 points"),
        ([(0, 0), (1, float("nan")), (1, 0)], "finite"),
    ],
)
def test_validate_polygon_rejects(points: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_polygon(points)


def test_bottom_centres_are_normalised() -> None:
    boxes = np.array([[100, 50, 300, 250], [0, 0, 640, 480]], np.float32)
    assert bottom_centres(boxes, 640, 480).tolist() == [[200 / 640, 250 / 480], [0.5, 1.0]]


def test_anchor_is_bottom_centre_not_box_centre() -> None:
    # A tall box whose centre is above the zone but whose feet (bottom-centre) stand in it.
    zone = ((0.0, 0.8), (1.0, 0.8), (1.0, 1.0), (0.0, 1.0))
    boxes = np.array([[300, 100, 340, 450], [300, 100, 340, 300]], np.float32)
    assert anchors_in_zones(boxes, 640, 480, [zone]).tolist() == [True, False]
    assert anchors_in_zones(boxes, 640, 480, []).tolist() == [True, True]


def test_any_of_several_zones() -> None:
    left = ((0.0, 0.0), (0.3, 0.0), (0.3, 1.0), (0.0, 1.0))
    right = ((0.7, 0.0), (1.0, 0.0), (1.0, 1.0), (0.7, 1.0))
    boxes = np.array([[0, 0, 20, 100], [45, 0, 55, 100], [80, 0, 100, 100]], np.float32)
    assert anchors_in_zones(boxes, 100, 100, [left, right]).tolist() == [True, False, True]


coord = st.integers(min_value=-1000, max_value=1000)
polygons = st.lists(st.tuples(coord, coord), min_size=3, max_size=8)


@settings(max_examples=200, deadline=None)
@given(polygon=polygons, point=st.tuples(coord, coord), shift=st.tuples(coord, coord))
def test_point_in_polygon_invariant_under_translation(
    polygon: list[tuple[int, int]], point: tuple[int, int], shift: tuple[int, int]
) -> None:
    dx, dy = shift
    moved = [(x + dx, y + dy) for x, y in polygon]
    assert point_in_polygon(point[0], point[1], polygon) == point_in_polygon(
        point[0] + dx, point[1] + dy, moved
    )


@settings(max_examples=200, deadline=None)
@given(polygon=polygons, point=st.tuples(coord, coord))
def test_points_outside_bounding_box_are_outside(
    polygon: list[tuple[int, int]], point: tuple[int, int]
) -> None:
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    if min(xs) <= point[0] <= max(xs) and min(ys) <= point[1] <= max(ys):
        return
    assert not point_in_polygon(point[0], point[1], polygon)


@settings(max_examples=100, deadline=None)
@given(polygon=polygons)
def test_vertices_are_inside(polygon: list[tuple[int, int]]) -> None:
    assert all(point_in_polygon(x, y, polygon) for x, y in polygon)
