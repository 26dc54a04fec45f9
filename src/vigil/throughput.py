"""``vigil bench``: end-to-end camera-pipeline throughput and latency against a bare decode + inference loop.

Three measurements run in the same process, alternately (bare, framework, pipeline, bare, ...), over the same
files with the same model and detector settings; medians are reported, so machine noise hits all alike and the
ratios are meaningful on a noisy shared machine.

* bare: read bytes, ``decode_image``, ``detector.detect`` in chunks of the detect stage's batch size.
* framework: the SAME work as the bare loop done by Vigil: the bundled detect stage as a one-pipeline DAG over
  the images repo (it decodes, infers and writes a record per frame), with everything the framework adds
  (planning, datum hashing, blob and record writes, staging, the output commit with provenance). Its ratio to
  the bare loop is what the framework costs (DESIGN.md's budget: overhead per datum <= 1 ms, >= 90%).
* pipeline: the full camera DAG (validate, detect, threat, report), which also does work the bare loop does
  not (quality statistics, threat rules, the report's charts). All frames are committed at once under identity
  names ``<camera>_<ts>.jpg``; throughput = frames / wall time of ``App.run()``.
  Each round of the two pipelines is a fresh temporary workspace on warm workers (a warm-up run loads the
  model first; the executor is shared between rounds, as in a long-running worker).
* latency: after that, ONE frame at a time through the camera DAG: put + run validate, detect, threat; time to
  the threat commit.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import queue
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import yaml

from vigil.app import App, resolve_model
from vigil.errors import NotFoundError, UsageError
from vigil.executors.local import LocalExecutor
from vigil.pipeline.jobs import JobInfo
from vigil.vision.detector import DetectorConfig, load_detector
from vigil.vision.framecache import shared_frames
from vigil.vision.image import decode_image

log = logging.getLogger(__name__)

CAMERA = "bench1"
TS0 = 1_700_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LEGACY_RULES = b'{"threat_classes": [1, 3, 4, 8]}\n'  # the 2017 rule.json: person, car, motorcycle, truck
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class WorkerResult:
    workers: int
    threads: int
    bare_ips: float
    pipeline_ips: float
    ratio: float
    runs_ips: list[float]
    stage_ms: dict[str, float]
    framework_ips: float
    framework_ratio: float
    # (lowest, highest) of the per-round ratios (each round's run over the same round's bare loop)
    ratio_spread: tuple[float, float] = (math.nan, math.nan)
    framework_ratio_spread: tuple[float, float] = (math.nan, math.nan)

    def to_dict(self) -> dict[str, Any]:
        return {"workers": self.workers, "threads_per_worker": self.threads,
                "ratio_spread": [round(v, 3) for v in self.ratio_spread],
                "framework_ratio_spread": [round(v, 3) for v in self.framework_ratio_spread],
                "bare_images_per_s": round(self.bare_ips, 2),
                "framework_images_per_s": round(self.framework_ips, 2),
                "framework_ratio": round(self.framework_ratio, 3),
                "pipeline_images_per_s": round(self.pipeline_ips, 2), "ratio": round(self.ratio, 3),
                "runs_images_per_s": [round(v, 2) for v in self.runs_ips],
                "stage_ms_per_image": {k: round(v, 3) for k, v in self.stage_ms.items()}}


@dataclass
class BenchReport:
    n_images: int
    model: str
    annotate: bool
    rounds: int
    bare_ips: float
    bare_runs_ips: list[float]
    pipeline_ips: float
    ratio: float
    latency_ms: list[float]
    stage_ms: dict[str, float]
    workers: list[WorkerResult]
    peak_rss_mib: float
    stages: list[str]
    notes: list[str] = field(default_factory=list)
    frame_cache: dict[str, int] = field(default_factory=dict)  # detect's hits/misses of the last round

    @property
    def framework_ips(self) -> float:
        return self.workers[0].framework_ips

    @property
    def framework_ratio(self) -> float:
        return self.workers[0].framework_ratio

    @property
    def p50_ms(self) -> float:
        return _percentile(self.latency_ms, 50)

    @property
    def p95_ms(self) -> float:
        return _percentile(self.latency_ms, 95)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_images": self.n_images, "model": self.model, "annotate": self.annotate, "rounds": self.rounds,
            "stages": self.stages,
            "bare_images_per_s": round(self.bare_ips, 2),
            "bare_runs_images_per_s": [round(v, 2) for v in self.bare_runs_ips],
            "framework_images_per_s": round(self.framework_ips, 2), "framework_ratio": round(self.framework_ratio, 3),
            "framework_ratio_spread": [round(v, 3) for v in self.workers[0].framework_ratio_spread],
            "pipeline_images_per_s": round(self.pipeline_ips, 2), "ratio": round(self.ratio, 3),
            "ratio_spread": [round(v, 3) for v in self.workers[0].ratio_spread],
            "latency_ms": {"p50": round(self.p50_ms, 2), "p95": round(self.p95_ms, 2), "n": len(self.latency_ms),
                           "samples": [round(v, 2) for v in self.latency_ms]},
            "stage_ms_per_image": {k: round(v, 3) for k, v in self.stage_ms.items()},
            "workers": [w.to_dict() for w in self.workers],
            "peak_rss_mib": round(self.peak_rss_mib, 1), "notes": self.notes, "frame_cache": self.frame_cache,
        }


def _percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# --------------------------------------------------------------------------------------------------- inputs
def image_files(folder: Path, limit: int | None = None) -> list[Path]:
    """The JPEG/PNG files below ``folder``, sorted (``limit`` first ones)."""
    if not folder.is_dir():
        raise NotFoundError(f"no image folder {folder}", "give --images a folder of JPEG/PNG files")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UsageError(f"no .jpg/.png images under {folder}")
    return files[:limit] if limit else files


def frames_from_video(video: Path, dest: Path, fps: float | None, limit: int | None = None) -> list[Path]:
    """Sample ``video`` at ``fps`` (None: every frame) into JPEGs (quality 95) in ``dest``; returns them."""
    if not Path(video).is_file():
        raise NotFoundError(f"no video file {video}", "check the --video path")
    if fps is not None and fps <= 0:
        raise UsageError(f"--fps must be positive, got {fps}")
    dest.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise UsageError(f"OpenCV cannot open {video} as a video", "give an MP4/AVI file OpenCV can decode")
    native = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    step = 1 if fps is None or native <= 0 or fps >= native else max(1, round(native / fps))
    out: list[Path] = []
    index = 0
    try:
        while not (limit and len(out) >= limit):
            ok, img = cap.read()
            if not ok:
                break
            if index % step == 0:
                path = dest / f"frame_{index:06d}.jpg"
                cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
                out.append(path)
            index += 1
    finally:
        cap.release()
    if not out:
        raise UsageError(f"no frames decoded from {video}")
    return out


# ---------------------------------------------------------------------------------------------------- specs
def camera_specs_path() -> Path:
    """The bundled camera pipeline specs (as :func:`vigil.demo.camera_specs_path`; demo is a sibling layer)."""
    return Path(str(resources.files("vigil") / "data" / "camera-pipelines.yaml"))


def _bench_docs(workers: int, threads: int, annotate: bool, batch_size: int) -> list[dict[str, Any]]:
    """The bundled camera specs with bench settings (parallelism, detector threads, annotate, batch size)."""
    docs = [d for d in yaml.safe_load_all(camera_specs_path().read_text(encoding="utf-8")) if d]
    for doc in docs:
        doc["parallelism_spec"] = {"constant": workers}
        if doc.get("transform", {}).get("stage") == "detect":
            doc["transform"]["params"].update(threads=threads, annotate=annotate, batch_size=batch_size)
    return docs


def write_specs(dest: Path, *, workers: int, threads: int, annotate: bool, batch_size: int) -> list[str]:
    """The bundled camera specs with bench settings into ``dest``; returns the pipeline names."""
    docs = _bench_docs(workers, threads, annotate, batch_size)
    dest.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return [d["pipeline"]["name"] for d in docs]


def write_framework_spec(dest: Path, *, workers: int, threads: int, annotate: bool, batch_size: int) -> None:
    """The bundled detect pipeline with the bench settings, reading the images repo directly
    (``/<camera>/<ts>.jpg``) instead of validate's output: the bare loop's work (decode + inference) done as a
    Vigil pipeline."""
    detect = next(d for d in _bench_docs(workers, threads, annotate, batch_size)
                  if d.get("transform", {}).get("stage") == "detect")
    params = detect["transform"]["params"]
    frames = params.pop("motion", None) or params.get("images")  # the input detect takes its frames from
    for part in detect["input"]["cross"]:
        if part["pfs"]["repo"] == frames:
            part["pfs"].update(repo="images", glob="/*/*")
    params["images"] = "images"
    dest.write_text(yaml.safe_dump(detect, sort_keys=False), encoding="utf-8")


# ------------------------------------------------------------------------------------------------- runners
def bare_loop(detectors: Sequence[Any], files: Sequence[Path], batch_size: int) -> float:
    """Seconds to read, decode and detect every file in chunks of ``batch_size``, one thread per detector
    taking the next chunk as it gets free (the bare model's own best use of N workers, balanced as the
    pipeline's executor is)."""
    chunks: queue.SimpleQueue[Sequence[Path]] = queue.SimpleQueue()
    for i in range(0, len(files), batch_size):
        chunks.put(files[i:i + batch_size])

    def work(detector: Any) -> None:
        while True:
            try:
                chunk = chunks.get_nowait()
            except queue.Empty:
                return
            detector.detect([decode_image(f.read_bytes()) for f in chunk])

    start = time.perf_counter()
    if len(detectors) == 1:
        work(detectors[0])
    else:
        with ThreadPoolExecutor(len(detectors)) as pool:
            list(pool.map(work, detectors))
    return time.perf_counter() - start


class PipelineBench:
    """Fresh workspaces on one warm executor: one per throughput round, then single-frame latency."""

    def __init__(self, root: Path, model: Path, specs: Path, executor: LocalExecutor, *,
                 folders: bool = False) -> None:
        """``folders``: commit frames as ``/<camera>/<ts>.jpg`` (what detect reads) instead of the identity
        names ``/<camera>_<ts>.jpg`` that cameras upload and validate routes."""
        self.root, self.model, self.specs, self.executor = root, model, specs, executor
        self.sep = "/" if folders else "_"
        self.count = 0
        self.next_ts = TS0
        self.frame_cache: dict[str, int] = {}

    def workspace(self) -> App:
        self.count += 1
        app = App.init(self.root / f"ws{self.count}")
        app.__dict__["executor"] = self.executor  # share warm workers across workspaces (cached_property)
        app.model_add(str(self.model))
        for repo in ("images", "rules"):
            app.store.create_repo(repo, exist_ok=True)
        with app.store.begin_commit("rules", description="2017 rule.json") as c:
            c.put_bytes("/rule.json", LEGACY_RULES)
        app.create_pipelines(self.specs)
        return app

    def commit(self, app: App, files: Sequence[Path]) -> None:
        with app.store.begin_commit("images", description=f"{len(files)} bench frames") as c:
            for f in files:
                c.put_file(f"/{CAMERA}{self.sep}{self.next_ts}.jpg", f)
                self.next_ts += 1

    def throughput(self, files: Sequence[Path]) -> tuple[float, list[JobInfo]]:
        """(wall seconds of App.run() for one commit of ``files`` in a fresh workspace, its jobs). The decoded-
        frame cache starts empty: nothing carries over from an earlier round's frames."""
        app = self.workspace()
        self.commit(app, files)
        shared_frames().clear()
        start = time.perf_counter()
        jobs = app.run()
        seconds = time.perf_counter() - start
        cache = shared_frames()
        self.frame_cache = {"hits": cache.hits, "misses": cache.misses}
        _check_jobs(jobs)
        self._last = app
        return seconds, jobs

    def latency(self, files: Sequence[Path], n: int, chain: Sequence[str]) -> list[float]:
        """ms from put of one frame to its threat commit, for ``n`` frames (reusing ``files`` round-robin)."""
        app = self._last
        samples = []
        for i in range(n):
            f = files[i % len(files)]
            name = f"/{CAMERA}{self.sep}{self.next_ts}.jpg"
            self.next_ts += 1
            start = time.perf_counter()
            with app.store.begin_commit("images", description="one frame") as c:
                c.put_file(name, f)
            jobs = [j for p in chain for j in app.run(p)]
            samples.append((time.perf_counter() - start) * 1000)
            _check_jobs(jobs)
            app.run()  # anything downstream of threat (report), outside the timing
        return samples


def _check_jobs(jobs: Sequence[JobInfo]) -> None:
    bad = [j for j in jobs if j.state not in ("SUCCESS",)]
    if bad:
        raise UsageError(f"bench pipeline {bad[0].pipeline} ended {bad[0].state}: {bad[0].reason}")


def _alternate(bare_detectors: Sequence[Any], framework: PipelineBench, bench: PipelineBench,
               files: Sequence[Path], rounds: int, batch_size: int, threads: int,
               tick: Callable[[str], None]) -> tuple[WorkerResult, list[float]]:
    """``rounds`` of bare loop, framework pipeline, camera pipeline, one worker layout; (medians as a
    WorkerResult, bare runs)."""
    n = len(bare_detectors)
    pipe_runs: list[float] = []
    bare_runs: list[float] = []
    framework_runs: list[float] = []
    stage_runs: dict[str, list[float]] = {}
    for _ in range(rounds):
        bare_runs.append(len(files) / bare_loop(bare_detectors, files, batch_size))
        tick(f"bare loop ({n} worker run)")
        framework_runs.append(len(files) / framework.throughput(files)[0])
        tick(f"detect as a pipeline, {n} worker(s)")
        seconds, jobs = bench.throughput(files)
        pipe_runs.append(len(files) / seconds)
        for j in jobs:
            stage_runs.setdefault(j.pipeline, []).append(j.seconds * 1000 / len(files))
        tick(f"camera pipeline, {n} worker(s)")
    bare_med, pipe_med = statistics.median(bare_runs), statistics.median(pipe_runs)
    framework_med = statistics.median(framework_runs)
    stage_ms = {k: statistics.median(v) for k, v in stage_runs.items()}
    return WorkerResult(n, threads, bare_med, pipe_med, pipe_med / bare_med, pipe_runs, stage_ms,
                        framework_med, framework_med / bare_med, ratio_spread(pipe_runs, bare_runs),
                        ratio_spread(framework_runs, bare_runs)), bare_runs


MIN_ROUNDS = 3


def ratio_spread(runs: Sequence[float], bare_runs: Sequence[float]) -> tuple[float, float]:
    """(lowest, highest) ratio of ``runs[i] / bare_runs[i]`` over the rounds: how far one round can mislead."""
    ratios = [r / b for r, b in zip(runs, bare_runs, strict=True)]
    return (min(ratios), max(ratios)) if ratios else (math.nan, math.nan)


def rounds_note(rounds: int) -> str | None:
    """A warning for too few rounds to tell a ratio from noise (one round once read 1.53x faster than bare)."""
    if rounds >= MIN_ROUNDS:
        return None
    return (f"only {rounds} round(s): a ratio from fewer than {MIN_ROUNDS} rounds is noise-prone on a shared "
            f"machine (and its spread says nothing); use --rounds {MIN_ROUNDS} or more for a figure")


def _warm_benches(root: Path, model: Path, files: Sequence[Path], n: int, threads: int, annotate: bool,
                  batch_size: int) -> tuple[PipelineBench, PipelineBench, list[str]]:
    """(camera pipeline, framework pipeline, the camera DAG's pipeline names) for ``n`` workers of ``threads``
    onnxruntime threads, on one executor whose workers have loaded the model (a warm-up run of each)."""
    specs, framework_specs = root / f"specs-{n}.yaml", root / f"framework-{n}.yaml"
    stages = write_specs(specs, workers=n, threads=threads, annotate=annotate, batch_size=batch_size)
    write_framework_spec(framework_specs, workers=n, threads=threads, annotate=annotate, batch_size=batch_size)
    executor = LocalExecutor(max_workers=n)
    bench = PipelineBench(root / f"w{n}", model, specs, executor)
    framework = PipelineBench(root / f"f{n}", model, framework_specs, executor, folders=True)
    for warm in (bench, framework):
        warm.throughput(files[: max(batch_size * n, 2)])
    return bench, framework, stages


def run_bench(
    files: Sequence[Path],
    *,
    model: str | Path = "yolox-nano",
    rounds: int = 2,
    workers: Sequence[int] | None = None,
    latency_samples: int = 20,
    annotate: bool = False,
    batch_size: int = 8,
    threads: int = 2,
    progress: Progress | None = None,
    tmp: Path | None = None,
) -> BenchReport:
    """Measure bare vs framework vs camera pipeline throughput (alternating, ``rounds`` each, medians), latency
    and stage times.

    ``workers``: worker counts to compare (default ``[cpu_count, 1]``); the first is the headline. With N
    workers each detector gets ``max(1, threads // N)`` onnxruntime threads so the cores are not oversubscribed.
    """
    if not files:
        raise UsageError("bench needs at least one image")
    if rounds < 1:
        raise UsageError(f"--rounds must be >= 1, got {rounds}")
    model_path = resolve_model(model)
    cpus = os.cpu_count() or 1
    counts = list(dict.fromkeys(workers or [cpus, 1]))  # headline first: the default layout (all cores)
    notes: list[str] = []
    if (warning := rounds_note(rounds)) is not None:
        log.warning("%s", warning)
        notes.append(warning)
    tick = progress or (lambda phase, done, total: None)
    total_steps = len(counts) * rounds * 3 + 1
    steps = itertools.count(1)
    root = Path(tempfile.mkdtemp(prefix="vigil-bench-", dir=tmp))
    try:
        results: list[WorkerResult] = []
        bare_all: list[float] = []
        latency: list[float] = []
        frame_cache: dict[str, int] = {}
        stages: list[str] = []
        for wi, n in enumerate(counts):
            per_thread = max(1, threads // n)
            bare_detectors = [load_detector(model_path, config=DetectorConfig(
                score_threshold=0.3, batch_size=batch_size, threads=per_thread)) for _ in range(n)]
            bare_loop(bare_detectors, files[:batch_size * n], batch_size)  # warm onnxruntime
            bench, framework, stages = _warm_benches(root, model_path, files, n, per_thread, annotate, batch_size)
            result, bare_runs = _alternate(bare_detectors, framework, bench, files, rounds, batch_size, per_thread,
                                           lambda phase: tick(phase, next(steps), total_steps))
            bare_all.extend(bare_runs)
            results.append(result)
            if wi == 0:
                frame_cache = dict(bench.frame_cache)
            if wi == 0 and latency_samples > 0:
                chain = [s for s in ("validate", "detect", "threat") if s in stages]
                latency = bench.latency(files, latency_samples, chain)
            for folder in (f"w{n}", f"f{n}"):
                shutil.rmtree(root / folder, ignore_errors=True)
        tick("done", next(steps), total_steps)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if annotate:
        notes.append("detect stage run with annotate=true (a boxed JPEG per frame; the bundled pipeline has it off)")
    head = results[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return BenchReport(len(files), str(model_path.name), annotate, rounds, head.bare_ips, bare_all,
                       head.pipeline_ips, head.ratio, latency, head.stage_ms, results, rss, stages, notes,
                       frame_cache)


__all__ = ["BenchReport", "WorkerResult", "bare_loop", "frames_from_video", "image_files", "ratio_spread",
           "rounds_note", "run_bench",
           "write_framework_spec", "write_specs"]
