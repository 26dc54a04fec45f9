"""The container executor with real podman and the images `make images` builds: the camera pipeline gives the
same blobs in its images as in-process, commands get Pachyderm's /pfs contract inside an image, workers are
long-lived, and a dead worker fails its datums with its reason."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import image, podman, put_images
from tests.pipeline.builders import make_pipelines, one_job
from tests.stages.conftest import Camera, new_camera
from tests.store.test_backends import s3_endpoint
from vigil.app import App
from vigil.demo import camera_specs_in_images
from vigil.errors import PipelineError
from vigil.execution import stage_image
from vigil.pipeline.spec import load_specs
from vigil.store.workspace import S3Objects, Workspace, WorkspaceConfig

pytestmark = pytest.mark.usefixtures("vigil_images")
__all__ = ["s3_endpoint"]  # a fixture, used by name


def snapshot(app: App, repos: tuple[str, ...]) -> dict[str, dict[str, str]]:
    return {repo: {f.path: f.oid for f in app.store.list_files(repo)} for repo in repos}


@pytest.fixture
def camera(tmp_path: Path, vigil_env: dict[str, str], seed_dir: Path) -> Iterator[Camera]:
    cam = new_camera(tmp_path)
    cam.app.model_add("yolox-nano")
    cam.put("images", {p.name: p for p in sorted(seed_dir.glob("*.jpg"))})
    cam.put("rules", {"rule.json": seed_dir / "pipeline" / "rule.json"})
    yield cam
    cam.app.close()


def test_camera_pipeline_in_images_gives_the_in_process_blobs(camera: Camera, tmp_path: Path) -> None:
    """Same workspace, same input commits: in-process first, then every stage in its image (reprocessed under
    a new salt, so every datum really runs again), and every output path has the same blob id."""
    camera.app.create_pipelines(camera.spec)
    stages = tuple(s.name for s in load_specs(camera.spec))
    camera.run()
    in_process = snapshot(camera.app, stages)
    assert in_process["detect"] and in_process["report"] and any(
        json.loads(camera.app.store.read_bytes("threat", None, p))["events"] for p in in_process["threat"])

    camera.app.create_pipelines(camera_specs_in_images(tmp_path / "in-images.yaml"), update=True, reprocess=True)
    jobs = camera.run()
    assert set(jobs) == set(stages)
    assert all(j.n_skipped == 0 and j.n_processed == j.n_total > 0 for j in jobs.values()), jobs
    workers = camera.app.container_executor.workers()
    assert {w.image for w in workers} == {stage_image(s) for s in stages}, workers
    assert snapshot(camera.app, stages) == in_process


def test_a_command_in_an_image_gets_the_pfs_contract(app: App) -> None:
    """The seed's specs name images that cannot be pulled here: the image map runs them as a local image."""
    put_images(app, {"/a/1.txt": b"one", "/b/2.txt": b"two"})
    make_pipelines(app, """
        pipeline: {name: copy}
        input: {pfs: {repo: images, glob: "/*"}}
        transform:
          image: dwhitena/mgmt-validate
          cmd: [/bin/sh]
          stdin:
            - set -e
            - for f in $images/*; do test ! -w "$f"; cat "$f" > /pfs/out/$(basename "$f").copy; done
            - echo "$PACH_JOB_ID $images_COMMIT $images $(id -u) $GREETING" > /pfs/out/$(basename $images).env
            - touch /pfs/images/x 2>/dev/null && exit 9 || true
          env: {GREETING: hi}
    """)
    app.set_containers([f"dwhitena/mgmt-validate={image('threat')}"])
    job = one_job(app, "copy")
    assert job.state == "SUCCESS", job
    files = {f.path: app.store.read_bytes("copy", None, f.path) for f in app.store.list_files("copy")}
    commit = app.store.head("images").id
    uid = (app.workspace.config_dir / "objects").stat().st_uid
    assert files == {"/1.txt.copy": b"one", "/2.txt.copy": b"two",
                     "/a.env": f"{job.id} {commit} /pfs/images/a {uid} hi\n".encode(),
                     "/b.env": f"{job.id} {commit} /pfs/images/b {uid} hi\n".encode()}
    (worker,) = app.container_executor.workers()  # one long-lived worker ran both datums
    assert worker.image == image("threat")
    app.close()


def test_a_dead_worker_fails_its_datums_and_the_next_run_starts_a_new_one(app: App) -> None:
    put_images(app, {"/1.txt": b"x"})
    spec = """
        pipeline: {name: fragile}
        input: {pfs: {repo: images, glob: "/*"}}
        transform:
          image: %s
          cmd: [/bin/sh]
          stdin: ["%s"]
        datum_tries: 1
    """
    make_pipelines(app, spec % (image("threat"), "kill -9 $PPID"))
    job = one_job(app, "fragile")
    assert job.state == "FAILURE" and "exited with code" in job.reason, job
    assert app.container_executor.workers() == []
    make_pipelines(app, spec % (image("threat"), "echo ok > /pfs/out/ok"), update=True, reprocess=True)
    job = one_job(app, "fragile")
    assert (job.state, job.n_processed) == ("SUCCESS", 1), job
    assert len(app.container_executor.workers()) == 1
    app.close()


def test_an_image_that_is_not_there_fails_the_job_with_a_hint(app: App) -> None:
    put_images(app, {"/1.txt": b"x"})
    make_pipelines(app, """
        pipeline: {name: ghost}
        input: {pfs: {repo: images, glob: "/*"}}
        transform: {image: dwhitena/mgmt-object-detect, cmd: [/bin/true]}
    """)
    with pytest.raises(PipelineError, match="cannot start a worker from image dwhitena/mgmt-object-detect") as err:
        app.run("ghost")
    assert "--image-map" in (err.value.hint or "")
    app.set_containers([], enabled=False)  # containers off: the command runs in-process
    assert one_job(app, "ghost").state == "SUCCESS"
    assert podman("ps", "-a", "--filter", "label=vigil.worker.owner", "--format", "{{.Image}}").stdout.count(
        "mgmt-object-detect") == 0
    app.close()


def test_a_worker_writes_to_an_s3_object_store(s3_endpoint: str, tmp_path: Path) -> None:
    """With S3 objects the worker reaches the bucket itself (credentials passed by name), as in a cluster."""
    import boto3

    bucket = f"vigil-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    config = WorkspaceConfig(objects=S3Objects(kind="s3", bucket=bucket, endpoint_url=s3_endpoint,
                                               region="us-east-1"))
    app = App(Workspace.init(tmp_path / "ws", config))
    try:
        put_images(app, {"/1.txt": b"to s3"})
        make_pipelines(app, f"""
            pipeline: {{name: s3copy}}
            input: {{pfs: {{repo: images, glob: "/*"}}}}
            transform: {{image: {image('threat')}, cmd: [sh, -c, "tr a-z A-Z < $images > /pfs/out/upper"]}}
        """)
        assert one_job(app, "s3copy").state == "SUCCESS"
        assert app.store.read_bytes("s3copy", None, "/upper") == b"TO S3"
    finally:
        app.close()
