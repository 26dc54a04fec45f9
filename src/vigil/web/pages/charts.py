"""Chart geometry for the Reports page, drawn as inline SVG by the templates (no script, no library): plain
functions of the report's numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7480", "#6e7781")


def hbars(counts: Mapping[str, int], width: int = 480, bar: int = 22, gap: int = 6, label_w: int = 140
          ) -> dict[str, Any]:
    """Horizontal bars, one per key (the threats-per-camera chart)."""
    top = max(counts.values(), default=0) or 1
    span = width - label_w - 50
    rows = [{"label": k, "value": v, "y": i * (bar + gap), "w": round(span * v / top, 1)}
            for i, (k, v) in enumerate(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))]
    return {"rows": rows, "width": width, "height": max(len(rows), 1) * (bar + gap), "bar": bar, "x": label_w}


def stacked_days(daily: Sequence[Mapping[str, Any]], height: int = 200, col: int = 28, gap: int = 8
                 ) -> dict[str, Any]:
    """Events per day as columns stacked by camera (the daily report), with a colour per camera."""
    cameras = sorted({str(r["camera"]) for r in daily})
    colours = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(cameras)}
    per_day: dict[int, dict[str, int]] = {}
    for r in daily:
        cams = per_day.setdefault(int(r["day"]), {})
        cams[str(r["camera"])] = cams.get(str(r["camera"]), 0) + int(r["events"])
    top = max((sum(c.values()) for c in per_day.values()), default=0) or 1
    columns = []
    for i, (day, cams) in enumerate(sorted(per_day.items())):
        y = float(height)
        parts = []
        for camera in cameras:
            n = cams.get(camera, 0)
            if n:
                h = round(height * n / top, 1)
                y -= h
                parts.append({"camera": camera, "events": n, "y": round(y, 1), "h": h, "colour": colours[camera]})
        columns.append({"day": day, "x": i * (col + gap), "total": sum(cams.values()), "parts": parts})
    return {"columns": columns, "width": max(len(columns), 1) * (col + gap), "height": height, "col": col,
            "legend": [{"camera": c, "colour": colours[c]} for c in cameras]}


def heatmap(hourly: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Events per day (rows) and hour of day (24 columns), each cell with its count and a 0..1 intensity."""
    days: dict[int, list[int]] = {}
    for r in hourly:
        days.setdefault(int(r["day"]), [0] * 24)[int(r["hour"])] += int(r["events"])
    top = max((n for row in days.values() for n in row), default=0) or 1
    return {"rows": [{"day": d, "cells": [{"hour": h, "events": n, "level": round(n / top, 2)}
                                          for h, n in enumerate(row)]} for d, row in sorted(days.items())]}


__all__ = ["hbars", "heatmap", "stacked_days"]
