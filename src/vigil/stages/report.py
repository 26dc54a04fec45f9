"""``report`` stage: threats per camera (the 2017 bar chart) and the daily threat report (JSON, CSV, PNG).

Input: the whole threat repo (glob ``/``). Outputs ``/threats_per_device.png``, ``/daily_report.json``,
``/daily_report.csv``, ``/daily_report.png``. Counting (pure, :func:`summarise`) is separate from drawing
(matplotlib's object API with the Agg canvas: no pyplot, no global state). PNGs are byte-identical for the same
data (fixed size and dpi, no timestamp metadata), so re-running a report reproduces it bit for bit.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vigil.pipeline.transform import DatumContext, Outputs

log = logging.getLogger(__name__)


@dataclass
class ReportData:
    per_camera: Counter[str] = field(default_factory=Counter)  # events per camera
    daily: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (day, camera, class) -> events
    per_rule: Counter[str] = field(default_factory=Counter)
    per_severity: Counter[str] = field(default_factory=Counter)
    frames: int = 0
    frames_with_events: int = 0
    skipped_files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames_evaluated": self.frames, "frames_with_events": self.frames_with_events,
            "events": sum(self.per_camera.values()),
            "events_per_camera": dict(sorted(self.per_camera.items())),
            "events_per_rule": dict(sorted(self.per_rule.items())),
            "events_per_severity": dict(sorted(self.per_severity.items())),
            "daily": [{"day": d, "camera": c, "class": k, "count": n} for (d, c, k), n in sorted(self.daily.items())],
            "skipped_files": sorted(self.skipped_files),
        }


def summarise(frames: Iterable[Mapping[str, Any]], timezone: str = "UTC") -> ReportData:
    """Count events per camera, per (day in ``timezone``, camera, class), per rule and per severity.
    Every evaluated frame counts (cameras without events appear with 0). A class counts once per event."""
    tz = ZoneInfo(timezone)
    data = ReportData()
    for frame in frames:
        camera = str(frame.get("camera") or frame["device"])
        events = list(frame.get("events", []))
        data.frames += 1
        data.per_camera[camera] += len(events)
        data.frames_with_events += bool(events)
        for event in events:
            day = datetime.fromtimestamp(int(event["ts"]), tz).date().isoformat()
            data.per_rule[str(event["rule_id"])] += 1
            data.per_severity[str(event["severity"])] += 1
            for label in sorted({str(o["label"]) for o in event.get("objects", [])}):
                data.daily[(day, camera, label)] += 1
    return data


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def threats_per_device_png(data: ReportData) -> bytes:
    """The 2017 plot: a bar per camera with its number of threat events."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    cameras = sorted(data.per_camera)
    counts = [data.per_camera[c] for c in cameras]
    if not cameras:
        ax.text(0.5, 0.5, "no frames evaluated yet", ha="center", va="center", transform=ax.transAxes)
    bars = ax.bar(range(len(cameras)), counts, color="#c0392b")
    ax.set_xticks(range(len(cameras)), cameras, rotation=90 if len(cameras) > 12 else 0,
                  fontsize=max(5, 10 - len(cameras) // 20))
    if len(cameras) <= 40:
        ax.bar_label(bars, fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("camera")
    ax.set_ylabel("threat events")
    total = sum(counts)
    ax.set_title(f"Threats per camera ({total} event{'s' if total != 1 else ''}, {data.frames} frames)")
    fig.tight_layout()
    return _png(fig)


def daily_report_png(data: ReportData) -> bytes:
    """One stacked bar per day, stacked by object class."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    days = sorted({d for d, _, _ in data.daily})
    classes = sorted({k for _, _, k in data.daily})
    bottom = [0] * len(days)
    for k in classes:
        values = [sum(n for (d, _, c), n in data.daily.items() if d == day and c == k) for day in days]
        ax.bar(days, values, bottom=bottom, label=k)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    if classes:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no threats", ha="center", va="center", transform=ax.transAxes)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("day")
    ax.set_ylabel("threat events with this class")
    ax.set_title("Daily threats by class")
    fig.tight_layout()
    return _png(fig)


def daily_report_csv(data: ReportData) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["day", "camera", "class", "count"])
    for (day, camera, k), n in sorted(data.daily.items()):
        writer.writerow([day, camera, k, n])
    return buf.getvalue().encode()


def daily_report_json(data: ReportData) -> bytes:
    return json.dumps(data.to_dict(), indent=2, sort_keys=True).encode()


class ReportStage:
    """The whole threat repo in one datum; invalid files are skipped (and listed), never fatal."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.input = str(params.get("input", "threat"))
        self.timezone = str(params.get("timezone", "UTC"))
        ZoneInfo(self.timezone)

    def setup(self) -> None:
        pass

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        return [self._one(d) for d in datums]

    def _one(self, ctx: DatumContext) -> Outputs:
        frames, skipped = [], []
        for f in ctx.files(self.input):
            try:
                doc = json.loads(ctx.read(f))
                if not isinstance(doc, dict) or "events" not in doc:
                    raise ValueError("not a threat record")
                frames.append(doc)
            except ValueError as exc:
                log.warning("report: skipping %s: %s", f.path, exc)
                skipped.append(f.path)
        data = summarise(frames, self.timezone)
        data.skipped_files = skipped
        return {"/threats_per_device.png": threats_per_device_png(data), "/daily_report.json": daily_report_json(data),
                "/daily_report.csv": daily_report_csv(data), "/daily_report.png": daily_report_png(data)}
