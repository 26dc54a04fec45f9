"""The images `make images` builds: what each role carries (and does not), who it runs as, its labels."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.containers import ROLES, STAGES, image, podman
from tests.shared_data import REPO
from vigil import __version__

pytestmark = pytest.mark.usefixtures("vigil_images")

PROBE = """
import importlib.util, json, os, shutil
mods = ["onnxruntime", "cv2", "matplotlib", "boto3", "vigil.stages.%s"]
print(json.dumps({"uid": os.getuid(), "modules": {m: importlib.util.find_spec(m) is not None for m in mods},
                  "tools": {t: shutil.which(t) for t in ("gcc", "cc", "g++", "make", "pip", "pip3", "apt-get")}}))
"""
CARRIES = {  # the heavy libraries each stage image must (True) or must not (False) carry
    "validate": {"onnxruntime": False, "cv2": True, "matplotlib": False},
    "detect": {"onnxruntime": True, "cv2": True, "matplotlib": False},
    "threat": {"onnxruntime": False, "cv2": False, "matplotlib": False},
    "report": {"onnxruntime": False, "cv2": False, "matplotlib": True},
}


@pytest.mark.parametrize("role", STAGES)
def test_stage_image_carries_only_what_its_role_needs(role: str) -> None:
    found = json.loads(podman("run", "--rm", image(role), "python3", "-c", PROBE % role).stdout)
    assert found["uid"] == 10001
    assert found["modules"][f"vigil.stages.{role}"] and found["modules"]["boto3"]
    assert {m: found["modules"][m] for m in CARRIES[role]} == CARRIES[role]
    assert {t: p for t, p in found["tools"].items() if p and t != "apt-get"} == {}, "no compiler, no pip"


def test_stage_imports_do_not_load_onnxruntime_or_opencv() -> None:
    """In the threat and report images those libraries are absent: importing the stages must not need them."""
    for role in ("threat", "report"):
        podman("run", "--rm", image(role), "python3", "-c", f"import vigil.stages.{role}, vigil.cli.main")


@pytest.mark.parametrize("role", ROLES)
def test_images_are_labelled_with_version_and_revision(role: str) -> None:
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", image(role)).stdout)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=False).stdout.strip()
    assert labels["org.opencontainers.image.title"] == f"vigil-{role}"
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.revision"].removesuffix("-dirty") == head


def test_server_image_runs_vigil_serve_with_a_healthcheck() -> None:
    config = json.loads(podman("image", "inspect", "--format", "{{json .Config}}", image("server")).stdout)
    assert config["Cmd"] == ["vigil", "serve", "--host", "0.0.0.0", "--port", "8080"]
    (inspected,) = json.loads(podman("image", "inspect", image("server")).stdout)
    assert "/healthz" in " ".join(inspected["Healthcheck"]["Test"])
    assert config["User"] == "10001:10001"
    podman("run", "--rm", image("server"), "vigil", "--help")
