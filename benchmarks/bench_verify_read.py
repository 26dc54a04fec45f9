"""Verify-on-read benchmark (prints figures; not a test). Run: `python benchmarks/bench_verify_read.py`.

Reads one large blob (256 MiB of random bytes, in the page cache) from a local object store, alternating in the
same run: the raw file (what a read cost before verification) and the verified stream (``ObjectStore.open``,
hashing each chunk as it is read, no second pass). Two ways of reading: 1 MiB chunks (``vigil get -o``, command
transforms) and one whole ``read()`` (frames, records). Then FRAMES frame-sized blobs (100 KB each) read whole,
as pipeline datums read them. Medians of REPEATS; the ratio is what verification costs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from vigil.store.objects import CHUNK, LocalObjectStore

SIZE = 256 << 20
REPEATS = 7
FRAMES, FRAME_SIZE = 1000, 100_000


def raw_file(path: Path | None) -> BinaryIO:
    """The stored file opened directly: a read with no verification (the caller closes it)."""
    assert path is not None
    return open(path, "rb")


def chunked(fh: BinaryIO) -> int:
    n = 0
    while chunk := fh.read(CHUNK):
        n += len(chunk)
    return n


def whole(fh: BinaryIO) -> int:
    return len(fh.read())


def timed(open_: Callable[[], BinaryIO], read: Callable[[BinaryIO], int]) -> float:
    start = time.perf_counter()
    with open_() as fh:
        assert read(fh) == SIZE
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-verify-") as tmp:
        objects = LocalObjectStore(Path(tmp), fsync=False)
        oid = objects.put_bytes(os.urandom(SIZE))
        path = objects.local_path(oid)
        assert path is not None
        print(f"one blob of {SIZE >> 20} MiB, local object store, page cache warm; median of {REPEATS}, "
              f"alternating\n")
        print("| read | raw file | verified | verified / raw | verified MiB/s |")
        print("|---|---:|---:|---:|---:|")
        for name, read in (("1 MiB chunks", chunked), ("whole read()", whole)):
            raw, verified = [], []
            for _ in range(REPEATS):
                raw.append(timed(lambda: raw_file(path), read))
                verified.append(timed(lambda: objects.open(oid), read))
            r, v = statistics.median(raw), statistics.median(verified)
            print(f"| {name} | {r:.3f} s | {v:.3f} s | {v / r:.2f} | {SIZE / v / (1 << 20):.0f} |")
        frames = [objects.put_bytes(os.urandom(FRAME_SIZE)) for _ in range(FRAMES)]
        paths = [objects.local_path(f) for f in frames]

        def read_all(open_: Callable[[int], BinaryIO]) -> float:
            start = time.perf_counter()
            for i in range(FRAMES):
                with open_(i) as fh:
                    fh.read()
            return time.perf_counter() - start

        raw, verified = [], []
        for _ in range(REPEATS):
            raw.append(read_all(lambda i: raw_file(paths[i])))
            verified.append(read_all(lambda i: objects.open(frames[i])))
        r, v = statistics.median(raw), statistics.median(verified)
        print(f"| {FRAMES} frames of {FRAME_SIZE // 1000} KB, whole read() | {r * 1000 / FRAMES:.3f} ms/frame | "
              f"{v * 1000 / FRAMES:.3f} ms/frame | {v / r:.2f} | {FRAMES * FRAME_SIZE / v / (1 << 20):.0f} |")


if __name__ == "__main__":
    main()
