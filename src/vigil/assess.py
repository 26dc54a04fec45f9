"""``vigil eval``: detection accuracy of a model over a labelled image folder or video, and rule hit rates.

Orchestration only: frames are decoded here (OpenCV), detected with :func:`vigil.vision.load_detector`, scored
by the pure :func:`vigil.evaluation.evaluate`, and optionally replayed through the threat rule engine
(:func:`vigil.domain.threat.evaluate`) exactly as the ``threat`` stage would see them.

Ground truth is the ``shared/data`` format: ``gt.json`` entries name an image below the data set folder, or,
for a video, carry ``"image": null`` and a ``frame_index`` (0-based decoded frame number).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from vigil.app import cache_dir, resolve_model
from vigil.domain.coco import COCO80_NAMES
from vigil.domain.detections import Detections
from vigil.domain.rules import RuleSet, parse_ruleset
from vigil.domain.threat import FrameFacts, ThreatState
from vigil.domain.threat import evaluate as evaluate_rules
from vigil.errors import NotFoundError, SpecError, UsageError
from vigil.evaluation import ClassMap, EvalReport, ImageTruth, TruthArrays, evaluate, load_ground_truth
from vigil.evaluation.operating import Suggestion, suggest_thresholds
from vigil.evaluation.plot import plot_pr_curves
from vigil.vision.detector import Detector, DetectorConfig, load_detector
from vigil.vision.graph import any_input_size
from vigil.vision.image import decode_image
from vigil.vision.input_size import InputSizeSettings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "yolox-nano"
DEFAULT_SCORE = 0.01  # low, so the PR curve (and AP) reaches high recall
DEFAULT_OPERATING_SCORE = 0.3  # the camera pipeline's detect threshold
Progress = Callable[[int, int], None]  # (done, total)
BGR = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class RuleStats:
    """Frames raising at least one event versus frames holding ground-truth objects of the scored classes."""

    n_frames: int
    frames_with_gt: int
    frames_with_events: int
    hits: int  # frames with both
    false_alarms: int  # events on frames without gt objects
    misses: int  # gt objects but no event
    events: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_frames": self.n_frames, "frames_with_gt": self.frames_with_gt,
            "frames_with_events": self.frames_with_events, "hits": self.hits,
            "false_alarms": self.false_alarms, "misses": self.misses, "events": self.events,
            "frame_recall": _ratio(self.hits, self.frames_with_gt),
            "frame_precision": _ratio(self.hits, self.frames_with_events),
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 6) if b else None


@dataclass
class Assessment:
    """What :func:`assess_dataset` measured: the accuracy report plus run facts and optional rule stats."""

    name: str
    report: EvalReport
    model: Path
    score: float
    n_frames: int
    seconds: float
    rules: RuleStats | None = None
    files: dict[str, Path] = field(default_factory=dict)
    input_size: str | None = None  # None: the model's own
    merge_classes: list[list[str]] = field(default_factory=list)
    target_precision: float | None = None
    thresholds: list[Suggestion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "model": str(self.model), "score_threshold": self.score,
            "input_size": self.input_size, "merge_classes": self.merge_classes,
            "n_frames": self.n_frames, "seconds": round(self.seconds, 3),
            "images_per_second": round(self.n_frames / self.seconds, 3) if self.seconds > 0 else None,
            **self.report.to_dict(),
            "rules": self.rules.to_dict() if self.rules else None,
            "target_precision": None if self.target_precision is None else {
                "target": self.target_precision, "thresholds": [t.to_dict() for t in self.thresholds]},
        }


# ------------------------------------------------------------------------------------------------ frames
def load_truth(gt: Path) -> list[ImageTruth]:
    """``gt.json`` records; video entries (``image`` null + ``frame_index``) are named ``frame:<index>``."""
    raw: Any
    try:
        raw = json.loads(Path(gt).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"ground-truth file {gt} does not exist", "check the --gt path") from None
    except json.JSONDecodeError:
        return load_ground_truth(gt)  # it words the JSON error with line and column
    if not (isinstance(raw, list) and any(isinstance(e, dict) and e.get("image") is None for e in raw)):
        return load_ground_truth(gt)
    records = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("frame_index"), int):
            raise SpecError(f"{gt}: entry {index}: a video entry needs an integer frame_index")
        try:
            records.append(ImageTruth.model_validate({**entry, "image": frame_name(entry["frame_index"])}))
        except ValidationError as exc:
            raise SpecError(f"{gt}: entry {index}: {exc.errors()[0]['msg']}", "fix that entry") from exc
    return records


def frame_name(index: int) -> str:
    return f"frame:{index}"


def image_frames(root: Path, records: Sequence[ImageTruth]) -> Iterator[tuple[str, BGR]]:
    """(gt image name, BGR) for every record, read from ``root / image`` (or ``root / images / image``)."""
    for r in records:
        path = root / r.image
        if not path.is_file() and (root / "images" / r.image).is_file():
            path = root / "images" / r.image
        if not path.is_file():
            raise NotFoundError(f"image {r.image} of the ground truth is not under {root}",
                                "pass --images the data set folder (the one gt.json paths are relative to)")
        yield r.image, decode_image(path.read_bytes())


def video_frames(video: Path, step: int = 1) -> Iterator[tuple[int, BGR]]:
    """(frame index, BGR) of every ``step``-th decoded frame of ``video`` (OpenCV), from frame 0."""
    if not Path(video).is_file():
        raise NotFoundError(f"no video file {video}", "check the --video path")
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise UsageError(f"OpenCV cannot open {video} as a video", "give an MP4/AVI file OpenCV can decode")
    try:
        index = 0
        while True:
            if index % step:
                if not cap.grab():
                    return
            else:
                ok, img = cap.read()
                if not ok:
                    return
                yield index, np.ascontiguousarray(img, np.uint8)
            index += 1
    finally:
        cap.release()


def video_fps(video: Path) -> float:
    cap = cv2.VideoCapture(str(video))
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()
    return fps if math.isfinite(fps) and fps > 0 else 0.0


def sample_step(native_fps: float, fps: float | None) -> int:
    """Every how many decoded frames one is kept to sample at ``fps`` (None or >= native: every frame)."""
    if fps is None or native_fps <= 0 or fps >= native_fps:
        return 1
    if fps <= 0:
        raise UsageError(f"--fps must be positive, got {fps}")
    return max(1, round(native_fps / fps))


# ------------------------------------------------------------------------------------------------- assess
def assess_dataset(
    gt: Path,
    *,
    images: Path | None = None,
    video: Path | None = None,
    model: str | Path = DEFAULT_MODEL,
    score: float = DEFAULT_SCORE,
    operating_score: float = DEFAULT_OPERATING_SCORE,
    classes: Sequence[str] | None = None,
    class_map: ClassMap | str | None = None,
    fps: float | None = None,
    rules: Path | None = None,
    batch_size: int = 8,
    threads: int = 2,
    progress: Progress | None = None,
    input_size: str | None = None,
    merge: bool | None = None,
    target_precision: float | None = None,
) -> Assessment:
    """Detect over a labelled image folder (``images``) or ``video`` and score against ``gt``.

    ``score`` is the detector threshold (keep it low for AP); P/R/FP use ``operating_score``. With ``rules``
    (a rule file), frames are replayed in order through the threat rule engine with the detections at the
    operating score, and frames raising events are counted against frames holding scored gt objects.
    ``input_size`` (``416``, ``640x352`` or ``aspect:640``; see :mod:`vigil.vision.input_size`) runs the model
    at that size, on a variable-size copy of its graph; ``merge`` (default: on when a ``class_map`` is given)
    makes NMS suppress each class-map group together, as the detect stage's ``merge_classes`` does.
    ``target_precision`` adds the score threshold reaching it with the best recall, over all frames and per
    ``sequence`` (camera) of the ground truth.
    Raises :class:`UsageError` when neither or both of ``images``/``video`` are given, ``NotFoundError`` for
    missing files, ``SpecError`` for a bad ``gt.json``, rule file or input size.
    """
    if (images is None) == (video is None):
        raise UsageError("give exactly one of --images DIR or --video FILE", "and --gt with its gt.json")
    if not 0.0 <= score <= 1.0 or not 0.0 <= operating_score <= 1.0:
        raise UsageError(f"scores must be in 0..1, got --score {score} --operating-score {operating_score}")
    if operating_score < score:
        log.warning("operating score %s is below the detector score %s", operating_score, score)
    cmap = ClassMap.parse(class_map) if isinstance(class_map, str) else class_map
    records = load_truth(Path(gt))
    if target_precision is not None and not 0.0 < target_precision <= 1.0:
        raise UsageError(f"--target-precision must be in (0, 1], got {target_precision}")
    sizes = parse_input_size(input_size)
    model_path = resolve_model(model)
    groups = cmap.groups() if cmap is not None and merge is not False else []
    config = DetectorConfig(score_threshold=score, batch_size=batch_size, threads=threads, merge_classes=groups)
    detector = load_detector(variable_size_copy(model_path) if sizes else model_path, config=config)
    by_name = {r.image: r for r in records}
    frames, kept, clock, name = _frame_source(records, images, video, fps)
    start = time.perf_counter()
    predictions = _detect_all(detector, frames, batch_size, len(kept), progress, sizes)
    seconds = time.perf_counter() - start
    missing = [r.image for r in kept if r.image not in predictions]
    if missing:
        raise UsageError(f"{len(missing)} labelled frame(s) were not found in the video, e.g. {missing[0]}",
                         "check that the gt.json belongs to this video")
    truth = {r.image: TruthArrays.from_record(r) for r in kept}
    report = evaluate(predictions, truth, classes=list(classes) if classes else None,
                      operating_score=operating_score, class_map=cmap)
    stats = None
    if rules is not None:
        ruleset = _read_rules(rules)
        scored = {c.class_id for c in report.classes}
        stats = rule_stats(ruleset, [(by_name[r.image], predictions[r.image]) for r in kept], scored,
                           operating_score, cmap or ClassMap.identity(), clock)
    thresholds = []
    if target_precision is not None:
        scopes: dict[str, list[str]] = {}
        for r in kept:
            if r.sequence:
                scopes.setdefault(r.sequence, []).append(r.image)
        thresholds = suggest_thresholds(predictions, truth, target_precision, scopes=scopes if len(scopes) > 1
                                        else None, classes=[c.class_id for c in report.classes], class_map=cmap)
    merged = [[COCO80_NAMES[c] for c in g] for g in groups]
    return Assessment(name, report, model_path, score, len(kept), seconds, stats, input_size=input_size,
                      merge_classes=merged, target_precision=target_precision, thresholds=thresholds)


def parse_input_size(text: str | None) -> InputSizeSettings | None:
    """``--input-size``: ``416``, ``640x352`` (width x height) or ``aspect:640``; None when not given."""
    if text is None:
        return None
    value: Any = text.strip().lower()
    if value.startswith("aspect:"):
        value = {"aspect": _int(value[7:], text)}
    elif "x" in value:
        value = [_int(v, text) for v in value.split("x", 1)]
    else:
        value = _int(value, text)
    return InputSizeSettings.parse(value, "--input-size")


def _int(text: str, whole: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--input-size {whole!r} is not 416, 640x352 or aspect:640") from None


def variable_size_copy(model: Path) -> Path:
    """``model`` with its input height/width made variable (as ``vigil model add`` commits it); the cached
    copy is made once. ``ModelError`` when the onnx package is missing."""
    return any_input_size(model, cache_dir())[0]


def _frame_source(records: list[ImageTruth], images: Path | None, video: Path | None, fps: float | None
                  ) -> tuple[Iterator[tuple[str, BGR]], list[ImageTruth], float, str]:
    """(frames to detect as (name, pixels), the records they label, frames per second of the clock the rules
    replay on, the data set's name) for an image folder or a video sampled at ``fps``."""
    if video is not None:
        native = video_fps(video)
        step = sample_step(native, fps)
        wanted = {int(r.frame_index) for r in records if r.frame_index is not None and r.frame_index % step == 0}
        frames = ((frame_name(i), img) for i, img in video_frames(video, step) if i in wanted)
        return frames, [r for r in records if r.frame_index in wanted], native or 1.0, Path(video).stem
    assert images is not None
    name = Path(images).name
    if name == "images":
        name = Path(images).resolve().parent.name
    return image_frames(Path(images), records), list(records), 1.0, name


def evaluate_dataset(gt: Path, **kwargs: Any) -> EvalReport:
    """:func:`assess_dataset`'s accuracy report alone (same arguments)."""
    return assess_dataset(gt, **kwargs).report


def _detect_all(detector: Detector, frames: Iterator[tuple[str, BGR]], batch: int, total: int,
                progress: Progress | None, sizes: InputSizeSettings | None = None) -> dict[str, Detections]:
    out: dict[str, Detections] = {}
    names: list[str] = []
    imgs: list[BGR] = []
    sized: dict[tuple[int, int], Detector] = {}

    def flush() -> None:
        by_size: dict[tuple[int, int], list[int]] = {}
        for k, img in enumerate(imgs):
            size = sizes.for_frame("", (img.shape[1], img.shape[0]), detector.input_size) if sizes else None
            by_size.setdefault(size or detector.input_size, []).append(k)
        for size, ks in by_size.items():
            if size not in sized:
                sized[size] = detector.resized(size)
            for k, d in zip(ks, sized[size].detect([imgs[k] for k in ks]), strict=True):
                out[names[k]] = d
        names.clear()
        imgs.clear()
        if progress:
            progress(len(out), total)

    for n, img in frames:
        names.append(n)
        imgs.append(img)
        if len(imgs) >= batch:
            flush()
    if imgs:
        flush()
    return out


def _read_rules(path: Path) -> RuleSet:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotFoundError(f"cannot read rule file {path}: {exc}", "check the --rules path") from exc
    return parse_ruleset(text, str(path))


def rule_stats(ruleset: RuleSet, frames: Sequence[tuple[ImageTruth, Detections]], scored: set[int],
               operating_score: float, cmap: ClassMap, fps: float) -> RuleStats:
    """Replay ``frames`` in order through the rule engine as one camera (``ts`` = position / ``fps`` s).

    Detections below ``operating_score`` are dropped first (the detect stage's threshold); the class map is
    not applied (rules see what the detector reports). A frame "has gt" when it holds a regular (not
    ignored) box of a scored class.
    """
    del cmap  # rules name the detector's classes; the map only renames for scoring
    state = ThreatState()
    version = ruleset.fingerprint()
    with_gt = with_events = hits = events = 0
    for i, (truth, det) in enumerate(frames):
        keep = np.asarray(det.score) >= operating_score
        dets = Detections(det.xyxy[keep], det.class_id[keep], det.score[keep])
        ts = int((truth.frame_index if truth.frame_index is not None else i) / fps)
        facts = FrameFacts(None, "eval", ts, truth.width, truth.height, dets, truth.image)
        new, state = evaluate_rules(ruleset, facts, state, rules_version=version)
        has_gt = any(b.class_id in scored and not b.ignore for b in truth.boxes)
        with_gt += has_gt
        with_events += bool(new)
        hits += has_gt and bool(new)
        events += len(new)
    return RuleStats(len(frames), with_gt, with_events, hits, with_events - hits, with_gt - hits, events)


def write_outputs(assessment: Assessment, out_dir: Path) -> dict[str, Path]:
    """Write ``report.json`` and ``pr_curve.png`` into ``out_dir`` (created); returns and records the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "report.json"
    report.write_text(json.dumps(assessment.to_dict(), indent=1) + "\n", encoding="utf-8")
    png = plot_pr_curves(assessment.report, out_dir / "pr_curve.png",
                         title=f"{assessment.name}: PR at IoU 0.5, {assessment.n_frames} frames, "
                               f"mAP50={assessment.report.map50:.3f}")
    assessment.files = {"json": report, "png": png}
    return assessment.files


__all__ = [
    "Assessment", "RuleStats", "assess_dataset", "evaluate_dataset", "load_truth", "resolve_model",
    "rule_stats", "video_frames", "write_outputs",
]
