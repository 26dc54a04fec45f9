"""Motion gating and tracking, measured on the shared clips (figures for benchmarks/README.md).

(a) Car park (``intel_car-detection.mp4``, 377 frames, mostly an empty aisle): the bundled camera pipeline
    (validate, motion, detect, threat, report) with gating on, the same pipeline with gating off
    (``settings.enabled: false``), and the bare decode + inference loop on every frame, alternately in the
    same run (medians): frames/s and the ratio to the bare loop; the events each pipeline raises; person
    alerts per hour of video (a person rule on a clip without people: false alerts).
(b) PETS 2009 S2L1 (318 frames at 7 fps, ground truth with track ids): person AP50 of the detect records
    (a frame gating skipped predicts nothing) and person-rule alerts per ground-truth track, per frame (no
    tracking) against per track (``per_track``), with gating on and off.

Frames are committed one per second of camera time (``<camera>_<T0 + index>.jpg``), as `vigil bench --video`
does: rule times (``min_dwell``) are in frames here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VIDEO = SHARED / "data" / "video"
T0 = 1_700_000_000
RULES = """\
version: 1
rules:
  - {id: rule.json, classes: [person, car, motorcycle, truck], min_score: 0.5, severity: high}
  - {id: person, classes: [person], min_score: 0.5}
  - {id: intruder, classes: [person], min_score: 0.5, per_track: true}
"""


def frames(video: Path, dest: Path, limit: int | None = None) -> list[Path]:
    from vigil.throughput import frames_from_video

    return frames_from_video(video, dest, None, limit)


def specs(dest: Path, workers: int, gating: bool) -> Path:
    from vigil.throughput import _bench_docs

    docs = _bench_docs(workers, max(1, 2 // workers), False, 8)
    for d in docs:
        if d["transform"].get("stage") == "motion":
            d["transform"]["params"]["settings"] = {"enabled": gating}
    dest.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return dest


def pipeline_run(root: Path, files: list[Path], camera: str, gating: bool, executor: Any,
                 model: Path) -> tuple[float, Any]:
    from vigil.app import App
    from vigil.vision.framecache import shared_frames

    app = App.init(root)
    app.__dict__["executor"] = executor
    app.model_add(str(model))
    for repo in ("images", "rules"):
        app.store.create_repo(repo, exist_ok=True)
    with app.store.begin_commit("rules") as c:
        c.put_bytes("/rules.yaml", RULES.encode())
    with app.store.begin_commit("images") as c:
        for i, f in enumerate(files):
            c.put_file(f"/{camera}_{T0 + i}.jpg", f)
    app.create_pipelines(specs(root / "specs.yaml", executor.max_workers, gating))
    shared_frames().clear()
    start = time.perf_counter()
    jobs = app.run()
    seconds = time.perf_counter() - start
    bad = [j for j in jobs if j.state != "SUCCESS" or j.n_failed]
    if bad:
        raise SystemExit(f"{bad[0].pipeline}: {bad[0].state} {bad[0].reason}")
    return seconds, app


def docs(app: Any, repo: str) -> dict[str, dict[str, Any]]:
    return {f.path: json.loads(app.store.read_bytes(repo, None, f.path))
            for f in app.store.list_files(repo) if f.path.endswith(".json")}


def car_park(tmp: Path, rounds: int, workers: int, model: Path) -> list[str]:
    from vigil.executors.local import LocalExecutor
    from vigil.throughput import bare_loop
    from vigil.vision.detector import DetectorConfig, load_detector

    files = frames(VIDEO / "intel_car-detection.mp4", tmp / "lot")
    detectors = [load_detector(model, config=DetectorConfig(score_threshold=0.3, batch_size=8,
                                                            threads=max(1, 2 // workers))) for _ in range(workers)]
    bare_loop(detectors, files[:16], 8)
    executor = LocalExecutor(max_workers=workers)
    pipeline_run(tmp / "warm", files[:20], "lot", True, executor, model)  # load the model on the workers
    runs: dict[str, list[float]] = {"bare": [], "gated": [], "ungated": []}
    apps: dict[str, Any] = {}
    for r in range(rounds):
        runs["bare"].append(len(files) / bare_loop(detectors, files, 8))
        for mode in ("gated", "ungated"):
            seconds, apps[mode] = pipeline_run(tmp / f"{mode}{r}", files, "lot", mode == "gated", executor, model)
            runs[mode].append(len(files) / seconds)
    executor.close()
    med = {k: statistics.median(v) for k, v in runs.items()}
    motion = docs(apps["gated"], "motion")
    detected = sum(d["motion"]["detect"] for d in motion.values())
    events = {m: sorted((p, e["rule_id"]) for p, d in docs(apps[m], "threat").items() for e in d["events"])
              for m in ("gated", "ungated")}
    per_frame = {m: {(p, r) for p, r in events[m] if r != "intruder"} for m in events}
    hours = len(files) / 12.5 / 3600
    person = {m: sum(r in ("person", "intruder") for _, r in events[m]) for m in events}
    return [
        f"car park, {len(files)} frames, {workers} worker(s), medians of {rounds} rounds (frames/s):",
        f"  bare decode+detect every frame {med['bare']:.1f}; pipeline gated {med['gated']:.1f} "
        f"(ratio {med['gated'] / med['bare']:.2f}); pipeline ungated {med['ungated']:.1f} "
        f"(ratio {med['ungated'] / med['bare']:.2f}); gated/ungated {med['gated'] / med['ungated']:.2f}",
        f"  frames detected with gating: {detected}/{len(files)} ({detected / len(files):.0%}): ceiling of the "
        f"gated/bare ratio at zero other cost {len(files) / max(detected, 1):.2f}",
        f"  per-frame events: gated {len(per_frame['gated'])}, ungated {len(per_frame['ungated'])}, "
        f"lost by gating {len(per_frame['ungated'] - per_frame['gated'])}, only gated "
        f"{len(per_frame['gated'] - per_frame['ungated'])}",
        f"  person alerts (person + intruder rules): gated {person['gated']}, ungated {person['ungated']} "
        f"over {len(files) / 12.5:.0f} s of video = {person['gated'] / hours:.0f} per hour gated",
    ]


def pets(tmp: Path, workers: int, model: Path) -> list[str]:
    from vigil.evaluation import TruthArrays, evaluate
    from vigil.evaluation.groundtruth import ImageTruth
    from vigil.evaluation.metrics import pairwise_iou
    from vigil.executors.local import LocalExecutor

    gt = json.loads((VIDEO / "pets2009_s2l1_dev_7fps.gt.json").read_text())
    files = frames(VIDEO / "pets2009_s2l1_dev_7fps.mp4", tmp / "pets")
    truth = {f"frame:{e['frame_index']}": ImageTruth.model_validate({**e, "image": f"frame:{e['frame_index']}"})
             for e in gt}
    tracks = {b["track_id"] for e in gt for b in e["boxes"] if not b["ignore"]}
    executor = LocalExecutor(max_workers=workers)
    out = [f"PETS S2L1, {len(files)} frames, {len(tracks)} ground-truth people (tracks):"]
    for mode in ("gated", "ungated"):
        _, app = pipeline_run(tmp / f"pets-{mode}", files, "pets", mode == "gated", executor, model)
        detect = docs(app, "detect")
        from vigil.domain.detections import Detections

        preds = {f"frame:{d['ts'] - T0}": Detections.from_records(d["objects"]) for d in detect.values()}
        report = evaluate(preds, {k: TruthArrays.from_record(v) for k, v in truth.items()}, classes=["person"],
                          operating_score=0.5)
        threat = docs(app, "threat")
        events = [e for d in threat.values() for e in d["events"]]
        votes: dict[str, dict[int | None, int]] = {}  # tracked object -> ground-truth person it overlaps, by frame
        for d in threat.values():
            t = truth[f"frame:{d['ts'] - T0}"]
            people = [b for b in t.boxes if not b.ignore]
            for o in d.get("tracks", []):
                if people:
                    iou = pairwise_iou([o["box"]], [[b.x1, b.y1, b.x2, b.y2] for b in people])[0]
                    if iou.max() >= 0.5:
                        who = people[int(iou.argmax())].track_id
                        votes.setdefault(o["track_id"], {}).setdefault(who, 0)
                        votes[o["track_id"]][who] += 1
        matched: dict[str, set[int | None]] = {"person": set(), "intruder": set()}
        counts = {"person": 0, "intruder": 0}
        for e in events:
            if e["rule_id"] not in counts:
                continue
            counts[e["rule_id"]] += 1
            if e["rule_id"] == "intruder" and votes.get(e["track_id"]):
                matched["intruder"].add(max(votes[e["track_id"]].items(), key=lambda kv: kv[1])[0])
                continue
            t = truth[f"frame:{e['ts'] - T0}"]
            people = [b for b in t.boxes if not b.ignore]
            for o in e["objects"]:
                if people:
                    iou = pairwise_iou([o["box"]], [[b.x1, b.y1, b.x2, b.y2] for b in people])[0]
                    if iou.max() >= 0.5:
                        matched[e["rule_id"]].add(people[int(iou.argmax())].track_id)
        skipped = sum("skipped" in d for d in detect.values())
        out.append(f"  {mode}: person AP50 {report.classes[0].ap50:.3f} (detect at score >= 0.3; {skipped} frames "
                   f"skipped); per-frame person rule: {counts['person']} alerts = "
                   f"{counts['person'] / len(tracks):.1f} per person, recall {len(matched['person'])}/{len(tracks)}; "
                   f"per-track rule: {counts['intruder']} alerts = {counts['intruder'] / len(tracks):.1f} per "
                   f"person, recall {len(matched['intruder'])}/{len(tracks)}")
    executor.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not VIDEO.is_dir():
        sys.exit(f"{VIDEO} is absent")
    os.environ.setdefault("VIGIL_MIRROR", f"{SHARED / 'models'}:{SHARED / 'data' / 'seed'}")
    from vigil.app import resolve_model

    model = resolve_model("yolox-nano")
    tmp = Path(tempfile.mkdtemp(prefix="vigil-gating-"))
    try:
        lines = car_park(tmp, args.rounds, args.workers, model) + pets(tmp, args.workers, model)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
