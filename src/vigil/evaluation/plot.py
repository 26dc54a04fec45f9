"""Precision-recall curve plots of an :class:`EvalReport` (I/O edge; the metrics stay pure).

Uses :class:`matplotlib.figure.Figure` with the Agg canvas directly, so no pyplot state or global backend is
touched: safe to call from threads and alongside other code that uses pyplot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vigil.evaluation.metrics import EvalReport

__all__ = ["plot_pr_curves"]


LEGEND_MAX = 12


def plot_pr_curves(report: EvalReport, path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG with one interpolated PR curve (IoU 0.5) per class that has ground truth.

    Each curve is labelled with its AP50 and marks the operating point (precision/recall at the report's
    operating score). Returns the path written; parent folders must exist.
    """
    path = Path(path)
    fig = Figure(figsize=(7.0, 5.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    plotted = 0
    curves: list[tuple[int, Any]] = []  # (ground-truth count, line) for the legend
    for result in report.classes:
        curve = result.pr_curve
        if result.n_gt == 0:
            continue
        # Interpolated precision holds on (previous recall, this recall]: steps-pre; start at recall 0.
        recall = [0.0, *curve.recall.tolist()]
        precision = [float(curve.envelope()[0]) if len(curve.precision) else 0.0, *curve.envelope().tolist()]
        (line,) = ax.plot(
            recall, precision, drawstyle="steps-pre", label=f"{result.name} AP50={result.ap50:.3f}"
        )
        curves.append((result.n_gt, line))
        if not (math.isnan(result.precision) or math.isnan(result.recall)):
            ax.plot([result.recall], [result.precision], "o", color=line.get_color())
        plotted += 1
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (interpolated)")
    ax.grid(True, alpha=0.3)
    suffix = f"mAP50={report.map50:.3f}" if plotted else "no class has ground truth"
    ax.set_title(title or f"PR curves at IoU 0.5, {report.n_images} images, {suffix}")
    if plotted:
        # a legend of every class of COCO's 80 would not fit (and tight_layout would give up with a warning):
        # the classes with the most ground truth are named, the others are drawn unnamed
        shown = [line for _, line in sorted(curves, key=lambda c: -c[0])[:LEGEND_MAX]]
        more = f"; {plotted - len(shown)} more classes drawn, not named" if plotted > len(shown) else ""
        ax.legend(handles=shown, loc="lower left", fontsize="small",
                  title=f"dot: score >= {report.operating_score:g}{more}", title_fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
