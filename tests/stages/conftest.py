"""Camera-pipeline fixtures: a tmp workspace with the model, the seed stills and rule.json committed.

The real model and seed images come from ``../shared`` through ``VIGIL_MIRROR`` (as CI does); tests skip with a
reason where that folder is absent, and fail in CI (CI=true), where it must be present.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.console import VIGIL
from tests.pipeline.builders import make_app
from tests.shared_data import unavailable
from vigil.app import App
from vigil.demo import camera_specs_path
from vigil.pipeline.jobs import JobInfo
from vigil.store.models import CommitInfo

SEED_VALID = (  # the seven well-named stills (blah.jpg is the eighth, rejected by name)
    "dev1_1511891098.jpg", "dev1_1511891155.jpg", "dev1_1511891255.jpg", "dev2_1511891326.jpg",
    "dev3_1511891385.jpg", "dev4_1511891463.jpg", "dev4_1511891512.jpg",
)


@pytest.fixture(scope="session")
def asset_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One download cache for the session: the mirror copies each model and sample once."""
    return tmp_path_factory.mktemp("vigil-cache")


@pytest.fixture
def vigil_env(monkeypatch: pytest.MonkeyPatch, asset_cache: Path, models_dir: Path, seed_dir: Path) -> dict[str, str]:
    """VIGIL_MIRROR at the shared models and seed folders, VIGIL_CACHE in tmp; returned for subprocesses."""
    monkeypatch.setenv("VIGIL_MIRROR", f"{models_dir}:{seed_dir}")
    monkeypatch.setenv("VIGIL_CACHE", str(asset_cache))
    monkeypatch.delenv("VIGIL_WORKSPACE", raising=False)
    return {k: v for k, v in os.environ.items()}


def camera_spec(dest: Path, stages: tuple[str, ...] | None = None) -> Path:
    """The bundled camera-pipelines.yaml restricted to ``stages`` (default: every stage that exists)."""
    docs = camera_specs_path().read_text().split("\n---\n")
    names = [d.split("pipeline: {name: ", 1)[1].split("}", 1)[0] for d in docs]
    wanted = stages or tuple(names)
    dest.write_text("\n---\n".join(d for d, n in zip(docs, names, strict=True) if n in wanted))
    return dest


@dataclass
class Camera:
    """A workspace with the camera pipelines, and the reads tests make of it."""

    app: App
    spec: Path
    jobs: dict[str, JobInfo] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.app.workspace.root

    def put(self, repo: str, files: Mapping[str, Path | bytes], *, replace: bool = False) -> CommitInfo:
        """One commit of ``{path: file or bytes}``; ``replace`` deletes what else the repo holds first."""
        store = self.app.store
        store.create_repo(repo, exist_ok=True)
        current = store.list_files(repo) if replace and store.head(repo) else []
        with store.begin_commit(repo, description=f"test: {', '.join(files)}") as c:
            for f in current:
                if f.path.lstrip("/") not in files:
                    c.delete(f.path)
            for name, src in files.items():
                path = "/" + name.lstrip("/")
                if isinstance(src, bytes):
                    c.put_bytes(path, src)
                else:
                    c.put_file(path, src)
        assert c.result is not None
        return c.result

    def rules(self, name: str, text: str) -> CommitInfo:
        """Replace the rule set with one file."""
        return self.put("rules", {name: text.encode()}, replace=True)

    def run(self) -> dict[str, JobInfo]:
        """Run what is pending; the jobs that ran by pipeline (each must succeed without failed datums)."""
        jobs = {j.pipeline: j for j in self.app.run()}
        for j in jobs.values():
            assert j.state == "SUCCESS" and j.n_failed == 0, j
        self.jobs = jobs
        return jobs

    def files(self, repo: str) -> list[str]:
        return [f.path for f in self.app.store.list_files(repo)]

    def doc(self, repo: str, path: str) -> Any:
        return json.loads(self.app.store.read_bytes(repo, None, path))

    def docs(self, repo: str) -> dict[str, Any]:
        """Every JSON file of ``repo`` by path."""
        return {p: self.doc(repo, p) for p in self.files(repo) if p.endswith(".json")}

    def labels(self) -> dict[str, list[str]]:
        """Detected labels per frame (``/<camera>/<ts>.json``), by score descending."""
        return {p: [o["label"] for o in d["objects"]] for p, d in self.docs("detect").items()}

    def events(self) -> dict[str, list[dict[str, Any]]]:
        """Threat events per frame."""
        return {p: d["events"] for p, d in self.docs("threat").items()}

    def cli(self, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        """Run the real ``vigil`` console script on this workspace; AssertionError unless it exits 0."""
        if VIGIL is None:
            unavailable("the `vigil` console script is not installed")
        proc = subprocess.run([VIGIL, "-w", str(self.root), *args], env=dict(env), capture_output=True, text=True)
        assert proc.returncode == 0, f"vigil {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
        return proc


def new_camera(root: Path, spec_stages: tuple[str, ...] | None = None) -> Camera:
    app = make_app(root / "ws")
    return Camera(app, camera_spec(root / "camera.yaml", spec_stages))


@pytest.fixture
def camera(tmp_path: Path, vigil_env: dict[str, str], seed_dir: Path) -> Iterator[Camera]:
    """A workspace with YOLOX-nano, the eight seed stills and the 2017 rule.json committed, pipelines created,
    nothing run yet."""
    cam = new_camera(tmp_path)
    cam.app.model_add("yolox-nano")
    cam.put("images", {p.name: p for p in sorted(seed_dir.glob("*.jpg"))})
    cam.put("rules", {"rule.json": seed_dir / "pipeline" / "rule.json"})
    cam.app.create_pipelines(cam.spec)
    yield cam
    cam.app.executor.close()


@pytest.fixture
def seeded(camera: Camera) -> Camera:
    """``camera`` after one full run."""
    camera.run()
    return camera
