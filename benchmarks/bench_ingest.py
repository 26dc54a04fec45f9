"""Live ingest from a video file at full rate (every frame: decode, JPEG, blob, group commit) against a bare
PyAV decode loop over the same file, in one run (issue 16 item 1).

Three things run alternately, ``--rounds`` times, so that load on the shared machine hits them alike; medians:
- bare decode: PyAV decodes every frame (frame and slice threads), nothing else;
- decode + JPEG: the bare loop plus each frame converted to BGR and JPEG-encoded (quality 90), the work any
  ingest that stores frames as pictures cannot skip;
- ``vigil ingest``: :class:`vigil.ingest.live.Ingestor` over the file into a fresh workspace's images repo,
  through the group committer camera push uses, until every frame is committed (the workspace is made before
  the clock starts); and the same with ``objects: {fsync: false}``, where commits skip the flush of the
  blobs to disk (``syncfs`` flushes the whole file system: on a disk shared with other work it waits for theirs).
Frames/s are wall-clock; CPU ms per frame (all threads of the process) say where the time goes on a loaded
machine.

    python benchmarks/bench_ingest.py [--clip intel_car-detection.mp4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av

from vigil.app import App
from vigil.domain.sources import SourceConfig
from vigil.ingest.live import ingestor_for
from vigil.store.workspace import LocalObjects, WorkspaceConfig
from vigil.vision.image import encode_jpeg

SHARED = Path(__file__).resolve().parents[2] / "shared"
VIDEO = SHARED / "data" / "video"


def bare_decode(clip: Path) -> int:
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def decode_jpeg(clip: Path) -> int:
    n = 0
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            encode_jpeg(frame.to_ndarray(format="bgr24"), 90)
            n += 1
    return n


def ingest(clip: Path, fsync: bool = True) -> tuple[int, float, float]:
    """Frames, wall and CPU seconds of one ingest into a fresh workspace (made before the clock starts)."""
    with tempfile.TemporaryDirectory(prefix="vigil-bench-ingest-") as tmp:
        app = App.init(Path(tmp) / "ws", WorkspaceConfig(objects=LocalObjects(fsync=fsync)))
        try:
            app.store.create_repo("images")
            config = SourceConfig(camera="cam1", url=str(clip), name="bench")
            ingestor = ingestor_for(config, app.store, app.committer_for, start=1_511_891_000.0)
            wall, cpu = time.perf_counter(), time.process_time()
            stats = ingestor.run(threading.Event())
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert stats.committed == stats.frames_in, stats
            return stats.committed, wall, cpu
        finally:
            app.close()


def timed(fn: Callable[[Path], int], clip: Path) -> tuple[int, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn(clip)
    return n, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="intel_car-detection.mp4")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    clip = VIDEO / args.clip
    runs: dict[str, list[tuple[int, float, float]]] = {"bare decode": [], "decode + JPEG": [], "vigil ingest": [],
                                                       "ingest, no fsync": []}
    ingest(clip)  # warm-up: imports, page cache
    for _ in range(args.rounds):
        runs["bare decode"].append(timed(bare_decode, clip))
        runs["decode + JPEG"].append(timed(decode_jpeg, clip))
        runs["vigil ingest"].append(ingest(clip))
        runs["ingest, no fsync"].append(ingest(clip, fsync=False))
    frames = runs["bare decode"][0][0]
    fps = {name: statistics.median(n / wall for n, wall, _ in r) for name, r in runs.items()}
    cpu = {name: statistics.median(c / n * 1000 for n, _, c in r) for name, r in runs.items()}
    print(f"{clip.name}, {frames} frames, medians of {args.rounds} rounds:")
    for name in runs:
        print(f"  {name:16s} {fps[name]:7.1f} frames/s  {cpu[name]:6.2f} CPU ms/frame")
    print(f"  ingest / bare decode {fps['vigil ingest'] / fps['bare decode']:.2f}; "
          f"ingest / decode + JPEG {fps['vigil ingest'] / fps['decode + JPEG']:.2f}")


if __name__ == "__main__":
    main()
