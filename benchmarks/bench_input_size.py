"""Small and distant objects: AP50 and inference cost of detector input sizes and class merging, side by side.

Variants (YOLOX-nano, score >= 0.01 as `vigil eval`, AP50 at IoU 0.5 over the scored class):

* ``416 square``: the default size (letterbox to 416x416), on the graph `vigil model add` commits (input
  height/width variable), and ``416, graph as exported``: the same on the shipped fixed-size file (same AP50;
  its cost says whether the variable-size graph costs anything);
* ``aspect 416``: longer side 416, the other matched to the frame (416x320 for 4:3, no padding wasted);
* ``aspect 640``: longer side 640 (640x480 for 4:3, 640x384 for 16:9);
* ``416 + merge``: 416 square with car/truck/bus suppressed together by NMS (detect's ``merge_classes``);
* ``aspect 640 + merge``: both.

Every variant runs on the same decoded frames, the variants alternate frame by frame (in a rotating order), so
machine load hits them alike; the cost column is each variant's summed detect time (pre-processing, inference,
post-processing; decode excluded) over the 416-square time on the same frames. Sets are subsampled evenly
(``--limit`` frames each, sizes printed). Highway vehicles are all labelled ``car``: predictions of truck and
bus are scored as car (``--class-map truck,bus=car``) in every variant; merging changes only NMS.

    nice python benchmarks/bench_input_size.py [--limit 40] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EVAL = SHARED / "data" / "eval"
MODEL = SHARED / "models" / "yolox_nano_416.onnx"
SETS = {  # folder: (scored class, class map)
    "mot17_mini": ("person", None),
    "highway_cctv_vehicles": ("car", "truck,bus=car"),
    "pets2009_s2l1": ("person", None),
    "pennfudan_ped": ("person", None),
}
VARIANTS = {  # name: (input size spec or None for the model's own, merge car/truck/bus)
    "416 square": (None, False),
    "416, graph as exported": (None, False),  # the fixed-size file: same outputs, is the variable graph slower?
    "aspect 416": ({"aspect": 416}, False),
    "aspect 640": ({"aspect": 640}, False),
    "416 + merge": (None, True),
    "aspect 640 + merge": ({"aspect": 640}, True),
}
MERGED_ONLY_WHERE = "highway_cctv_vehicles"  # person sets score no merged class: merging cannot change them


@dataclass
class Result:
    dataset: str
    variant: str
    n_frames: int
    ap50: float
    recall_at_03: float
    seconds: float


def subsample(records: list[Any], limit: int | None) -> list[Any]:
    """``limit`` records spread evenly over the set (every camera/sequence keeps its share)."""
    if not limit or len(records) <= limit:
        return records
    step = len(records) / limit
    return [records[int(i * step)] for i in range(limit)]


def run_set(name: str, limit: int | None, threads: int) -> list[Result]:
    from vigil.app import cache_dir
    from vigil.assess import image_frames, load_truth
    from vigil.domain.coco import class_index
    from vigil.evaluation import ClassMap, TruthArrays, evaluate
    from vigil.vision.detector import DetectorConfig, load_detector
    from vigil.vision.graph import any_input_size
    from vigil.vision.input_size import InputSizeSettings

    scored, class_map = SETS[name]
    cmap = ClassMap.parse(class_map) if class_map else None
    records = subsample(load_truth(EVAL / name / "gt.json"), limit)
    frames = list(image_frames(EVAL / name, records))
    variable = any_input_size(MODEL, cache_dir())[0]  # as `vigil model add` commits it
    vehicles = [[class_index(c) for c in ("car", "truck", "bus")]]
    variants = {v: spec for v, spec in VARIANTS.items() if not spec[1] or name == MERGED_ONLY_WHERE}
    detectors = {}
    for variant, (size, merge) in variants.items():
        config = DetectorConfig(score_threshold=0.01, threads=threads, batch_size=1,
                                merge_classes=vehicles if merge else [])
        graph = MODEL if variant == "416, graph as exported" else variable
        detectors[variant] = (load_detector(graph, "yolox", config), InputSizeSettings.parse(size))
    preds: dict[str, dict[str, Any]] = {v: {} for v in variants}
    seconds = dict.fromkeys(variants, 0.0)
    order = list(variants)
    for i, (image, img) in enumerate(frames):
        for variant in order[i % len(order):] + order[: i % len(order)]:  # rotate who goes first
            det, sizes = detectors[variant]
            sized = det.resized(sizes.for_frame("", (img.shape[1], img.shape[0]), det.input_size))
            start = time.perf_counter()
            preds[variant][image] = sized.detect([img])[0]
            seconds[variant] += time.perf_counter() - start
    truth = {r.image: TruthArrays.from_record(r) for r in records}
    out = []
    for variant in variants:
        report = evaluate(preds[variant], truth, classes=[scored], operating_score=0.3, class_map=cmap)
        (c,) = report.classes
        out.append(Result(name, variant, len(frames), c.ap50, c.recall, seconds[variant]))
    return out


def table(results: list[Result]) -> str:
    base = {r.dataset: r for r in results if r.variant == "416 square"}
    lines = ["| set (class, frames) | variant | AP50 | ΔAP50 | R@0.3 | cost vs 416 square | ms/frame |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        b = base[r.dataset]
        scored = SETS[r.dataset][0]
        lines.append(f"| {r.dataset} ({scored}, {r.n_frames}) | {r.variant} | {r.ap50:.3f} | "
                     f"{r.ap50 - b.ap50:+.3f} | {r.recall_at_03:.3f} | {r.seconds / b.seconds:.2f}x | "
                     f"{1000 * r.seconds / r.n_frames:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40, help="frames per set, spread evenly (default 40; 0: all)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1: shared machine)")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set folders")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not MODEL.is_file():
        print(f"no model at {MODEL}", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    results: list[Result] = []
    for name in args.sets.split(","):
        results.extend(run_set(name, args.limit, args.threads))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(table(results))
    print(f"\n{platform.machine()}, {os.cpu_count()} CPUs, onnxruntime threads {args.threads}, "
          f"load average at start {load:.1f}, at end {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
