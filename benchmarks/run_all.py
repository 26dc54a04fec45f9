"""Regenerate benchmarks/README.md's figures: `python benchmarks/run_all.py` (or `make bench`).

Runs every benchmarks/bench_*.py that exists (their stdout is kept verbatim), `vigil bench` on the
pets2009_s2l1 images (annotate off as bundled, then on), and `vigil eval` on each eval set, then rewrites
the block between the RESULTS markers of README.md. Needs ../shared (data and models); VIGIL_MIRROR
defaults to ../shared/models.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = next((p for p in (REPO / "shared", REPO.parent / "shared") if (p / "data").is_dir()), REPO.parent / "shared")
EVAL = SHARED / "data" / "eval"
SETS = [  # (set, classes, class map)
    ("pets2009_s2l1", "person", None),
    ("pennfudan_ped", "person", None),
    ("mot17_mini", "person", None),
    ("highway_cctv_vehicles", "car", "truck,bus=car"),
]
VIGIL = [sys.executable, "-m", "vigil.cli.main"] if not (Path(sys.executable).parent / "vigil").exists() \
    else [str(Path(sys.executable).parent / "vigil")]


def sh(args: list[str]) -> str:
    env = {**os.environ, "VIGIL_MIRROR": os.environ.get("VIGIL_MIRROR", str(SHARED / "models"))}
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"FAILED ({proc.returncode}): {proc.stderr.strip()[-500:]}"
    return proc.stdout


def main() -> int:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"Generated {started} by `python benchmarks/run_all.py` on {platform.machine()}, "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}.", ""]
    lines += ["### Pipeline throughput (`vigil bench --images pets2009_s2l1/images`)", "",
              "Framework: the bundled detect stage as a pipeline over the same images (the bare loop's work plus "
              "everything Vigil adds). Camera pipeline: validate, detect, threat, report. One worker per core "
              "unless said; ratios against the bare loop of the same round.", "",
              "| annotate | bare img/s | framework img/s | framework ratio | camera pipeline img/s | ratio | "
              "p50 ms | p95 ms | 1 worker: framework ratio, camera ratio | stage ms/img (headline) | peak RSS MiB |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for flag in ("--no-annotate", "--annotate"):  # the bundled pipeline first (annotate off)
        raw = sh([*VIGIL, "bench", "--images", str(EVAL / "pets2009_s2l1" / "images"), flag, "--json"])
        try:
            d = json.loads(raw)
        except json.JSONDecodeError:
            lines.append(f"| {flag} | {raw.strip()[:200]} ||||||||||")
            continue
        last = d["workers"][-1]
        stages = ", ".join(f"{k} {v:.1f}" for k, v in d["stage_ms_per_image"].items())
        lines.append(f"| {'on' if d['annotate'] else 'off (bundled)'} | {d['bare_images_per_s']:.1f} | "
                     f"{d['framework_images_per_s']:.1f} | **{d['framework_ratio']:.3f}** | "
                     f"{d['pipeline_images_per_s']:.1f} | {d['ratio']:.3f} | {d['latency_ms']['p50']:.0f} | "
                     f"{d['latency_ms']['p95']:.0f} | {last['framework_ratio']:.3f}, {last['ratio']:.3f} | "
                     f"{stages} | {d['peak_rss_mib']:.0f} |")
    lines += ["", "### Accuracy (`vigil eval`, YOLOX-nano, score >= 0.01, P/R at 0.3)", "",
              "| set | class | images | AP50 | AP@[.5:.95] | P | R | FP/img |", "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, cls, cmap in SETS:
            if not (EVAL / name).is_dir():
                continue
            args = [*VIGIL, "eval", "--images", str(EVAL / name), "--gt", str(EVAL / name / "gt.json"),
                    "--classes", cls, "--out", str(Path(tmp) / name), "--json"]
            raw = sh(args + (["--class-map", cmap] if cmap else []))
            try:
                d = json.loads(raw)
            except json.JSONDecodeError:
                lines.append(f"| {name} | {raw.strip()[:200]} |||||||")
                continue
            c = d["classes"][0]
            lines.append(f"| {name} | {c['class']}{' (' + cmap + ')' if cmap else ''} | {d['n_images']} | "
                         f"{c['ap50']:.3f} | {c['ap']:.3f} | {c['precision']:.3f} | {c['recall']:.3f} | "
                         f"{c['fp_per_image']:.2f} |")
    for script in sorted(HERE.glob("bench_*.py")):
        lines += ["", f"### {script.name}", "", "```", sh([sys.executable, str(script)]).rstrip(), "```"]
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    block = "<!-- RESULTS START -->\n" + "\n".join(lines) + "\n<!-- RESULTS END -->"
    text = re.sub(r"<!-- RESULTS START -->.*<!-- RESULTS END -->", lambda _: block, text, flags=re.S)
    readme.write_text(text, encoding="utf-8")
    sys.stdout.write(block + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
