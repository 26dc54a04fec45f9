"""PR-curve plotting writes a real PNG without touching pyplot's global state."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

from vigil.domain.coco import class_index
from vigil.domain.detections import Detections
from vigil.evaluation.groundtruth import TruthArrays
from vigil.evaluation.metrics import evaluate
from vigil.evaluation.plot import plot_pr_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR" and data.endswith(b"IEND\xaeB`\x82")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_writes_png_with_one_curve_per_class(tmp_path: Path) -> None:
    person, car = class_index("person"), class_index("car")
    truth = {
        "a": TruthArrays(
            np.array([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], np.float64),
            np.array([person, person, car]),
            np.zeros(3, np.bool_),
        )
    }
    boxes = np.array([[0, 0, 10, 10], [70, 70, 80, 80], [50, 50, 60, 60]], np.float32)
    preds = {"a": Detections(boxes, np.array([person, person, car]), np.array([0.9, 0.8, 0.4], np.float32))}
    pyplot_loaded = "matplotlib.pyplot" in sys.modules
    out = plot_pr_curves(evaluate(preds, truth), tmp_path / "pr.png")
    assert out == tmp_path / "pr.png"
    assert png_size(out) == (700, 550)
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_loaded


def test_report_without_ground_truth_still_plots(tmp_path: Path) -> None:
    empty = TruthArrays(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, np.bool_))
    report = evaluate({}, {"a": empty}, classes=["person"])
    assert png_size(plot_pr_curves(report, tmp_path / "empty.png")) == (700, 550)


def test_eighty_classes_plot_without_a_layout_warning(tmp_path: Path) -> None:
    """Before: "Tight layout not applied" (a warning, an error under filterwarnings=error) for COCO's 80 classes."""
    n = 80
    xyxy = np.array([[i * 10, 0, i * 10 + 8, 8] for i in range(n)], np.float64)
    classes = np.arange(n)
    truth = {"a": TruthArrays(xyxy, classes, np.zeros(n, np.bool_))}
    preds = {"a": Detections(xyxy.astype(np.float32), classes, np.full(n, 0.9, np.float32))}
    out = plot_pr_curves(evaluate(preds, truth), tmp_path / "coco.png")
    assert png_size(out) == (700, 550)
