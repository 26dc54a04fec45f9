"""The report stage's cost as history grows (not a test). Run: ``python benchmarks/bench_report_history.py``.

The bundled report pipeline is incremental (``incremental: true``: its one datum sees the previous report and
only the threat records that changed). This measures one new threat record's report job with a history of N
records against one of 1,000 (DESIGN.md: "+1 image at 100k costs the same as at 1k, within 1.5x"), and, side by
side, the same pipeline from scratch (``incremental: false``, what Vigil 0.1 shipped), which recounts every
record on every commit.
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


def report_spec(dest: Path, incremental: bool) -> None:
    """The bundled report pipeline, reading a plain ``threat`` repo."""
    docs = yaml.safe_load_all(camera_specs_path().read_text(encoding="utf-8"))
    spec = next(d for d in docs if d and d["pipeline"]["name"] == "report")
    spec["incremental"] = incremental
    dest.write_text(yaml.safe_dump(spec))


def workspace(root: Path, n: int, incremental: bool) -> App:
    app = App(Workspace.init(root, WorkspaceConfig(objects=LocalObjects(fsync=False))))
    app.store.create_repo("threat")
    for lo in range(0, n, 10_000):
        with app.store.begin_commit("threat") as c:
            for i in range(lo, min(lo + 10_000, n)):
                c.put_bytes(f"/cam{i % 4}/{TS0 + i}.json", record(i))
    report_spec(root / "report.yaml", incremental)
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
    parser.add_argument("--big", type=int, default=100_000, help="history of the large case (default 100,000)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--scratch-big", type=int, default=20_000,
                        help="history of the from-scratch variant's large case (it is slow; default 20,000)")
    args = parser.parse_args()
    for incremental, big in ((True, args.big), (False, args.scratch_big)):
        with tempfile.TemporaryDirectory() as tmp:
            small = workspace(Path(tmp) / "small", 1_000, incremental)
            large = workspace(Path(tmp) / "big", big, incremental)
            a, b = plus_one(small, 1_000, args.reps), plus_one(large, big, args.reps)
        kind = "incremental (bundled)" if incremental else "from scratch (0.1)"
        print(f"{kind:<22} +1 threat record -> report job, median of {args.reps}: history 1,000: {a:.0f} ms; "
              f"history {big:,}: {b:.0f} ms; ratio {b / a:.2f} (budget <= 1.5)")


if __name__ == "__main__":
    main()
