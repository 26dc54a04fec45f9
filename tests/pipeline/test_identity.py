"""Code identity (issue 17 item 1): what a pipeline version ran, beyond its spec."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.pipeline.builders import make_app, make_pipelines, one_job
from tests.store.builders import commit
from vigil.pipeline import identity
from vigil.pipeline.spec import PipelineSpec, parse_specs
from vigil.stages.registry import STAGES
from vigil.store.database import transaction


def spec(transform: str) -> PipelineSpec:
    (one,) = parse_specs(f"pipeline: {{name: p}}\ninput: {{pfs: {{repo: images, glob: '/*'}}}}\n"
                         f"transform: {transform}\n")
    return one


def test_every_built_in_stage_lives_where_identity_looks_for_its_source() -> None:
    for name, target in STAGES.items():
        assert target.partition(":")[0] == f"{identity.STAGE_PACKAGE}.{name}"
        assert f"vigil/stages/{name}.py" in identity.module_hashes(f"{identity.STAGE_PACKAGE}.{name}", "vigil")


def test_a_stage_identity_covers_its_sources_spec_and_environment() -> None:
    detect = identity.code_identity(spec("{stage: detect, params: {score: 0.3}}"))
    assert detect.reproducible and detect.doc["code"]["kind"] == "stage"
    src = Path(identity.__file__).parents[1] / "stages" / "detect.py"
    assert detect.doc["code"]["modules"]["vigil/stages/detect.py"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert detect.doc["environment"]["python"] and "numpy" in detect.doc["environment"]["libraries"]
    other = identity.code_identity(spec("{stage: detect, params: {score: 0.4}}"))
    assert other.digest != detect.digest and other.doc["spec"] != detect.doc["spec"]  # params are the spec


@pytest.mark.parametrize(("cmd", "stdin", "hashed", "missing"), [
    ("[python3, edges.py]", "[]", ["edges.py"], []),
    ("[sh]", "['python3 montage.py /pfs/images /pfs/out/m.png']", ["montage.py"], []),
    ("[python3, gone.py]", "[]", [], ["gone.py"]),
    ("[sh, -c, 'cp /pfs/images/* /pfs/out/']", "[]", [], []),
])
def test_a_command_identity_hashes_the_scripts_it_names(tmp_path: Path, cmd: str, stdin: str, hashed: list[str],
                                                        missing: list[str]) -> None:
    for name in ("edges.py", "montage.py"):
        (tmp_path / name).write_text(f"# {name}\n")
    found = identity.code_identity(spec(f"{{cmd: {cmd}, stdin: {stdin}}}"), cwd=tmp_path)
    scripts = found.doc["code"]["scripts"]
    assert sorted(scripts) == hashed
    for name in hashed:
        assert scripts[name] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert found.reproducible == (not missing)
    for name in missing:
        assert f"names {name}, which is not a file here" in found.why_not
    if hashed:  # the script is the code: editing it is a new identity
        (tmp_path / hashed[0]).write_text("# changed\n")
        assert identity.code_identity(spec(f"{{cmd: {cmd}, stdin: {stdin}}}"), cwd=tmp_path).digest != found.digest


def test_an_image_whose_id_cannot_be_read_is_not_claimed_reproducible() -> None:
    found = identity.code_identity(spec("{stage: detect}"), "localhost/vigil-no-such-image:never")
    assert not found.reproducible and "localhost/vigil-no-such-image:never" in found.why_not
    assert found.doc["code"]["image"] == {"ref": "localhost/vigil-no-such-image:never", "id": None}


def test_a_job_of_a_command_records_its_identity_on_the_job_and_the_output_commit(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch
                                                                                  ) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "copy.sh").write_text('cp "$images" /pfs/out/\n')
    app = make_app(tmp_path / "ws")
    app.store.create_repo("images")
    commit(app.store, "images", {"/a.txt": b"a"})
    make_pipelines(app, """
        pipeline: {name: copy}
        input: {pfs: {repo: images, glob: "/*"}}
        transform: {cmd: [sh, copy.sh]}
    """)
    job = one_job(app, "copy")
    assert job.state == "SUCCESS" and job.code_digest
    assert app.store.resolve("copy").id == job.output_commit
    with transaction(app.store.engine) as conn:
        doc = identity.load(conn, job.code_digest)
        on_commit = conn.exec_driver_sql("SELECT code_digest FROM commits WHERE id = ?",
                                         (job.output_commit,)).scalar()
    assert on_commit == job.code_digest
    assert doc is not None and doc["reproducible"]
    assert doc["code"]["scripts"] == {"copy.sh": hashlib.sha256(b'cp "$images" /pfs/out/\n').hexdigest()}
