"""+1 frame through the whole camera DAG at 100,000 vs 1,000 frames of history (not a test).

Run: ``python benchmarks/bench_camera_history.py [--big 100000] [--keep DIR]`` (needs the ``onnx`` package, in
the dev extras). Building the 100k history took 100 minutes on the shared, loaded 2-core machine (6088 s at load
average 4-15): ``--keep DIR`` builds the histories there once and reuses them on later runs.

DESIGN.md: "Adding 1 image to a repo of 100,000 and running it through the whole camera DAG costs <= 1.5x what it
costs at 1,000 (every stage, the report included)". Two workspaces get the bundled camera pipelines (validate ->
motion -> detect x model -> threat x rules -> report, the report incremental) and a history of N small camera frames run
through them; then one more frame is committed and ``App.run()`` timed until the report is written, median of
``--reps``, the two sizes alternating.

The detector is a stub ONNX graph with YOLOX's shapes that reports one person in every frame in ~0.1 ms, so that
building a 100k-frame history takes minutes, not hours; it also makes the measured frame's cost almost all
framework and stage work, the part that could grow with history (inference cost does not depend on history).
The rules use persistence and cooldown, so the threat stage reads each camera's recent frames (its look-back).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vigil.app import App
from vigil.demo import camera_specs_path
from vigil.pipeline.spec import load_specs
from vigil.store.workspace import LocalObjects, Workspace, WorkspaceConfig

DAG = [spec.name for spec in load_specs(camera_specs_path())]  # validate, motion, detect, threat, report
TS0 = 1_700_000_000
CAMERAS = 20
RULES = """
version: 1
rules:
  - id: person-loitering
    classes: [person]
    min_score: 0.5
    persistence: {frames: 2, seconds: 30}
    cooldown_seconds: 60
    severity: high
"""


def stub_model(dest: Path) -> Path:
    """A YOLOX-shaped graph (1x3x416x416 -> 1x3549x85) answering one person box for any frame."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rows = np.zeros((1, 3549, 85), np.float32)
    rows[0, 0, :6] = [10.0, 10.0, np.log(10.0), np.log(20.0), 1.0, 0.9]  # (80, 80) 80x160 px, person 0.9
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "rows"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "stub-yolox",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 416, 416])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3549, 85])],
        [numpy_helper.from_array(np.zeros((), np.float32), "zero"), numpy_helper.from_array(rows, "rows")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, dest)
    return dest


def frame(i: int) -> bytes:
    """A small noisy JPEG (valid for the validate stage: big enough, sharp, not blank)."""
    rng = np.random.default_rng(i)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def name(i: int) -> str:
    return f"/cam{i % CAMERAS}_{TS0 + 2 * (i // CAMERAS)}.jpg"  # each camera: a frame every 2 s


def workspace(root: Path, n: int, model: Path) -> App:
    """A workspace with ``n`` frames of history run through the camera DAG; one kept from an earlier run (in
    ``--keep``) is reused as it is (a 100k history takes over an hour to build on a loaded 2-core machine)."""
    if (root / ".vigil").is_dir():
        app = App(Workspace.open(root))
        print(f"reusing {root} ({len(app.store.list_files('images')):,} frames)", flush=True)
        return app
    app = App(Workspace.init(root, WorkspaceConfig(objects=LocalObjects(fsync=False))))
    app.model_add(str(model))
    app.store.create_repo("rules")
    with app.store.begin_commit("rules") as c:
        c.put_bytes("/rules.yaml", RULES.encode())
    app.store.create_repo("images")
    app.create_pipelines(camera_specs_path())
    for lo in range(0, n, 10_000):
        with app.store.begin_commit("images") as c:
            for i in range(lo, min(lo + 10_000, n)):
                c.put_bytes(name(i), frame(i))
        jobs = app.run()
        assert all(j.state == "SUCCESS" for j in jobs), jobs
    return app


def plus_one(app: App, i: int) -> float:
    start = time.perf_counter()
    with app.store.begin_commit("images") as c:
        c.put_bytes(name(i), frame(i))
    jobs = app.run()
    seconds = time.perf_counter() - start
    assert [j.pipeline for j in jobs] == DAG, jobs
    assert all(j.state == "SUCCESS" and j.n_processed == 1 for j in jobs), jobs
    return seconds * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the histories in this folder and reuse them next time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = str(args.keep) if args.keep else scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        model = stub_model(Path(tmp) / "stub-yolox.onnx")
        t0 = time.perf_counter()
        small = workspace(Path(tmp) / f"history-{args.small}", args.small, model)
        big = workspace(Path(tmp) / f"history-{args.big}", args.big, model)
        print(f"history ready in {time.perf_counter() - t0:.0f} s", flush=True)
        # the next frame of each history (a kept one has the frames earlier runs added)
        na, nb = (len(app.store.list_files("images")) for app in (small, big))
        plus_one(small, na)  # warm: model loaded, caches filled
        plus_one(big, nb)
        a, b = [], []
        for k in range(args.reps):
            a.append(plus_one(small, na + 1 + k))
            b.append(plus_one(big, nb + 1 + k))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"+1 frame through {', '.join(DAG)} (median of {args.reps}): history {args.small:,}: "
          f"{ma:.0f} ms; history {args.big:,}: {mb:.0f} ms; ratio {mb / ma:.2f} (DESIGN.md budget <= 1.5)")


if __name__ == "__main__":
    main()
