"""``report`` stage: the 2017 ``plot`` step (threats per device, a bar chart) and the daily threat report.

The datum is the whole ``threat`` repo (glob ``/``): one ``/<device>/<ts>.json`` frame record per camera frame,
each with its (possibly empty) list of events. :func:`summarise` counts them into a :class:`ReportData`, a pure
function of the frames; the renderers turn that into bytes. Everything is deterministic: the same frames give
byte-identical outputs whatever order they are read in (matplotlib's object API on the Agg canvas, no pyplot,
fixed DPI, figure sizes that depend only on the data, no ``Software`` PNG metadata). The margins come from one
measurement of the texts (:func:`_fit`), not constrained layout: that and a fast PNG setting halve the time.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import matplotlib as mpl
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox
from PIL import Image

from vigil.errors import SpecError
from vigil.pipeline.transform import DatumContext, Outputs
from vigil.stages.tally import Tally, positive
from vigil.store.models import Change

log = logging.getLogger(__name__)

REPORT_FORMAT = 2  # 2: frames_per_device, so that counts can be updated incrementally
DPI = 100
CHART_HEIGHT = 6.0  # inches
PAD = 6  # pixels between the outermost texts and the figure's edges
LEGEND_ROWS = 20  # class legend entries per column; 20 rows of 8 pt text fill about 2/3 of CHART_HEIGHT
MIN_AXES = 0.2  # the least fraction of the figure's width and height the plotting area keeps
OUTPUTS = ("/threats_per_device.png", "/daily_report.json", "/daily_report.csv", "/daily_report.png")


@dataclass(frozen=True)
class ReportData:
    """Event counts of a set of threat frames. Every mapping is ordered by its sorted keys.

    ``per_device`` holds every device with an evaluated frame (0 when it raised nothing). ``per_day_device``
    counts events by (day, device); ``per_day_device_class`` counts (event, class) pairs: an event counts once
    for each distinct label among its objects. Days are ISO dates in ``timezone``.
    """

    timezone: str = "UTC"
    frames: int = 0
    frames_with_events: int = 0
    events: int = 0
    per_device: Mapping[str, int] = field(default_factory=dict)
    per_rule: Mapping[str, int] = field(default_factory=dict)
    per_severity: Mapping[str, int] = field(default_factory=dict)
    per_day_device: Mapping[tuple[str, str], int] = field(default_factory=dict)
    per_day_device_class: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    skipped_files: tuple[str, ...] = ()
    frames_per_device: Mapping[str, int] = field(default_factory=dict)

    def per_day_class(self) -> dict[tuple[str, str], int]:
        """(day, class) -> count, summed over devices, ordered by day then class."""
        out: Counter[tuple[str, str]] = Counter()
        for (day, _, cls), n in self.per_day_device_class.items():
            out[day, cls] += n
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: totals, per-device/rule/severity counts, and days -> device -> events and classes."""
        days: dict[str, Any] = {}
        for (day, device), n in self.per_day_device.items():
            days.setdefault(day, {"events": 0, "devices": {}})
            days[day]["events"] += n
            days[day]["devices"][device] = {"events": n, "classes": {}}
        for (day, device, cls), n in self.per_day_device_class.items():
            days[day]["devices"][device]["classes"][cls] = n
        return {
            "format": REPORT_FORMAT, "timezone": self.timezone, "events": self.events,
            "frames": {"evaluated": self.frames, "with_events": self.frames_with_events},
            "per_device": dict(self.per_device), "per_rule": dict(self.per_rule),
            "per_severity": dict(self.per_severity), "days": days, "skipped_files": list(self.skipped_files),
            "frames_per_device": dict(self.frames_per_device),
        }


def zone(name: str) -> ZoneInfo:
    """The timezone called ``name`` (an IANA name such as ``Europe/Paris``); ``ValueError`` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}; use an IANA name such as 'UTC' or 'Europe/Paris'") from exc


def check_frame(frame: Any, source: str = "frame") -> Mapping[str, Any]:
    """``frame`` if it is a threat frame record (string device, integer ts, a list of event objects, each with
    an optional list of object records), else ``ValueError`` saying what is wrong with ``source``."""
    if not isinstance(frame, Mapping):
        raise ValueError(f"{source}: a frame record must be a JSON object, got {type(frame).__name__}")
    if not isinstance(frame.get("device"), str):
        raise ValueError(f"{source}: 'device' must be a string")
    if not isinstance(frame.get("ts"), int) or isinstance(frame.get("ts"), bool):
        raise ValueError(f"{source}: 'ts' must be an integer (unix seconds UTC)")
    events = frame.get("events")
    if not isinstance(events, list) or not all(isinstance(e, Mapping) for e in events):
        raise ValueError(f"{source}: 'events' must be a list of objects")
    for event in events:
        objects = event.get("objects") or []
        if not isinstance(objects, list) or not all(isinstance(o, Mapping) for o in objects):
            raise ValueError(f"{source}: an event's 'objects' must be a list of objects")
    return frame


def load_frame(data: bytes, source: str) -> Mapping[str, Any]:
    """Parse one threat file; ``ValueError`` (JSON and UTF-8 errors included) if it is not a frame record."""
    return check_frame(json.loads(data.decode("utf-8")), source)


def summarise(frames: Iterable[Mapping[str, Any]], timezone: str = "UTC",
              skipped_files: Sequence[str] = ()) -> ReportData:
    """Count the events of ``frames`` (threat frame records) by device, day x device x class, rule, severity.

    An event's day is the date of its frame's ``ts`` in ``timezone``; its classes are the distinct ``label``
    values of its objects. ``skipped_files`` is carried into the report (sorted). The result does not depend on
    the order of ``frames``. Raises ``ValueError`` for an unknown timezone or a frame :func:`check_frame` rejects.
    """
    tally = Tally(timezone, zone(timezone))
    for i, frame in enumerate(frames):
        tally.add(check_frame(frame, f"frame {i}"))
    tally.skipped = set(skipped_files)
    return report_data(tally)


def report_data(t: Tally) -> ReportData:
    """The report of a tally (only counts above zero; cameras with at least one frame)."""
    return ReportData(t.timezone, t.frames, t.with_events, sum(t.per_device().values()), t.per_device(),
                      positive(t.rule), positive(t.severity), positive(t.day_device), positive(t.day_device_class),
                      tuple(sorted(t.skipped)), positive(t.frames_per_device))


def chart_width(n_bars: int) -> float:
    """Figure width in inches for ``n_bars`` bars: 8 in up to ~60 bars, growing to at most 24 in (~200 bars)."""
    return min(max(8.0, 1.5 + 0.11 * n_bars), 24.0)


def _png(fig: Figure) -> bytes:
    """The figure drawn by Agg as an RGB PNG, no metadata but the DPI. No alpha channel (the charts are opaque)
    and zlib level 1: about half the encoding time of savefig's RGBA at PIL's default level 6, 3-10% more bytes."""
    fig.canvas.draw()
    rgba = Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba(),  # type: ignore[attr-defined]
                            "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    rgba.convert("RGB").save(buf, format="png", compress_level=1, dpi=(DPI, DPI))
    return buf.getvalue()


def _figure(n_bars: int) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(chart_width(n_bars), CHART_HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)  # attaches itself to the figure: Agg rendering without pyplot
    ax = fig.add_subplot()
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no fractional ticks
    return fig, ax


def _fit(fig: Figure, ax: Axes, suptitle: Text, legend: Legend | None = None) -> None:
    """Set the axes' margins so that its tick labels, axis labels, title, ``legend`` (right of the axes) and
    ``suptitle`` (at the figure's top) lie inside the figure, ``PAD`` pixels from its edges; pin the axis
    labels next to the tick labels. Call it once everything is on the axes (title set with ``y=1.0``).

    One pass of measurements where constrained layout iterates: the texts keep their sizes wherever the axes
    ends up (fixed tick locations, ``MaxNLocator``'s fixed bin count). When they leave the plotting area less
    than ``MIN_AXES`` of the figure, it keeps that much and the outermost texts may be cut.
    """
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # cached: _png draws with it
    width, height, px_per_pt = fig.bbox.width, fig.bbox.height, fig.dpi / 72
    inner = ax.get_window_extent(renderer)
    xticks = Bbox.union([inner, *(t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text())])
    yticks = Bbox.union([inner, *(t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text())])
    below = inner.y0 - xticks.y0 + ax.xaxis.labelpad * px_per_pt  # axes edge to axis label, pixels
    beside = inner.x0 - yticks.x0 + ax.yaxis.labelpad * px_per_pt
    left_px = max(beside + ax.yaxis.label.get_window_extent(renderer).width, inner.x0 - xticks.x0) + PAD
    right_px = max(xticks.x1, legend.get_window_extent(renderer).x1 if legend else 0) - inner.x1 + PAD
    bottom_px = below + ax.xaxis.label.get_window_extent(renderer).height + PAD
    top_px = (mpl.rcParams["axes.titlepad"] * px_per_pt + ax.title.get_window_extent(renderer).height + PAD
              + suptitle.get_window_extent(renderer).height + (1 - suptitle.get_position()[1]) * height)
    left, right = _clamp(left_px / width, 1 - right_px / width)
    bottom, top = _clamp(bottom_px / height, 1 - top_px / height)
    fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)
    # fixed places for the axis labels: left automatic, each draw would measure every tick label again
    ax.xaxis.set_label_coords(0.5, -below / ((top - bottom) * height))
    ax.yaxis.set_label_coords(-beside / ((right - left) * width), 0.5)
    _keep_inside(ax.title, ax.title.get_window_extent(renderer).width, left * width, right * width, width)


def _keep_inside(title: Text, title_px: float, x0: float, x1: float, width: float) -> None:
    """Slide ``title`` (centred over the axes spanning ``x0..x1`` pixels) sideways just enough to keep its
    ``title_px`` width ``PAD`` pixels inside a figure ``width`` wide; a title wider than that stays centred
    on the figure. A legend on the right can make the axes narrower than a long subtitle."""
    centre = (x0 + x1) / 2
    lo, hi = PAD + title_px / 2, width - PAD - title_px / 2
    target = width / 2 if lo > hi else min(max(centre, lo), hi)
    if target != centre:
        title.set_x((target - x0) / (x1 - x0))


def _clamp(lo: float, hi: float) -> tuple[float, float]:
    """``(lo, hi)`` shrunk proportionally when they leave less than ``MIN_AXES`` between them."""
    if hi - lo >= MIN_AXES:
        return lo, hi
    scale = (1 - MIN_AXES) / (lo + 1 - hi)  # the margins add up to more than 1 - MIN_AXES here
    return lo * scale, 1 - (1 - hi) * scale


def _no_threats(ax: Axes, has_bars: bool) -> None:
    if not has_bars:
        ax.set_xticks([])
    ax.set_ylim(0, 1)
    ax.set_yticks([0])
    ax.text(0.5, 0.5, "no threats", transform=ax.transAxes, ha="center", va="center", fontsize=20, color="0.4")


def _tick_labels(ax: Axes, labels: Sequence[str]) -> float:
    """Category labels on the x axis, rotated and shrunk as they grow in number; returns the font size used."""
    size = 10.0 if len(labels) <= 20 else max(5.0, 10.0 - len(labels) / 25)
    crowded = len(labels) * max(map(len, labels)) > 70  # more characters than fit side by side on 8 in
    ax.set_xticks(range(len(labels)), labels, rotation=90 if crowded else 0, fontsize=size)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    return size


def _subtitle(data: ReportData) -> str:
    n = len(data.skipped_files)
    skipped = f", {_plural(n, 'unreadable file')} skipped" if n else ""
    return (f"{_plural(data.events, 'event')} in {_plural(data.frames, 'frame')} ({data.frames_with_events} "
            f"with events), days in {data.timezone}{skipped}")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def threats_per_device_png(data: ReportData) -> bytes:
    """:func:`threats_per_device_figure` as PNG bytes (RGB, no metadata but the DPI)."""
    return _png(threats_per_device_figure(data))


def threats_per_device_figure(data: ReportData) -> Figure:
    """The 2017 plot: one bar per device (sorted by name) with its event count on top, laid out on an Agg canvas.

    Size ``chart_width(len(data.per_device)) x CHART_HEIGHT`` inches at ``DPI``; every text lies inside it (see
    :func:`_fit` for names too long to fit at all). Without events the chart says "no threats".
    """
    devices = list(data.per_device)
    fig, ax = _figure(len(devices))
    if devices:
        bars = ax.bar(range(len(devices)), list(data.per_device.values()), color="#c0392b", width=0.8)
        size = _tick_labels(ax, devices)
        ax.bar_label(bars, fontsize=size, padding=2, rotation=0 if len(devices) <= 40 else 90)
        ax.margins(y=0.12)
    if not data.events:
        _no_threats(ax, bool(devices))
    suptitle = fig.suptitle("Threats per device", fontsize=14)
    ax.set_title(_subtitle(data), fontsize=9, y=1.0)  # y given: no per-draw search for a free spot
    ax.set_xlabel("device")
    ax.set_ylabel("threat events")
    _fit(fig, ax, suptitle)
    return fig


def daily_report_png(data: ReportData) -> bytes:
    """:func:`daily_report_figure` as PNG bytes (RGB, no metadata but the DPI)."""
    return _png(daily_report_figure(data))


def daily_report_figure(data: ReportData) -> Figure:
    """Threat events per day as bars stacked by class (legend by class right of the bars, in columns of at most
    ``LEGEND_ROWS``; the day's number of events on top), laid out on an Agg canvas.

    Size ``chart_width(number of days) x CHART_HEIGHT`` inches at ``DPI``; every text lies inside it. An event
    with objects of several classes adds to each of them (so a stack can be taller than the day's events, which
    the label on top states). Without events the chart says "no threats".
    """
    cells, days, classes = _day_class_cells(data)
    fig, ax = _figure(len(days))
    bottom = _stack_bars(ax, cells, days, classes)
    events = Counter[str]()
    for (day, _device), n in data.per_day_device.items():
        events[day] += n
    legend = None
    if days:
        size = _tick_labels(ax, days)
        # the number on top is the day's events (it adds up to the report's total), not the stack's height:
        # an event with objects of several classes is in several segments
        for x, (day, top) in enumerate(zip(days, bottom, strict=True)):
            ax.annotate(_plural(events[day], "event"), (x, top), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=size)
        # columns of at most LEGEND_ROWS entries: a single column of many classes would run off the figure
        legend = ax.legend(title="class", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                           ncols=-(-len(classes) // LEGEND_ROWS))
        # not margins(): a class absent on the busiest day leaves a zero-height bar at its total, whose sticky
        # edge would pin the top there and put the total over the subtitle
        ax.set_ylim(0, max(bottom) * 1.12)
    else:
        _no_threats(ax, False)
    suptitle = fig.suptitle("Threat events per day, by class", fontsize=14)
    ax.set_title(_subtitle(data), fontsize=9, y=1.0)  # y given: no per-draw search for a free spot
    ax.set_xlabel(f"day ({data.timezone})")
    ax.set_ylabel("events with each class (stacked)")
    _fit(fig, ax, suptitle, legend)
    return fig


def _day_class_cells(data: ReportData) -> tuple[dict[tuple[str, str], int], list[str], list[str]]:
    """(``data.per_day_class()``, its days sorted, its classes sorted)."""
    cells = data.per_day_class()
    return cells, sorted({d for d, _ in cells}), sorted({c for _, c in cells})


def _stack_bars(ax: Axes, cells: Mapping[tuple[str, str], int], days: Sequence[str],
                classes: Sequence[str]) -> list[int]:
    """One bar per day on ``ax``, stacked by class (labelled for the legend, tab10/tab20 colours); returns each
    day's total."""
    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    bottom = [0] * len(days)
    for i, cls in enumerate(classes):
        heights = [cells.get((d, cls), 0) for d in days]
        ax.bar(range(len(days)), heights, bottom=bottom, label=cls, color=cmap(i % cmap.N), width=0.8)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    return bottom


def daily_report_json(data: ReportData) -> bytes:
    """``data.to_dict()`` as UTF-8 JSON with sorted keys, indent 2 and a final newline."""
    return (json.dumps(data.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def daily_report_csv(data: ReportData) -> bytes:
    """CSV, one row per (day, device) with events, sorted: ``day,device,events,events_with_<class>...``.

    ``events`` counts threat events (its column sums to the report's total); each ``events_with_<class>``
    column counts the events with at least one object of that class, so an event with a car and a person
    counts in both, and those columns may add up to more than ``events``. Header, ``\n`` line ends.
    """
    classes = sorted({cls for _, _, cls in data.per_day_device_class})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["day", "device", "events", *(f"events_with_{c}" for c in classes)])
    for (day, device), n in sorted(data.per_day_device.items()):
        if n:
            writer.writerow([day, device, n, *(data.per_day_device_class.get((day, device, c), 0) for c in classes)])
    return buf.getvalue().encode("utf-8")


def render(data: ReportData) -> dict[str, bytes]:
    """Every report file by output path (:data:`OUTPUTS`)."""
    return dict(zip(OUTPUTS, (threats_per_device_png(data), daily_report_json(data), daily_report_csv(data),
                              daily_report_png(data)), strict=True))


class ReportStage:
    """Params: ``input`` (the threat input's name, default ``threat``), ``timezone`` (IANA name, default UTC).

    One datum, the whole threat repo, gives the four :data:`OUTPUTS`. Files that are not ``.json`` are ignored;
    a ``.json`` file that is not a frame record is logged, skipped and listed in the report's ``skipped_files``.
    Raises ``SpecError`` at construction for an unknown timezone.
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.input = str(params.get("input", "threat"))
        self.timezone = str(params.get("timezone", "UTC"))
        try:
            zone(self.timezone)
        except ValueError as exc:
            raise SpecError(str(exc), "set the report stage's `timezone` param to an IANA name") from exc

    def setup(self) -> None:
        pass

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        return [dict(render(self.update(d) if d.task.base is not None else self.summarise(d))) for d in datums]

    def update(self, ctx: DatumContext) -> ReportData:
        """Incremental (``incremental: true``): the previous report's counts, minus the changed or deleted threat
        files' old versions, plus their new ones. Equal to :meth:`summarise` over the whole repo."""
        tally = self._previous(ctx)
        if tally is None:  # no usable previous report: count every file of the input (once)
            tally = Tally(self.timezone, zone(self.timezone))
            files = ctx.neighbours(self.input, "/", "0")  # the whole commit, as a range read
            changes = [Change("added", f.path, f.oid, None, f.size) for f in files]
        else:
            changes = list(ctx.incremental.changes)
        for change in changes:
            if not change.path.endswith(".json"):
                continue
            if change.old_oid is not None:
                self._count(tally, ctx, change.path, change.old_oid, -1)
            if change.oid is not None:
                self._count(tally, ctx, change.path, change.oid, 1)
        return report_data(tally)

    def _previous(self, ctx: DatumContext) -> Tally | None:
        base = ctx.incremental
        if not base.previous:
            return Tally(self.timezone, zone(self.timezone))  # a fresh start: the changes are every file
        raw = ctx.previous_output("/daily_report.json")
        try:
            doc = json.loads(raw) if raw else None
            if doc and doc.get("format") == REPORT_FORMAT and doc.get("timezone") == self.timezone:
                return Tally.load(doc, zone(self.timezone))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("report: previous report unusable (%s); counting every threat file", exc)
        return None

    def _count(self, tally: Tally, ctx: DatumContext, path: str, oid: str, sign: int) -> None:
        if sign < 0 and path in tally.skipped:
            tally.skipped.discard(path)
            return
        try:
            tally.add(load_frame(ctx.read_blob(oid), path), sign)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            if sign > 0:
                log.warning("report: skipping %s: %s", path, exc)
                tally.skipped.add(path)

    def summarise(self, ctx: DatumContext) -> ReportData:
        """Read and count one datum's threat files (see the class docstring for what is skipped)."""
        frames: list[Mapping[str, Any]] = []
        skipped: list[str] = []
        for f in ctx.files(self.input):
            if not f.path.endswith(".json"):
                continue
            try:
                frames.append(load_frame(ctx.read(f), f.path))
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                log.warning("report: skipping %s: %s", f.path, exc)
                skipped.append(f.path)
        return summarise(frames, self.timezone, skipped)
