"""A rotted frame in the camera pipeline (issue 10 item 3): the datum that reads it fails with the damage named,
nothing is detected on its bytes, the other frames flow; `vigil get` refuses it (exit 21) without leaving an
output file; `vigil fsck` names the file, `--repair` and a re-put of the original heal it, and a retry then
processes the frame."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.console import VIGIL
from tests.shared_data import unavailable
from tests.stages.conftest import Camera
from vigil.pipeline import datum_records
from vigil.pipeline.jobs import list_jobs

FRAME = "dev1_1511891098.jpg"


def vigil(camera: Camera, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if VIGIL is None:
        unavailable("the `vigil` console script is not installed")
    return subprocess.run([VIGIL, "-w", str(camera.root), *args], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("damage", ["bit-flip", "truncate"])
def test_rotted_frame_fails_its_datum_only_and_heals(camera: Camera, seed_dir: Path, vigil_env: dict[str, str],
                                                      tmp_path: Path, damage: str) -> None:
    store = camera.app.store
    info = store.stat("images", None, f"/{FRAME}")
    commit = store.head("images")
    assert commit is not None
    blob = store.objects.local_path(info.oid)
    assert blob is not None, "the camera fixture uses a local object store"
    good = blob.read_bytes()
    blob.chmod(0o644)
    blob.write_bytes(good[:500] + bytes([good[500] ^ 0x10]) + good[501:] if damage == "bit-flip" else good[:2000])

    jobs = {j.pipeline: j for j in camera.app.run()}
    validate = jobs["validate"]
    assert validate.n_failed == 1 and validate.n_total == 8, validate
    (failed,) = [d for d in datum_records.for_job(store, validate.id) if d["state"] == "FAILED"]
    assert f"images:/{FRAME} at commit {commit.id} is damaged" in failed["error"], failed
    assert failed["attempts"] == 1, "damage does not heal by retrying"
    detected = camera.files("detect")
    assert "/dev1/1511891098.json" not in detected, "nothing is computed on bad bytes"
    assert "/dev1/1511891155.json" in detected and len(detected) == 6, detected

    out = tmp_path / "out.jpg"
    get = vigil(camera, "get", f"images:/{FRAME}", "-o", str(out), env=vigil_env)
    assert get.returncode == 21, get.stderr
    assert f"images:/{FRAME} at commit {commit.id}" in get.stderr and "vigil fsck --repair" in get.stderr
    assert list(tmp_path.glob("out.jpg*")) == [], "no complete-looking (or partial) output file is left"

    fsck = vigil(camera, "fsck", env=vigil_env)
    assert fsck.returncode == 7 and f"used by images@master:/{FRAME} (from commit {commit.id}" in fsck.stdout
    assert vigil(camera, "fsck", "--repair", env=vigil_env).returncode == 7  # removed; the file still needs its bytes
    put = vigil(camera, "put", "images", str(seed_dir / FRAME), env=vigil_env)
    assert put.returncode == 0, put.stderr
    assert vigil(camera, "fsck", env=vigil_env).returncode == 0
    assert store.head("images") == commit, "the same bytes again: no new commit, the blob is healed"

    assert datum_records.retry(store, "validate") == 1
    camera.run()
    assert "/dev1/1511891098.json" in camera.files("detect")
    assert list_jobs(store, "validate", 1)[0].n_failed == 0
