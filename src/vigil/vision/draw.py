"""Annotated images: a box and a "label score" tag per detection, one fixed colour per COCO-80 class."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from vigil.domain.detections import Detections


def _palette(n: int = 80) -> npt.NDArray[np.uint8]:
    """n well-separated BGR colours (golden-ratio hue steps, full saturation), the same on every run."""
    hues = (np.arange(n) * 0.618033988749895 % 1.0 * 180).astype(np.uint8)
    hsv = np.stack([hues, np.full(n, 220, np.uint8), np.full(n, 255, np.uint8)], axis=-1)[None]
    return np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0], np.uint8)


PALETTE = _palette()


def class_colour(class_id: int) -> tuple[int, int, int]:
    """The BGR colour of a COCO-80 class."""
    b, g, r = PALETTE[int(class_id) % len(PALETTE)]
    return int(b), int(g), int(r)


def annotate(
    image: npt.NDArray[np.uint8], detections: Detections, *, thickness: int = 2
) -> npt.NDArray[np.uint8]:
    """A copy of BGR ``image`` with each detection drawn (box + "label 0.87" tag); the input is not modified.

    Deterministic: the same inputs give the same bytes. Lowest scores are drawn first, so the best are on top.
    """
    out = image.copy()
    h, w = out.shape[:2]
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, min(h, w) / 1000)
    text_thickness = max(1, thickness // 2)
    for i in np.argsort(detections.score, kind="stable"):
        x1, y1, x2, y2 = (round(float(v)) for v in detections.xyxy[i])
        colour = class_colour(detections.class_id[i])
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        text = f"{detections.labels[i]} {float(detections.score[i]):.2f}"
        (tw, th), base = cv2.getTextSize(text, font, scale, text_thickness)
        ty = y1 - th - base if y1 - th - base >= 0 else y1  # tag above the box, or inside it at the top edge
        cv2.rectangle(out, (x1, ty), (x1 + tw, ty + th + base), colour, cv2.FILLED)
        cv2.putText(out, text, (x1, ty + th), font, scale, (0, 0, 0), text_thickness, cv2.LINE_AA)
    return out
