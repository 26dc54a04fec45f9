"""The seed's cycle, build -> registry -> deploy: `make push` to a real registry (Debian's docker-registry on
127.0.0.1), the local image removed, pulled back from the registry, and a stage run from the pulled image."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import image, podman, put_images
from tests.pipeline.builders import make_pipelines, one_job
from tests.shared_data import REPO, unavailable
from vigil.app import App

pytestmark = pytest.mark.usefixtures("vigil_images")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A docker-registry on 127.0.0.1 (plain HTTP), storing in tmp; its host:port."""
    binary = shutil.which("docker-registry")
    if binary is None:
        unavailable("docker-registry is not installed (deploy/containers/install.sh installs it)")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {tmp_path}/data}}}}"
                      f"\nhttp: {{addr: 127.0.0.1:{port}}}\n")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the registry did not start"
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_push_remove_pull_and_run_a_stage_from_the_registry(registry: str, app: App) -> None:
    local = image("threat")
    image_id = podman("image", "inspect", "--format", "{{.Id}}", local).stdout.strip()
    done = subprocess.run(["make", "-s", "push", f"REGISTRY={registry}", "TLS_VERIFY=false", "ROLES=threat"],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    pulled = f"{registry}/vigil-threat:latest"
    try:
        podman("rmi", "-f", local, image_id)  # gone from this machine: only the registry has it now
        assert podman("image", "exists", local, check=False).returncode == 1
        podman("pull", "--tls-verify=false", pulled)
        put_images(app, {"/1.txt": b"from the registry"})
        make_pipelines(app, """
            pipeline: {name: pulled}
            input: {pfs: {repo: images, glob: "/*"}}
            transform: {image: localhost/vigil-threat, cmd: [sh, -c, "cp $images /pfs/out/copy"]}
        """)
        app.set_containers([f"localhost/vigil-threat={pulled}"])
        assert one_job(app, "pulled").state == "SUCCESS"
        assert app.store.read_bytes("pulled", None, "/copy") == b"from the registry"
        assert {w.image for w in app.container_executor.workers()} == {pulled}
    finally:
        app.close()
        if podman("image", "exists", local, check=False).returncode != 0:  # the other tests use the local name
            podman("tag", pulled, local)
        podman("rmi", pulled, check=False)
