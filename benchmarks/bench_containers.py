"""The camera pipeline with every stage in its container vs in-process (not a test).

Run: ``python benchmarks/bench_containers.py [--images DIR] [--frames 60] [--rounds 3]`` after ``make images``.

Both sides run the same bench specs (``vigil bench``'s: bundled camera pipeline, one worker per core, one
onnxruntime thread each) over the same frames, alternately (in-process, containers, in-process, ...), each
round a fresh workspace (one object folder per side) on warm workers: threads in this process for one,
long-lived ``vigil worker`` containers (podman) for the other. Reported: frames/s of each (medians), their
ratio (target >= 0.9 once warm), the cold start a pipeline's first job pays for its worker containers (podman
run + imports + setup, per stage), and the size of every image.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from vigil.app import App
from vigil.execution import stage_image
from vigil.executors.container import ContainerExecutor
from vigil.executors.local import LocalExecutor
from vigil.store.workspace import LocalObjects, WorkspaceConfig
from vigil.throughput import PipelineBench, image_files, write_specs

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
ROLES = ("validate", "detect", "threat", "report", "server")


class ContainerBench(PipelineBench):
    """PipelineBench whose workspaces share one warm container executor (as a long-running runner would)."""

    def __init__(self, root: Path, model: Path, specs: Path, containers: ContainerExecutor,
                 config: WorkspaceConfig) -> None:
        super().__init__(root, model, specs, LocalExecutor(1), config=config)
        self.containers = containers

    def workspace(self) -> App:
        app = super().workspace()
        app.__dict__["container_executor"] = self.containers
        return app


def in_images(specs: Path, dest: Path) -> Path:
    docs = [d for d in yaml.safe_load_all(specs.read_text()) if d]
    for doc in docs:
        doc["transform"]["image"] = stage_image(doc["transform"]["stage"])
    dest.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return dest


def image_sizes() -> dict[str, int]:
    sizes = {}
    for role in ROLES:
        out = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", f"localhost/vigil-{role}"],
                             capture_output=True, text=True, check=True).stdout
        sizes[role] = int(out.strip())
    return sizes


def cold_start(bench: ContainerBench, files: list[Path]) -> dict[str, float]:
    """Seconds each stage's first job spends more than its next one on the same one-frame commit size: the
    cost of starting its worker containers (podman run, imports, model load) on a fresh executor."""
    cold_jobs = bench.throughput(files[:1])[1]
    warm_jobs = bench.throughput(files[1:2])[1]
    warm = {j.pipeline: j.seconds for j in warm_jobs}
    return {j.pipeline: j.seconds - warm[j.pipeline] for j in cold_jobs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=SHARED / "data" / "eval" / "pets2009_s2l1" / "images")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yolox_nano_416.onnx")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files = image_files(args.images, args.frames)
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="vigil-bench-containers-") as tmp:
        root = Path(tmp)
        specs = root / "specs.yaml"
        write_specs(specs, workers=workers, threads=1, annotate=False, batch_size=8)
        # Each round is a fresh workspace; all of one side's share an object folder, as the rounds of a long-running
        # site share its store (a worker container mounts the object folder it was started on).
        local = PipelineBench(root / "local", args.model, specs, LocalExecutor(workers),
                              config=WorkspaceConfig(objects=LocalObjects(path=str(root / "local-objects"))))
        containers = ContainerExecutor(max_workers=workers)
        boxed = ContainerBench(root / "containers", args.model, in_images(specs, root / "images.yaml"), containers,
                               WorkspaceConfig(objects=LocalObjects(path=str(root / "container-objects"))))
        try:
            cold = cold_start(boxed, files)
            # warm-up: a batch for every worker, so each has loaded the model (in this process, in its container)
            local.throughput(files[:8 * workers])
            boxed.throughput(files[:8 * workers])
            rates: dict[str, list[float]] = {"in-process": [], "containers": []}
            stage_ms: dict[str, dict[str, list[float]]] = {"in-process": {}, "containers": {}}
            for _ in range(args.rounds):
                for name, bench in (("in-process", local), ("containers", boxed)):
                    seconds, jobs = bench.throughput(files)
                    rates[name].append(len(files) / seconds)
                    for j in jobs:
                        stage_ms[name].setdefault(j.pipeline, []).append(j.seconds * 1000 / len(files))
            sizes = image_sizes()
        finally:
            containers.close()
            local.executor.close()
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"## Containers: camera pipeline, every stage in its image vs in-process ({time.strftime('%Y-%m-%d')})")
    print()
    print(f"{len(files)} frames of {args.images.name}, {workers} workers, {args.rounds} alternating rounds "
          f"(medians), YOLOX-nano, Python {sys.version.split()[0]}")
    print()
    stages = list(stage_ms["in-process"])
    print(f"| run | frames/s | runs | {' | '.join(stages)} (ms/frame) |")
    print("|---|---:|---|" + "---:|" * len(stages))
    for name in ("in-process", "containers"):
        ms = {k: statistics.median(v) for k, v in stage_ms[name].items()}
        runs = ", ".join(f"{r:.1f}" for r in rates[name])
        print(f"| {name} | {med[name]:.1f} | {runs} | " + " | ".join(f"{ms.get(s, 0):.1f}" for s in stages) + " |")
    print()
    print(f"**ratio containers / in-process: {med['containers'] / med['in-process']:.3f}** (target >= 0.9)")
    print()
    print("Cold start of a pipeline's worker containers (first job minus a warm one, one frame): " + ", ".join(
        f"{k} {v:.2f} s" for k, v in cold.items()))
    print()
    print("| image | size (MB) |")
    print("|---|---:|")
    for role, size in sizes.items():
        print(f"| localhost/vigil-{role} | {size / 1e6:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
