"""CLI start-up, Vigil against DVC, in one run (issue 18 item 2; budget: `vigil --help`/`--version` <= 0.4 s,
a one-file `put` <= 0.8 s).

Each command is run many times, alternating between the commands so that load on the machine hits them alike;
the median wall time is reported beside `dvc --version` (DVC installed into its own venv by
`bench_vs_dvc.dvc_venv`, not a Vigil dependency).

    python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_vs_dvc import DEFAULT_VENV, VIGIL, dvc_venv

BUDGET = {"vigil --help": 0.4, "vigil --version": 0.4, "vigil put (one file)": 0.8}


def wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--dvc-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    dvc = dvc_venv(args.dvc_venv)
    with tempfile.TemporaryDirectory(prefix="vigil-startup-") as tmp:
        work = Path(tmp)
        ws = work / "ws"
        subprocess.run([*VIGIL, "init", str(ws)], check=True, capture_output=True)
        subprocess.run([*VIGIL, "-w", str(ws), "repo", "create", "images"], check=True, capture_output=True)
        (work / "frame.jpg").write_bytes(b"\xff\xd8" + bytes(40_000))
        commands = {
            "vigil --help": [*VIGIL, "--help"],
            "vigil --version": [*VIGIL, "--version"],
            "vigil put (one file)": None,  # a new path each run: every run makes a real commit
            "dvc --version": [str(dvc), "--version"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(args.runs + 1):
            for name, cmd in commands.items():
                cmd = cmd or [*VIGIL, "-w", str(ws), "put", f"images:/f{i}.jpg", str(work / "frame.jpg")]
                seconds = wall(cmd, work)
                if i:  # the first round warms the page cache
                    times[name].append(seconds)
    dvc_med = statistics.median(times["dvc --version"])
    print(f"start-up, medians of {args.runs} alternating runs (wall seconds):")
    print(f"{'command':<24}{'median':>8}{'min':>8}{'budget':>8}{'/ dvc --version':>17}")
    for name, values in times.items():
        med = statistics.median(values)
        budget = f"{BUDGET[name]:.2f}" if name in BUDGET else "-"
        print(f"{name:<24}{med:>8.3f}{min(values):>8.3f}{budget:>8}{med / dvc_med:>17.2f}")


if __name__ == "__main__":
    main()
