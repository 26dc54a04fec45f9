"""Vigil's container images for the tests that run them: built once per test session by the project's own
``deploy/containers/build.sh`` (from podman's layer cache: seconds when nothing changed, a minute or two after a
code change), so the images always hold the code under test.

Without podman the tests call ``unavailable`` (a skip locally, a failure under CI=true, where .ci/run installs
it first)."""

from __future__ import annotations

import functools
import shutil
import subprocess

from tests.shared_data import REPO, unavailable
from tests.store.builders import commit
from vigil.app import App

ROLES = ("validate", "detect", "threat", "report", "server")
STAGES = ("validate", "detect", "threat", "report")


def image(role: str) -> str:
    return f"localhost/vigil-{role}:latest"


@functools.cache
def _build() -> str:
    """'' when every image is built, else why not (cached: one build per session)."""
    if shutil.which("podman") is None:
        return "podman is not installed (`make images` installs it)"
    done = subprocess.run([str(REPO / "deploy" / "containers" / "build.sh"), *ROLES], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"deploy/containers/build.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return ""


def require_images() -> None:
    """Build (or find current) every role image; ``unavailable`` without podman."""
    why = _build()
    if why:
        unavailable(why)


def podman(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, check=False, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def put_images(app: App, files: dict[str, bytes]) -> None:
    """One commit of ``files`` to the ``images`` repo (created when missing)."""
    app.store.create_repo("images", exist_ok=True)
    commit(app.store, "images", files)
