"""``vigil demo``: the 2017 design end to end on its own sample images, with Vigil's stages.

Creates a workspace, fetches the model and the sample set (catalogue + ``VIGIL_MIRROR``), commits images,
model and rule.json, creates the four pipelines, runs them, and gathers a summary a person can read.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from vigil.app import App, cache_dir, render_evidence
from vigil.errors import UsageError
from vigil.execution import stage_image
from vigil.pipeline.jobs import JobInfo, ProgressFn
from vigil.pipeline.spec import load_specs
from vigil.store.workspace import CONFIG_DIR
from vigil.vision.samples import fetch_samples

MODEL = "yolox-nano"


def camera_specs_path() -> Path:
    """The bundled camera pipeline specs (validate, detect, threat, report)."""
    return Path(str(resources.files("vigil") / "data" / "camera-pipelines.yaml"))


def camera_specs_in_images(dest: Path, image_prefix: str = "localhost/vigil-") -> Path:
    """Write the bundled camera specs to ``dest`` with every stage in its image (:func:`stage_image`, e.g.
    ``localhost/vigil-detect``: what ``make images`` builds), for the container executor."""
    text = camera_specs_path().read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^(  stage: ([a-z]+))$",
                          lambda m: f"{m[1]}\n  image: {stage_image(m[2], image_prefix)}", text)
    if count != len(load_specs(camera_specs_path())):
        raise RuntimeError("the bundled camera specs changed layout: update camera_specs_in_images")
    dest.write_text(text, encoding="utf-8")
    return dest


@dataclass
class DemoSummary:
    workspace: Path
    jobs: list[JobInfo]
    valid: list[str] = field(default_factory=list)
    invalid: dict[str, list[str]] = field(default_factory=dict)  # file -> reasons
    detections: dict[str, list[str]] = field(default_factory=dict)  # frame -> "label score" list
    threats_per_camera: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    report_files: list[Path] = field(default_factory=list)
    evidence_files: list[Path] = field(default_factory=list)
    alert_files: list[Path] = field(default_factory=list)  # the alerts, as .eml files (the demo's channel)
    token: str = ""  # an operator token of every tenant, for the dashboard (`vigil serve`): shown once


ALERTS_FOLDER = "alerts"


def prepare_workspace(folder: Path, fresh: bool) -> App:
    """A new workspace whose alerts go to ``.eml`` files in ``<folder>/alerts`` (no mail server needed)."""
    from vigil.domain.alerting import AlertsConfig, FileChannel
    from vigil.store.workspace import WorkspaceConfig

    if (folder / CONFIG_DIR).exists():
        if not fresh:
            raise UsageError(f"{folder} already holds a workspace", "pass --fresh to recreate it, or pick a folder")
        shutil.rmtree(folder)
    alerts = AlertsConfig(channels={"demo-mail": FileChannel(type="file", path=ALERTS_FOLDER)})
    return App.init(folder, WorkspaceConfig(alerts=alerts))


def run_demo(folder: Path, *, fresh: bool = True, progress: ProgressFn | None = None,
             in_images: bool = False) -> DemoSummary:
    """``in_images``: every stage runs in its container image (``make images``), not in this process."""
    app = prepare_workspace(folder, fresh)
    store = app.store
    images, rules = fetch_samples(cache_dir() / "samples")
    app.model_add(MODEL)
    for repo in ("images", "rules"):
        store.create_repo(repo, exist_ok=True)
    with store.begin_commit("images", description="the 2017 sample stills") as c:
        for path in images:
            c.put_file("/" + path.name, path)
    with store.begin_commit("rules", description="the 2017 rule.json: person, car, motorcycle, truck") as c:
        c.put_file("/rule.json", rules)
    if in_images:
        app.create_pipelines(camera_specs_in_images(app.workspace.root / "camera-pipelines-in-images.yaml"))
    else:
        app.create_pipelines(camera_specs_path())
    try:
        jobs = app.run(progress=progress)
    finally:
        app.close_workers()
    summary = DemoSummary(app.workspace.root, jobs)
    collect(app, summary)
    summary.token = app.create_token(None, "operator", name="demo dashboard")[0]
    return summary


def write_evidence(app: App, threat: dict[str, Any], folder: Path) -> Path:
    """The frame behind a threat record with the objects of its events boxed, as ``folder/<camera>/<ts>.jpg``.

    Boxes are drawn here, where a person looks at them, from the records: the pipeline itself stores no
    annotated copy of each frame.
    """
    detect: dict[str, Any] = json.loads(app.store.read_bytes("detect", None, threat["source"]))
    path = detect["source"]["path"]
    objects = {json.dumps(o, sort_keys=True): o for e in threat["events"] for o in e["objects"]}
    dest: Path = folder / threat["camera"] / f"{threat['ts']}.jpg"
    dest.parent.mkdir(parents=True, exist_ok=True)
    frame = detect["source"]["sha256"]
    dest.write_bytes(render_evidence(frame, lambda: app.store.read_bytes("validate", None, path),
                                     list(objects.values())))
    return dest


def collect(app: App, summary: DemoSummary) -> None:
    """Read the pipeline outputs back into the summary, and export the report files to ``<ws>/report``."""
    store = app.store
    for f in store.list_files("validate"):
        if f.path.startswith("/valid/"):
            summary.valid.append(f.path)
        elif f.path.endswith(".reasons.json"):
            doc = json.loads(store.read_bytes("validate", None, f.path))
            summary.invalid[doc["path"]] = [f"{r['code']}: {r['message']}" for r in doc["reasons"]]
    for f in store.list_files("detect"):
        if f.path.endswith(".json"):
            doc = json.loads(store.read_bytes("detect", None, f.path))
            summary.detections[f.path] = [f"{o['label']} {o['score']:.2f}" for o in doc["objects"]]
    for f in store.list_files("threat"):
        doc = json.loads(store.read_bytes("threat", None, f.path))
        summary.threats_per_camera[doc["camera"]] = summary.threats_per_camera.get(doc["camera"], 0) + len(
            doc["events"])
        summary.events.extend(doc["events"])
        if doc["events"]:
            summary.evidence_files.append(write_evidence(app, doc, summary.workspace / "evidence"))
    summary.alert_files = sorted((summary.workspace / ALERTS_FOLDER).glob("*/*.eml"))
    out = summary.workspace / "report"
    out.mkdir(exist_ok=True)
    for f in store.list_files("report"):
        dest = out / f.path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)  # the report may lay its files out in folders
        dest.write_bytes(store.read_bytes("report", None, f.path))
        summary.report_files.append(dest)
