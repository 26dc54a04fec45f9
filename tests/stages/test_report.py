"""The report stage: counting threat frames, the four report files, byte-identical renders, and the stage over
a threat repo that holds unreadable files."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from PIL import Image

from vigil.errors import SpecError
from vigil.pipeline.datums import FileRef
from vigil.pipeline.transform import DatumContext
from vigil.stages.report import (
    CHART_HEIGHT,
    DPI,
    OUTPUTS,
    ReportData,
    ReportStage,
    chart_width,
    daily_report_csv,
    daily_report_figure,
    daily_report_json,
    daily_report_png,
    summarise,
    threats_per_device_figure,
    threats_per_device_png,
)

DAY1 = 1511891098  # 2017-11-28 17:44:58 UTC
LATE = 1511912400  # 2017-11-28 23:40:00 UTC, already 2017-11-29 in Europe/Paris
DAY2 = DAY1 + 86400


def event(*labels: str, rule: str = "rule.json", severity: str = "high") -> dict[str, Any]:
    """A threat event with one matched object per label."""
    return {"rule_id": rule, "severity": severity, "objects": [{"label": lb, "score": 0.9} for lb in labels]}


def frame(device: str, ts: int, *events: dict[str, Any]) -> dict[str, Any]:
    """A threat-stage frame record."""
    return {"device": device, "tenant": None, "ts": ts, "source": f"/{device}/{ts}.json", "rules_version": "v1",
            "events": [{**e, "device": device, "ts": ts} for e in events]}


SEEDISH = [
    frame("dev1", DAY1, event("person", "person", "car")),
    frame("dev1", DAY1 + 60),
    frame("dev2", DAY1, event("dog", rule="dog", severity="low")),
    frame("dev4", DAY2, event("car"), event("person", rule="loiter", severity="medium")),
]


@pytest.mark.parametrize(("frames", "tz", "field", "expected"), [
    ([], "UTC", "per_device", {}),
    (SEEDISH, "UTC", "per_device", {"dev1": 1, "dev2": 1, "dev4": 2}),
    ([frame("dev9", DAY1)], "UTC", "per_device", {"dev9": 0}),
    (SEEDISH, "UTC", "per_rule", {"dog": 1, "loiter": 1, "rule.json": 2}),
    (SEEDISH, "UTC", "per_severity", {"high": 2, "low": 1, "medium": 1}),
    (SEEDISH, "UTC", "per_day_device", {("2017-11-28", "dev1"): 1, ("2017-11-28", "dev2"): 1,
                                        ("2017-11-29", "dev4"): 2}),
    # two persons and a car in one event: person counts once
    (SEEDISH[:1], "UTC", "per_day_device_class", {("2017-11-28", "dev1", "car"): 1,
                                                  ("2017-11-28", "dev1", "person"): 1}),
    # two events of one frame with a person each: twice
    ([frame("d", DAY1, event("person"), event("person"))], "UTC", "per_day_device_class",
     {("2017-11-28", "d", "person"): 2}),
    ([frame("d", LATE, event("car"))], "UTC", "per_day_device_class", {("2017-11-28", "d", "car"): 1}),
    ([frame("d", LATE, event("car"))], "Europe/Paris", "per_day_device_class", {("2017-11-29", "d", "car"): 1}),
    ([frame("d", DAY1, event())], "UTC", "per_day_device_class", {}),  # an event without objects has no class
])
def test_summarise_counts(frames: list[dict[str, Any]], tz: str, field: str, expected: dict[Any, int]) -> None:
    data = summarise(frames, tz)
    assert dict(getattr(data, field)) == expected
    assert list(getattr(data, field)) == sorted(expected), "keys in sorted order"


def test_summarise_totals_and_order_independence() -> None:
    data = summarise(SEEDISH)
    assert (data.frames, data.frames_with_events, data.events) == (4, 3, 4)
    assert summarise(reversed(SEEDISH)) == data
    assert summarise(SEEDISH, skipped_files=["/z.json", "/a.json"]).skipped_files == ("/a.json", "/z.json")


@pytest.mark.parametrize(("frames", "tz", "error"), [
    ([], "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ([{"ts": DAY1, "events": []}], "UTC", "'device' must be a string"),
    ([{"device": "d", "ts": "soon", "events": []}], "UTC", "'ts' must be an integer"),
    ([{"device": "d", "ts": DAY1, "events": {}}], "UTC", "'events' must be a list"),
    ([{"device": "d", "ts": DAY1, "events": [{"objects": "person"}]}], "UTC", "'objects' must be a list"),
])
def test_summarise_rejects_what_is_not_a_frame(frames: list[Any], tz: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        summarise(frames, tz)


def test_csv_rows_sorted_with_header() -> None:
    rows = list(csv.reader(io.StringIO(daily_report_csv(summarise(SEEDISH)).decode())))
    assert rows == [["day", "device", "events", "events_with_car", "events_with_dog", "events_with_person"],
                    ["2017-11-28", "dev1", "1", "1", "0", "1"],
                    ["2017-11-28", "dev2", "1", "0", "1", "0"],
                    ["2017-11-29", "dev4", "2", "1", "0", "1"]]


def test_csv_events_add_up_to_the_total() -> None:
    """Before: only class counts; an event with a car and a person made them sum to more than the events."""
    rows = list(csv.DictReader(io.StringIO(daily_report_csv(summarise(SEEDISH)).decode())))
    assert sum(int(r["events"]) for r in rows) == summarise(SEEDISH).events == 4


def test_json_report_content_and_stable_form() -> None:
    raw = daily_report_json(summarise(SEEDISH, "Europe/Paris", ["/bad.json"]))
    doc = json.loads(raw)
    assert raw == (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    assert doc["frames"] == {"evaluated": 4, "with_events": 3} and doc["events"] == 4
    assert doc["timezone"] == "Europe/Paris" and doc["skipped_files"] == ["/bad.json"]
    assert doc["per_device"] == {"dev1": 1, "dev2": 1, "dev4": 2}
    assert doc["days"]["2017-11-29"] == {"events": 2, "devices": {"dev4": {
        "events": 2, "classes": {"car": 1, "person": 1}}}}


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
        return img.size


def expected_size(n_bars: int) -> tuple[int, int]:
    return round(chart_width(n_bars) * DPI), round(CHART_HEIGHT * DPI)


@pytest.mark.parametrize("frames", [[], [frame("dev1", DAY1)], SEEDISH], ids=["empty", "no-events", "seed"])
def test_pngs_are_valid_of_the_expected_size_and_byte_identical(frames: list[dict[str, Any]]) -> None:
    data = summarise(frames)
    days = len({d for d, _ in data.per_day_device})
    for render, n_bars in ((threats_per_device_png, len(data.per_device)), (daily_report_png, days)):
        first = render(data)
        assert png_size(first) == expected_size(n_bars)
        with Image.open(io.BytesIO(first)) as img:
            assert set(img.info) <= {"dpi"}, f"metadata in {render.__name__}: {img.info}"  # no Software, no time
        assert render(summarise(list(reversed(frames)))) == first, f"{render.__name__} is not deterministic"


def test_empty_report_says_no_threats() -> None:
    """The words are drawn, not stored: compare against the same empty chart drawn for another device count."""
    empty = summarise([])
    assert threats_per_device_png(empty) != threats_per_device_png(summarise([frame("d", DAY1)]))
    assert json.loads(daily_report_json(empty))["events"] == 0
    assert daily_report_csv(empty) == b"day,device,events\n"


def test_150_devices_render() -> None:
    frames = [frame(f"camera-{i:03d}", DAY1 + i * 3600, *[event("person")] * (i % 5)) for i in range(150)]
    data = summarise(frames)
    assert len(data.per_device) == 150
    assert png_size(threats_per_device_png(data)) == expected_size(150)
    assert png_size(daily_report_png(data)) == expected_size(len({d for d, _ in data.per_day_device}))


LONG = "tenant-with-a-long-name/camera-entrance-north-"  # 47 characters with the number


def drawn_texts(fig: Figure) -> dict[str, Bbox]:
    """Draw ``fig``; the pixel extent of every text it drew (tick labels of ticks outside the view are not)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            hidden |= {id(t.label1) for t in axis.get_major_ticks() if not lo - 1e-9 <= t.get_loc() <= hi + 1e-9}
    return {f"{i}:{t.get_text()!r}": t.get_window_extent(renderer)
            for i, t in enumerate(fig.findobj(Text))
            if t.get_visible() and t.get_text() and id(t) not in hidden}


def layout_faults(fig: Figure) -> list[str]:
    """What is wrong with ``fig``'s layout: texts that leave the figure, axis labels on their tick labels, the
    subtitle on the suptitle, a legend over the bars."""
    faults = [f"{name} {box.bounds} outside {fig.bbox.bounds}" for name, box in drawn_texts(fig).items()
              if box.x0 < 0 or box.y0 < 0 or box.x1 > fig.bbox.width or box.y1 > fig.bbox.height]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (ax,) = fig.axes
    xticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    yticks = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
    xlabel, ylabel = ax.xaxis.label.get_window_extent(renderer), ax.yaxis.label.get_window_extent(renderer)
    faults += [f"xlabel over x tick label {b.bounds}" for b in xticks if xlabel.y1 > b.y0]
    faults += [f"ylabel over y tick label {b.bounds}" for b in yticks if ylabel.x1 > b.x0]
    suptitle = next(t for t in fig.texts if t.get_text()).get_window_extent(renderer)
    if ax.title.get_window_extent(renderer).y1 > suptitle.y0:
        faults.append("subtitle over the suptitle")
    if (legend := ax.get_legend()) and legend.get_window_extent(renderer).x0 < ax.get_window_extent(renderer).x1:
        faults.append("legend over the axes")
    return faults


@pytest.mark.parametrize("frames", [
    [],
    SEEDISH,
    [frame(f"{LONG}{i:03d}", DAY1 + i * 3600, *[event("person")] * (i % 5)) for i in range(150)],
    [frame(f"{LONG}{i:03d}", DAY1, event("car")) for i in range(6)],  # few long names: rotated at 10 pt
    [frame("d", DAY1 + (i % 9) * 86400, event(f"object-class-{i:02d}")) for i in range(45)],  # 3 legend columns
], ids=["empty", "seed", "150-long-devices", "6-long-devices", "45-classes"])
def test_nothing_is_clipped_or_overlapping(frames: list[dict[str, Any]]) -> None:
    data = summarise(frames, "America/Argentina/Buenos_Aires", [f"/bad/{i}.json" for i in range(20)])
    for build in (threats_per_device_figure, daily_report_figure):
        assert layout_faults(build(data)) == [], build.__name__


class FakeDatum:
    """The input view of a DatumContext: ``files(name)`` and ``read(file)`` over in-memory bytes."""

    def __init__(self, name: str, files: Mapping[str, bytes]) -> None:
        self.name = name
        self.blobs = {f"oid-{path}": data for path, data in files.items()}
        self.refs = [FileRef(path, f"oid-{path}", len(data)) for path, data in sorted(files.items())]
        self.task = SimpleNamespace(base=None)  # not an incremental datum

    def files(self, name: str) -> list[FileRef]:
        if name != self.name:
            raise KeyError(f"this datum has no input named {name!r}")
        return list(self.refs)

    def read(self, file: FileRef) -> bytes:
        return self.blobs[file.oid]


def run_stage(params: Mapping[str, Any], datums: Sequence[FakeDatum]) -> list[dict[str, bytes]]:
    """Set up a ReportStage and run one batch; each datum's outputs (all new bytes, no reused blobs)."""
    stage = ReportStage(params)
    stage.setup()
    results = []
    for out in stage.process_batch(cast("list[DatumContext]", list(datums))):  # it uses only files/read
        assert all(isinstance(v, bytes) for v in out.values()), out
        results.append({path: v for path, v in out.items() if isinstance(v, bytes)})
    return results


def threat_files(frames: Sequence[dict[str, Any]]) -> dict[str, bytes]:
    return {f"/{f['device']}/{f['ts']}.json": json.dumps(f).encode() for f in frames}


def test_stage_writes_the_four_reports_and_skips_bad_files(caplog: pytest.LogCaptureFixture) -> None:
    files = {**threat_files(SEEDISH), "/dev3/1.json": b"{not json", "/dev3/2.json": b"\xff\xfe",
             "/dev3/3.json": b"[1, 2]", "/README.txt": b"not a frame, not counted"}
    with caplog.at_level(logging.WARNING, logger="vigil.stages.report"):
        (out,) = run_stage({"input": "threat"}, [FakeDatum("threat", files)])
    assert tuple(out) == OUTPUTS
    doc = json.loads(out["/daily_report.json"])
    assert doc["skipped_files"] == ["/dev3/1.json", "/dev3/2.json", "/dev3/3.json"]
    assert doc["frames"]["evaluated"] == 4 and doc["per_device"] == {"dev1": 1, "dev2": 1, "dev4": 2}
    assert sum("skipping /dev3/" in r.getMessage() for r in caplog.records) == 3
    assert out["/daily_report.csv"] == daily_report_csv(summarise(SEEDISH))
    assert all(png_size(out[p]) for p in OUTPUTS if p.endswith(".png"))


def test_stage_params_and_an_empty_repo() -> None:
    (paris,) = run_stage({"input": "t", "timezone": "Europe/Paris"},
                         [FakeDatum("t", threat_files([frame("d", LATE, event("car"))]))])
    assert b"2017-11-29,d,1,1" in paris["/daily_report.csv"]
    (empty,) = run_stage({}, [FakeDatum("threat", {})])
    assert json.loads(empty["/daily_report.json"]) == json.loads(daily_report_json(ReportData()))
    assert empty["/threats_per_device.png"] == threats_per_device_png(summarise([]))


def test_stage_rejects_an_unknown_timezone() -> None:
    with pytest.raises(SpecError, match="unknown timezone 'Moon/Base'"):
        ReportStage({"timezone": "Moon/Base"})
