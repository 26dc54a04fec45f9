"""The report stage's cost as history grows (not a test). Run: ``python benchmarks/bench_report_history.py``.

The bundled report pipeline (glob ``/`` over the threat repo: one datum, the whole repo) recounts every threat
record on every commit. This measures one new threat record's report job with a history of N records against
one of 1,000, to show how far that is from DESIGN.md's "+1 image at 100k costs the same as at 1k (within 1.5x)".
A known limit, measured so its fix (incremental aggregation or report triggers) can show its gain.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import orjson
import yaml

from vigil.app import App
from vigil.store.workspace import LocalObjects, Workspace, WorkspaceConfig
from vigil.throughput import camera_specs_path

TS0 = 1_700_000_000


def record(i: int) -> bytes:
    """A threat frame record as the threat stage writes it: every third frame raises a person event."""
    events = [{"rule_id": "person", "severity": "high", "objects": [{"label": "person", "score": 0.9}]}] \
        if i % 3 == 0 else []
    return orjson.dumps({"camera": f"site-cam{i % 4}", "device": f"cam{i % 4}", "ts": TS0 + i, "events": events})


def report_spec(dest: Path) -> None:
    """The bundled report pipeline, reading a plain ``threat`` repo."""
    docs = yaml.safe_load_all(camera_specs_path().read_text(encoding="utf-8"))
    dest.write_text(yaml.safe_dump(next(d for d in docs if d and d["pipeline"]["name"] == "report")))


def workspace(root: Path, n: int) -> App:
    app = App(Workspace.init(root, WorkspaceConfig(objects=LocalObjects(fsync=False))))
    app.store.create_repo("threat")
    for lo in range(0, n, 10_000):
        with app.store.begin_commit("threat") as c:
            for i in range(lo, min(lo + 10_000, n)):
                c.put_bytes(f"/cam{i % 4}/{TS0 + i}.json", record(i))
    report_spec(root / "report.yaml")
    app.create_pipelines(root / "report.yaml")
    (job,) = app.run("report")
    assert job.state == "SUCCESS", job
    return app


def plus_one(app: App, n: int, reps: int) -> float:
    """Median ms of: commit one more threat record, run the report job."""
    runs = []
    for k in range(reps):
        i = n + k
        start = time.perf_counter()
        with app.store.begin_commit("threat") as c:
            c.put_bytes(f"/cam{i % 4}/{TS0 + i}.json", record(i))
        (job,) = app.run("report")
        runs.append((time.perf_counter() - start) * 1000)
        assert job.state == "SUCCESS", job
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", type=int, default=20_000, help="history of the large case (default 20,000)")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = workspace(Path(tmp) / "small", 1_000)
        big = workspace(Path(tmp) / "big", args.big)
        a, b = plus_one(small, 1_000, args.reps), plus_one(big, args.big, args.reps)
    print(f"+1 threat record -> report job, median of {args.reps}: history 1,000: {a:.0f} ms; "
          f"history {args.big:,}: {b:.0f} ms")
    print(f"ratio {args.big:,}/1,000: {b / a:.2f} (DESIGN.md budget for +1 image at 100k vs 1k: <= 1.5; "
          "the report recounts its whole input on every commit)")


if __name__ == "__main__":
    main()
