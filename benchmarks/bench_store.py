"""Store benchmark (prints figures; not a test). Run: `python benchmarks/bench_store.py` (about 1-3 minutes).

1. one commit of 10,000 JPEG-sized blobs (40-100 KB random bytes) from a folder: files/s, MB/s;
2. committing 1 file into a repo of 1,000 files vs one of 100,000 files (median of 20 commits; target ratio <= 1.5);
3. `ls` of the 100k-file commit; a read of one path at the head and at an old commit of the 100k repo.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vigil.app import App
from vigil.store.store import Store

N_JPEGS = 10_000
SMALL, LARGE = 1_000, 100_000
BATCH = 10_000
REPEATS = 20


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_jpegs(folder: Path, rng: random.Random) -> int:
    folder.mkdir()
    total = 0
    for i in range(N_JPEGS):
        data = rng.randbytes(rng.randint(40_000, 100_000))
        (folder / f"cam{i % 8}_{i:05}.jpg").write_bytes(data)
        total += len(data)
    return total


def fill(store: Store, repo: str, n: int) -> None:
    """``n`` small files committed in batches straight through the Python API. Their contents are 1,000
    distinct small blobs, stored once and staged by oid, so building the repo measures metadata, not fsyncs."""
    store.create_repo(repo)
    with store.begin_commit(repo, description="blobs") as c:
        blobs = [(c.put_bytes(f"/blobs/{k:04}", b"%d" % k), len(b"%d" % k)) for k in range(1000)]
    for start in range(0, n, BATCH):
        with store.begin_commit(repo, description=f"fill {start}") as c:
            for i in range(start, min(n, start + BATCH)):
                c.put_blob(f"/d{i % 100:02}/f{i:06}.txt", *blobs[i % 1000])


def single_commits(store: Store, repo: str, n_files: int = 1) -> float:
    """Median seconds of a commit adding ``n_files`` new files (a pipeline job's output commit is like one)."""
    times = []
    for k in range(REPEATS):
        def one(k: int = k) -> None:
            with store.begin_commit(repo) as c:
                for j in range(n_files):
                    c.put_bytes(f"/new{n_files}/n{k:03}-{j:04}.txt", b"new %d %d" % (k, j))
        times.append(timed(one))
    return statistics.median(times)


def main() -> None:
    rng = random.Random(0)
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        root = Path(tmp)
        app = App.init(root / "ws")  # default config: fsync on, as users run it
        store = app.store
        total = make_jpegs(root / "jpegs", rng)
        store.create_repo("images")
        secs = timed(lambda: app.put("images", [str(root / "jpegs")], "10k jpegs"))
        rows.append(("put 10,000 JPEG-sized files, one commit",
                     f"{secs:.1f} s  {N_JPEGS / secs:,.0f} files/s  {total / secs / 1e6:,.0f} MB/s"))

        fill(store, "small", SMALL)
        t0 = time.perf_counter()
        fill(store, "large", LARGE)
        rows.append((f"build {LARGE:,}-file repo (API, {BATCH:,}/commit)", f"{time.perf_counter() - t0:.1f} s"))
        small, large = single_commits(store, "small"), single_commits(store, "large")
        rows.append((f"1-file commit, median of {REPEATS}: {SMALL:,} vs {LARGE:,} files",
                     f"{small * 1e3:.1f} ms vs {large * 1e3:.1f} ms  ratio {large / small:.2f} (target <= 1.5)"))
        small, large = single_commits(store, "small", 100), single_commits(store, "large", 100)
        rows.append((f"100-file commit, median of {REPEATS}: {SMALL:,} vs {LARGE:,} files",
                     f"{small * 1e3:.1f} ms vs {large * 1e3:.1f} ms  ratio {large / small:.2f} (target <= 1.5)"))

        files: list[object] = []
        secs = timed(lambda: files.extend(app.ls("large")))
        rows.append((f"ls of the {len(files):,}-file head", f"{secs:.2f} s  {len(files) / secs:,.0f} files/s"))
        secs = timed(lambda: store.read_bytes("large", "master", "/d42/f000042.txt"))
        rows.append(("read one path at the head (100k repo)", f"{secs * 1e3:.1f} ms"))
        old = f"master^{REPEATS + 5}"  # the fifth of ten fill commits
        secs = timed(lambda: store.read_bytes("large", old, "/d42/f000042.txt"))
        rows.append((f"read one path at {old} (100k repo)", f"{secs * 1e3:.1f} ms"))
        secs = timed(lambda: store.list_files("large", old))
        rows.append((f"ls at {old} ({len(store.list_files('large', old)):,} files)", f"{secs:.2f} s"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  result")
    print("-" * (width + 50))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
