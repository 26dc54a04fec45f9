"""Polygon geometry for rule zones.

Zones are polygons in normalised image coordinates (x right, y down, both 0..1). An object is "in" a zone when
the bottom-centre of its box (where it stands on the ground) lies inside the polygon or on its boundary.

The point-in-polygon test uses only subtractions, multiplications and comparisons (no division), so for
inputs that are exact in floating point (for example small integers or dyadic fractions) the answer is exact
and therefore invariant under translating both the point and the polygon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
Polygon = tuple[Point, ...]


def validate_polygon(points: Sequence[Sequence[float]]) -> Polygon:
    """``points`` as a polygon tuple; ``ValueError`` if it has < 3 vertices or non-finite coordinates."""
    polygon = tuple((float(p[0]), float(p[1])) for p in points)
    if len(polygon) < 3:
        raise ValueError(f"a zone polygon needs at least 3 points, got {len(polygon)}")
    if not all(math.isfinite(v) for p in polygon for v in p):
        raise ValueError("zone polygon coordinates must be finite numbers")
    return polygon


def points_in_polygon(points: npt.ArrayLike, polygon: Sequence[Sequence[float]]) -> npt.NDArray[np.bool_]:
    """Boolean mask (M,) of which of the (M, 2) ``points`` lie inside ``polygon`` or on its boundary.

    Even-odd rule (self-intersecting polygons alternate in/out). The polygon is closed implicitly.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    px, py = pts[:, 0], pts[:, 1]
    inside = np.zeros(len(pts), dtype=bool)
    on_edge = np.zeros(len(pts), dtype=bool)
    n = len(polygon)
    for i in range(n):
        x1, y1 = float(polygon[i][0]), float(polygon[i][1])
        x2, y2 = float(polygon[(i + 1) % n][0]), float(polygon[(i + 1) % n][1])
        # Sign of ``cross`` says on which side of the directed edge the point lies; 0 means on its line.
        cross = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)
        within_box = (
            (np.minimum(x1, x2) <= px) & (px <= np.maximum(x1, x2))
            & (np.minimum(y1, y2) <= py) & (py <= np.maximum(y1, y2))
        )  # fmt: skip
        on_edge |= (cross == 0) & within_box
        # Half-open rule on y avoids double counting at vertices; the crossing is right of the point iff the
        # sign of ``cross`` matches the edge's y direction.
        upward = (y1 <= py) & (py < y2) & (cross > 0)
        downward = (y2 <= py) & (py < y1) & (cross < 0)
        inside ^= upward | downward
    return inside | on_edge


def point_in_polygon(x: float, y: float, polygon: Sequence[Sequence[float]]) -> bool:
    """True if (x, y) lies inside ``polygon`` or on its boundary."""
    return bool(points_in_polygon([[x, y]], polygon)[0])


def bottom_centres(xyxy: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.float64]:
    """Normalised (M, 2) bottom-centre points of pixel boxes (x1, y1, x2, y2) in a width x height image."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2.0 / float(width)
    by = boxes[:, 3] / float(height)
    return np.stack([cx, by], axis=1)


def anchors_in_zones(
    xyxy: npt.NDArray[np.float32], width: int, height: int, zones: Sequence[Sequence[Sequence[float]]]
) -> npt.NDArray[np.bool_]:
    """Mask (M,) of boxes whose bottom-centre lies in any of ``zones``; all true when ``zones`` is empty."""
    boxes = np.asarray(xyxy).reshape(-1, 4)
    if not zones:
        return np.ones(len(boxes), dtype=bool)
    anchors = bottom_centres(boxes, width, height)
    mask = np.zeros(len(boxes), dtype=bool)
    for zone in zones:
        mask |= points_in_polygon(anchors, zone)
    return mask
