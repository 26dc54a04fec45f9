"""Bulk ingest, Vigil against DVC on the same files, in one run (issue 18 item 3).

`vigil put REPO folder` (one commit of every file) against `dvc add folder` + `git commit` of the .dvc file (what
a DVC user does to version the same folder), on N files of ~40 KB (random bytes: nothing deduplicates), each
tool in a fresh workspace, alternating, medians of the rounds. DVC 3 is installed by this script into its own
venv from PyPI (not a Vigil dependency; `--dvc-venv` to reuse one). Prints wall and CPU seconds side by side
and the ratios.

    python benchmarks/bench_vs_dvc.py [--files 10000] [--size 40000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vigil-bench" / "dvc-venv"
VIGIL = [sys.executable, "-m", "vigil.cli.main"] if not (Path(sys.executable).parent / "vigil").exists() \
    else [str(Path(sys.executable).parent / "vigil")]


def dvc_venv(venv: Path = DEFAULT_VENV) -> Path:
    """The `dvc` executable of a venv holding DVC from PyPI (created on first use; idempotent)."""
    dvc = venv / "bin" / "dvc"
    if not dvc.exists():
        print(f"installing DVC into {venv} (once)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "dvc"], check=True)
    return dvc


def make_files(root: Path, n: int, size: int) -> Path:
    """``n`` files of ``size`` random bytes in 20 camera folders below ``root/frames``."""
    folder = root / "frames"
    for i in range(n):
        cam = folder / f"cam{i % 20:02d}"
        cam.mkdir(parents=True, exist_ok=True)
        (cam / f"{1511891000 + i}.jpg").write_bytes(os.urandom(size))
    return folder


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child and its children) of one command, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def vigil_round(work: Path, frames: Path) -> tuple[float, float]:
    ws = work / "vigil-ws"
    shutil.rmtree(ws, ignore_errors=True)
    subprocess.run([*VIGIL, "init", str(ws)], check=True, capture_output=True)
    subprocess.run([*VIGIL, "-w", str(ws), "repo", "create", "images"], check=True, capture_output=True)
    return timed([*VIGIL, "-w", str(ws), "put", "images", str(frames), "-m", "frames"], cwd=work)


def dvc_round(work: Path, frames: Path, dvc: Path) -> tuple[float, float]:
    repo = work / "dvc-repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.invalid", "DVC_NO_ANALYTICS": "1"}
    for cmd in (["git", "init", "-q"], [str(dvc), "init", "-q"], ["git", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)
    shutil.copytree(frames, repo / "frames")  # dvc add works in place: the files must be inside the repo
    wall_a, cpu_a = timed([str(dvc), "add", "-q", "frames"], cwd=repo, env=env)
    subprocess.run(["git", "add", "frames.dvc", ".gitignore"], cwd=repo, env=env, check=True)
    wall_c, cpu_c = timed(["git", "commit", "-qm", "frames"], cwd=repo, env=env)
    return wall_a + wall_c, cpu_a + cpu_c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dvc-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    dvc = dvc_venv(args.dvc_venv)
    version = subprocess.run([str(dvc), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="vigil-vs-dvc-") as tmp:
        work = Path(tmp)
        frames = make_files(work, args.files, args.size)
        runs: dict[str, list[tuple[float, float]]] = {"vigil": [], "dvc": []}
        for r in range(args.rounds):
            runs["vigil"].append(vigil_round(work, frames))
            runs["dvc"].append(dvc_round(work, frames, dvc))
            print(f"round {r + 1}: vigil {runs['vigil'][-1][0]:.2f} s, dvc {runs['dvc'][-1][0]:.2f} s",
                  file=sys.stderr)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}
    print(f"ingest of {args.files} files of {args.size} B, medians of {args.rounds} rounds (DVC {version}):")
    print(f"{'':<34}{'wall s':>10}{'CPU s':>10}")
    print(f"{'vigil put (one commit)':<34}{med['vigil'][0]:>10.2f}{med['vigil'][1]:>10.2f}")
    print(f"{'dvc add + git commit':<34}{med['dvc'][0]:>10.2f}{med['dvc'][1]:>10.2f}")
    print(f"{'ratio vigil / dvc (<= 1: faster)':<34}{med['vigil'][0] / med['dvc'][0]:>10.2f}"
          f"{med['vigil'][1] / med['dvc'][1]:>10.2f}")


if __name__ == "__main__":
    main()
