"""Measurement commands: ``vigil eval`` (detection accuracy on labelled data) and ``vigil bench`` (throughput)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.console import emit_json, err, out
from vigil.cli.manual import examples
from vigil.errors import UsageError

if TYPE_CHECKING:
    from rich.progress import Progress

    from vigil.evaluation.operating import Suggestion
    from vigil.throughput import BenchReport

# Same values as vigil.assess (imported lazily there: it loads OpenCV and onnxruntime).
DEFAULT_MODEL = "yolox-nano"
DEFAULT_SCORE = 0.01  # low, so the PR curve (and AP) reaches high recall
DEFAULT_OPERATING_SCORE = 0.3  # the camera pipeline's detect threshold

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ImagesOpt = Annotated[Path | None, typer.Option("--images", help="Folder of images.")]
VideoOpt = Annotated[Path | None, typer.Option("--video", help="Video file (decoded with OpenCV).")]
ModelOpt = Annotated[str, typer.Option("--model", help="Catalogue name or .onnx file.")]
FpsOpt = Annotated[float | None, typer.Option("--fps", help="Video sampling rate (default: every frame).")]


def register(app: typer.Typer) -> None:
    app.command("eval", epilog=examples("eval"))(eval_command)
    app.command("bench", epilog=examples("bench"))(bench_command)


def _bar(disable: bool) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err.real, transient=True, disable=disable)


def _num(v: float, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def eval_command(
    gt: Annotated[Path, typer.Option("--gt", help="Ground truth: gt.json, boxes per image (format: docs/eval-gt.md).")],
    images: ImagesOpt = None,
    video: VideoOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    score: Annotated[float, typer.Option("--score", help="Detector score threshold (low, for AP).")] = DEFAULT_SCORE,
    operating_score: Annotated[float, typer.Option(
        "--operating-score", help="Score for precision / recall / FP per image.")] = DEFAULT_OPERATING_SCORE,
    classes: Annotated[str | None, typer.Option("--classes", help="Classes to score, e.g. person,car.")] = None,
    class_map: Annotated[str | None, typer.Option("--class-map", help='Rename predictions, e.g. "truck,bus=car".')]
    = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Rule file: count frames raising events.")] = None,
    fps: FpsOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report folder (default ./eval-<name>).")] = None,
    input_size: Annotated[str | None, typer.Option(
        "--input-size", help="Network input: 416, 640x352 (width x height) or aspect:640 (longer side 640, "
        "frame aspect kept); default the model's own.")] = None,
    merge: Annotated[bool | None, typer.Option(
        "--merge/--no-merge", help="NMS suppresses each --class-map group together (default: on with "
        "--class-map), as the detect stage's merge_classes does.")] = None,
    target_precision: Annotated[float | None, typer.Option(
        "--target-precision", help="Suggest the score threshold reaching this precision with the best recall, "
        "for the whole set and per camera (gt `sequence`).")] = None,
    json: JsonOpt = False,
) -> None:
    """Score a detection model on a labelled image folder or video: AP50, AP, P/R, FP per image, PR curve."""
    names = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    with _bar(json) as bar:
        task = bar.add_task("detecting", total=None)
        from vigil.assess import assess_dataset, write_outputs

        assessment = assess_dataset(gt, images=images, video=video, model=model, score=score,
                                    operating_score=operating_score, classes=names, class_map=class_map,
                                    rules=rules, fps=fps, input_size=input_size, merge=merge,
                                    target_precision=target_precision,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
    files = write_outputs(assessment, out_dir or Path(f"eval-{assessment.name}"))
    if json:
        return emit_json({**assessment.to_dict(), "files": {k: str(v) for k, v in files.items()}})
    from rich.table import Table

    report = assessment.report
    size = f", input {input_size}" if input_size else ""
    table = Table("class", "gt", "pred", "AP50", "AP@[.5:.95]", f"P@{operating_score:g}", f"R@{operating_score:g}",
                  "FP/img", title=f"{assessment.name}: {assessment.n_frames} frames, {assessment.model.name}{size}, "
                                  f"score >= {score:g}")
    for c in report.classes:
        table.add_row(c.name, str(c.n_gt), str(c.n_pred), _num(c.ap50), _num(c.ap), _num(c.precision),
                      _num(c.recall), _num(c.fp_per_image, 2))
    if len(report.classes) > 1:
        table.add_row("mean", "", "", _num(report.map50), _num(report.map), "", "", "")
    out.print(table)
    if report.class_map:
        out.print(f"class map: {report.class_map}")
    if assessment.merge_classes:
        out.print(f"merged before NMS: {'; '.join('+'.join(g) for g in assessment.merge_classes)}")
    if assessment.target_precision is not None:
        print_thresholds(assessment.thresholds, assessment.target_precision, score)
    if assessment.rules:
        r = assessment.rules
        out.print(f"rules {rules}: {r.frames_with_events}/{r.n_frames} frames raise events; "
                  f"{r.hits}/{r.frames_with_gt} frames with gt objects do (misses {r.misses}), "
                  f"false alarms {r.false_alarms}")
    out.print(f"report: {files['json']}  PR curve: {files['png']}")


def print_thresholds(thresholds: list[Suggestion], target: float, score: float) -> None:
    """The suggested operating thresholds, and how to apply them."""
    from rich.table import Table

    table = Table("camera / set", "class", "gt", "threshold", "precision", "recall",
                  title=f"score threshold for precision >= {target:g} with the best recall")
    for t in thresholds:
        thr = "unreachable" if t.threshold is None else f"{t.threshold:g}"
        table.add_row(t.scope, t.class_name, str(t.n_gt), thr, _num(t.precision), _num(t.recall))
    out.print(table)
    out.print(f"[dim]apply: the detect stage's score_threshold at or below the lowest threshold, and each camera's "
              f"as min_score of its rules (devices: [<camera glob>]); thresholds below --score {score:g} "
              f"cannot be found.[/]")


def bench_command(
    images: ImagesOpt = None,
    video: VideoOpt = None,
    model: ModelOpt = DEFAULT_MODEL,
    fps: FpsOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Use only the first N images/frames.")] = None,
    rounds: Annotated[int, typer.Option("--rounds", help="Alternating bare/framework/pipeline rounds (medians).")] = 3,
    workers: Annotated[str | None, typer.Option(
        "--workers", help="Worker counts to compare, e.g. 1,2 (default 1,<cpus>); the first is the headline.")]
    = None,
    latency: Annotated[int, typer.Option("--latency-samples", help="Single-frame commits timed.")] = 20,
    annotate: Annotated[bool, typer.Option(
        help="Detect stage also writes a boxed JPEG per frame (off in the bundled pipeline).")] = False,
    json: JsonOpt = False,
) -> None:
    """Throughput of the same work as a pipeline and of the full camera pipeline, and latency, against a bare
    decode + inference loop, in the same run."""
    if (images is None) == (video is None):
        raise UsageError("give exactly one of --images DIR or --video FILE")
    counts = [int(w) for w in workers.split(",")] if workers else None
    if counts is not None and (not counts or min(counts) < 1):
        raise UsageError(f"--workers must list positive counts, got {workers}")
    with tempfile.TemporaryDirectory(prefix="vigil-frames-") as tmp:
        from vigil.throughput import frames_from_video, image_files, run_bench

        files = (image_files(images, limit) if images is not None
                 else frames_from_video(video, Path(tmp), fps, limit))  # type: ignore[arg-type]
        with _bar(json) as bar:
            task = bar.add_task("bench", total=None)
            report = run_bench(files, model=model, rounds=rounds, workers=counts, latency_samples=latency,
                               annotate=annotate, progress=lambda phase, done, total: bar.update(
                                   task, description=phase, completed=done, total=total))
    if json:
        return emit_json(report.to_dict())
    print_bench(report, str(images or video))


def _spread(spread: tuple[float, float]) -> str:
    """The rounds' lowest and highest ratio, printed beside the median."""
    lo, hi = spread
    return f"(rounds {_num(lo)}-{_num(hi)})" if lo == lo else ""  # NaN: no rounds


def print_bench(report: BenchReport, source: str) -> None:
    from rich.table import Table

    table = Table("measure", "value", title=f"vigil bench: {report.n_images} images from {source}, {report.model}, "
                                            f"annotate={'on' if report.annotate else 'off'}")
    n = report.workers[0].workers
    table.add_row("bare decode+detect (images/s)", f"{report.bare_ips:.1f}")
    table.add_row(f"the same work as a Vigil pipeline, {n} worker(s) (images/s)", f"{report.framework_ips:.1f}")
    head = report.workers[0]
    table.add_row("[bold]framework ratio (same work) / bare[/]",
                  f"[bold]{report.framework_ratio:.3f}[/] {_spread(head.framework_ratio_spread)}")
    table.add_row(f"camera pipeline ({', '.join(report.stages)}), {n} worker(s) (images/s)",
                  f"{report.pipeline_ips:.1f}")
    table.add_row("[bold]ratio camera pipeline / bare[/]", f"[bold]{report.ratio:.3f}[/] {_spread(head.ratio_spread)}")
    table.add_row("latency commit -> event p50 (ms)", _num(report.p50_ms, 1))
    table.add_row("latency commit -> event p95 (ms)", _num(report.p95_ms, 1))
    table.add_row("peak RSS (MiB)", f"{report.peak_rss_mib:.0f}")
    hits, misses = report.frame_cache.get("hits", 0), report.frame_cache.get("misses", 0)
    table.add_row("frames decoded once (detect reused validate's)", f"{hits} of {hits + misses}")
    out.print(table)
    stages = Table("workers", "threads/worker", "bare images/s", "framework images/s", "ratio",
                   "camera pipeline images/s", "ratio", *(f"{s} ms/img" for s in report.stages),
                   title=f"by worker count (the three alternate; medians of {report.rounds} rounds, in brackets "
                         "the lowest-highest round; stage ms = job seconds / images)")
    for w in report.workers:
        stages.add_row(str(w.workers), str(w.threads), f"{w.bare_ips:.1f}", f"{w.framework_ips:.1f}",
                       f"{w.framework_ratio:.3f} {_spread(w.framework_ratio_spread)}", f"{w.pipeline_ips:.1f}",
                       f"{w.ratio:.3f} {_spread(w.ratio_spread)}",
                       *(_num(w.stage_ms.get(s, math.nan), 1) for s in report.stages))
    out.print(stages)
    out.print("[dim]framework ratio: the bundled detect stage run as a pipeline over the same images (decode, "
              "inference, records, planning, commit, provenance) against the bare loop: what the framework "
              "costs. The camera pipeline also runs quality checks, threat rules and the report's charts.[/]")
    for note in report.notes:
        out.print(f"[dim]note:[/] {note}")
