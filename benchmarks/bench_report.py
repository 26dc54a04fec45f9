"""Report chart rendering (not a test). Run: ``python benchmarks/bench_report.py [--repeats 15]`` (under a minute).

For N synthetic threat frames (3 devices over two days, events with person/car objects) it renders both report
charts by (a) the old path, constrained layout and PIL's default PNG compression, re-created below, and (b) the
package's path, alternately in one process, and prints median ms per chart, the ratio new/old and the PNG
sizes; then the time of ``summarise()`` that feeds them.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vigil.stages import report
from vigil.stages.report import ReportData, daily_report_png, summarise, threats_per_device_png

DAY1 = 1511891098  # 2017-11-28 17:44:58 UTC
DEVICES = ("cam-entrance", "cam-lobby", "cam-parking")
SIZES = (106, 2000)


def frames(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` threat frame records spread over two days and :data:`DEVICES`; about half raise 1-2 events."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        device, ts = DEVICES[i % len(DEVICES)], DAY1 + i * 2 * 86400 // n
        events = [{"rule_id": "person-or-car", "severity": "high", "device": device, "ts": ts,
                   "objects": [{"label": rng.choice(("person", "car")), "score": 0.8}
                               for _ in range(rng.randint(1, 3))]}
                  for _ in range(rng.choice((0, 0, 1, 2)))]
        out.append({"device": device, "tenant": None, "ts": ts, "source": f"/{device}/{ts}.json",
                    "rules_version": "v1", "events": events})
    return out


# --- (a) the old path, as report.py drew it before the one-pass layout: kept here only as the baseline ---

def _old_figure(n_bars: int) -> tuple[Figure, Any]:
    fig = Figure(figsize=(report.chart_width(n_bars), report.CHART_HEIGHT), dpi=report.DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, ax


def _old_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=report.DPI, metadata={"Software": None})
    return buf.getvalue()


def old_threats_per_device_png(data: ReportData) -> bytes:
    devices = list(data.per_device)
    fig, ax = _old_figure(len(devices))
    if devices:
        bars = ax.bar(range(len(devices)), list(data.per_device.values()), color="#c0392b", width=0.8)
        size = report._tick_labels(ax, devices)  # the same helpers as the package path
        ax.bar_label(bars, fontsize=size, padding=2, rotation=0 if len(devices) <= 40 else 90)
        ax.margins(y=0.12)
    if not data.events:
        report._no_threats(ax, bool(devices))
    fig.suptitle("Threats per device", fontsize=14)
    ax.set_title(report._subtitle(data), fontsize=9)
    ax.set_xlabel("device")
    ax.set_ylabel("threat events")
    return _old_png(fig)


def old_daily_report_png(data: ReportData) -> bytes:
    cells, days, classes = report._day_class_cells(data)
    fig, ax = _old_figure(len(days))
    bottom = report._stack_bars(ax, cells, days, classes)  # the same bars as the package path
    if days:
        size = report._tick_labels(ax, days)
        for x, total in enumerate(bottom):
            ax.annotate(str(total), (x, total), xytext=(0, 2), textcoords="offset points", ha="center",
                        va="bottom", fontsize=size)
        ax.legend(title="class", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.margins(y=0.12)
    else:
        report._no_threats(ax, False)
    fig.suptitle("Threat events per day, by class", fontsize=14)
    ax.set_title(report._subtitle(data), fontsize=9)
    ax.set_xlabel(f"day ({data.timezone})")
    ax.set_ylabel("threat events per class")
    return _old_png(fig)


# --- measurement ---

def ms(fn: Callable[..., object], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def compare(data: ReportData, pairs: Sequence[tuple[str, Callable[[ReportData], bytes], Callable[[ReportData], bytes]]],
            repeats: int) -> list[str]:
    """Rows ``chart old-ms new-ms ratio old-bytes new-bytes``; old and new alternate so that load hits both."""
    rows = []
    totals = {"old": [0.0] * repeats, "new": [0.0] * repeats}
    for name, old, new in pairs:
        sizes = {"old": len(old(data)), "new": len(new(data))}  # also the warm-up (fonts, caches)
        times: dict[str, list[float]] = {"old": [], "new": []}
        for i in range(repeats):
            for kind, fn in (("old", old), ("new", new)):
                t = ms(fn, data)
                times[kind].append(t)
                totals[kind][i] += t
        o, n = statistics.median(times["old"]), statistics.median(times["new"])
        rows.append(f"  {name:<20}{o:9.1f}{n:9.1f}{n / o:9.2f}{sizes['old']:12,}{sizes['new']:12,}")
    o, n = statistics.median(totals["old"]), statistics.median(totals["new"])
    rows.append(f"  {'both charts':<20}{o:9.1f}{n:9.1f}{n / o:9.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    pairs = [("threats_per_device", old_threats_per_device_png, threats_per_device_png),
             ("daily_report", old_daily_report_png, daily_report_png)]
    print(f"median of {args.repeats}, ms per chart: (a) old = constrained layout + PNG compress_level 6, "
          f"(b) new = package")
    print(f"  {'chart':<20}{'old ms':>9}{'new ms':>9}{'new/old':>9}{'old bytes':>12}{'new bytes':>12}")
    for n in SIZES:
        records = frames(n)
        data = summarise(records)
        print(f"N={n} frames, {len(data.per_device)} devices, {data.events} events:")
        print("\n".join(compare(data, pairs, args.repeats)))
    for n in SIZES:
        records = frames(n)
        took = statistics.median(ms(summarise, records) for _ in range(args.repeats))
        print(f"summarise() of {n} frames: {took:.2f} ms")


if __name__ == "__main__":
    main()
