"""Pipeline specs: the 2017 seed specs, the spellings Pachyderm accepts, and error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.errors import SpecError
from vigil.pipeline.spec import PipelineSpec, load_specs, parse_specs

SEED = Path(__file__).resolve().parents[3] / "shared" / "data" / "seed" / "pipeline"
SEED_NAMES = ["validate", "object-detect", "threat-detect", "plot"]

needs_seed = pytest.mark.skipif(not SEED.is_dir(), reason=f"seed specs not found at {SEED}")

MINIMAL = {
    "pipeline": {"name": "p"},
    "input": {"pfs": {"repo": "images", "glob": "/*"}},
    "transform": {"cmd": ["x"]},
}


def spec_json(**changes: object) -> str:
    data = json.loads(json.dumps(MINIMAL))
    data.update(changes)
    return json.dumps(data)


@needs_seed
@pytest.mark.parametrize("name", SEED_NAMES)
def test_seed_specs_parse(name: str) -> None:
    (spec,) = load_specs(SEED / f"{name}.json")
    assert spec.name == name
    assert spec.transform.kind == "cmd" and spec.transform.image and spec.transform.stdin
    assert spec.parallelism_spec.constant == 1  # written as the string "1"
    assert spec.datum_tries == 3 and spec.reprocess_spec == "until_success" and spec.output_branch == "master"


@needs_seed
def test_seed_object_detect_crosses_atoms() -> None:
    (spec,) = load_specs(SEED / "object-detect.json")
    assert spec.input.kind == "cross"
    assert spec.input_repos() == [("validate", "validate", "master"), ("model", "model", "master")]
    assert [p.glob for p in spec.input.walk()] == ["/valid/*", "/"]
    (threat,) = load_specs(SEED / "threat-detect.json")
    assert threat.input_repos()[0] == ("object", "object-detect", "master")
    assert threat.transform.env == {"SGKEY": ""}


@needs_seed
def test_seed_rules_file_is_not_a_pipeline() -> None:
    with pytest.raises(SpecError, match=r"rule\.json.*pipeline: field required"):
        load_specs(SEED / "rule.json")


CAMEL_YAML = """
pipeline:
  name: detect
description: camelCase keys, atom alias
input:
  cross:
    - atom: {repo: images, glob: "/*", emptyFiles: true}
    - pfs: {repo: model, glob: /}
transform:
  cmd: [python, run.py]
  env: {camelKey: 1, FLAG: true}
parallelismSpec: {constant: "2"}
datumTries: 5
datumTimeout: 1m30s
resourceRequests: {cpu: 0.5, memory: 1G, gpu: 1}
reprocessSpec: every_job
outputBranch: out
"""

SNAKE_JSON = json.dumps(
    {
        "pipeline": {"name": "detect"},
        "description": "camelCase keys, atom alias",
        "input": {
            "cross": [
                {"pfs": {"repo": "images", "glob": "/*", "empty_files": True}},
                {"pfs": {"repo": "model", "glob": "/"}},
            ]
        },
        "transform": {"cmd": ["python", "run.py"], "env": {"camelKey": "1", "FLAG": "true"}},
        "parallelism_spec": {"constant": 2},
        "datum_tries": 5,
        "datum_timeout": 90,
        "resource_requests": {"cpu": 0.5, "memory": "1G", "gpu": {"number": 1}},
        "reprocess_spec": "every_job",
        "output_branch": "out",
    }
)


def test_camel_yaml_equals_snake_json() -> None:
    (camel,) = parse_specs(CAMEL_YAML, "detect.yaml")
    (snake,) = parse_specs(SNAKE_JSON, "detect.json")
    assert camel == snake
    assert camel.fingerprint() == snake.fingerprint()
    assert camel.transform.env == {"camelKey": "1", "FLAG": "true"}  # free-form map: keys untouched
    assert camel.datum_timeout == 90.0
    assert camel.input.cross is not None and camel.input.cross[0].pfs is not None
    assert camel.input.cross[0].pfs.empty_files


def test_fingerprint_changes_with_the_spec() -> None:
    (a,) = parse_specs(spec_json(), "a.json")
    (b,) = parse_specs(spec_json(salt="2"), "b.json")
    assert a.fingerprint() != b.fingerprint() and len(a.fingerprint()) == 64


def test_stage_and_python_transforms() -> None:
    (stage,) = parse_specs(spec_json(transform={"stage": "detect", "params": {"scoreMin": 0.5}}), "s.json")
    assert stage.transform.kind == "stage" and stage.transform.params == {"scoreMin": 0.5}
    (py,) = parse_specs(spec_json(transform={"python": "vigil.stages.x:run"}), "s.json")
    assert py.transform.kind == "python"


MULTI_YAML = """\
pipeline: {name: a}
input: {pfs: {repo: images, glob: "/*"}}
transform: {cmd: [x]}
---
pipeline: {name: b}
input: {pfs: {repo: a, glob: "/*"}}
transform: {stage: detect}
---
"""


def test_multi_document_yaml_and_concatenated_json() -> None:
    assert [s.name for s in parse_specs(MULTI_YAML, "all.yaml")] == ["a", "b"]
    two = (
        spec_json() + "\n" + spec_json(pipeline={"name": "q"}) + "\n---\n" + spec_json(pipeline={"name": "r"})
    )
    assert [s.name for s in parse_specs(two, "all.json")] == ["p", "q", "r"]


def test_error_in_second_document_names_spec_and_line() -> None:
    text = MULTI_YAML.replace('glob: "/*"}}\ntransform: {stage', 'globb: "/*"}}\ntransform: {stage')
    with pytest.raises(SpecError, match=r"all\.yaml:6 \(spec 2 of 2\): input\.pfs\.globb: unknown key"):
        parse_specs(text, "all.yaml")


def test_yaml_line_of_a_bad_value() -> None:
    text = "pipeline:\n  name: Bad_Name\ninput: {pfs: {repo: images, glob: /}}\ntransform: {cmd: [x]}\n"
    with pytest.raises(SpecError, match=r"^p\.yaml:2: pipeline\.name: string should match"):
        parse_specs(text, "p.yaml")


def _seedlike(inner: str) -> str:
    return '{"pipeline": {"name": "object-detect"}, "transform": {"cmd": ["x"]}, "input": ' + inner + "}"


CROSS = '{"cross": [{"atom": %s}, {"atom": {"repo": "model", "glob": "/"}}]}'


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(
            spec_json(foo=1),
            r"p\.json:1: foo: unknown key; allowed keys: datum_timeout, .*transform",
            id="unknown-top-key",
        ),
        pytest.param(
            _seedlike(CROSS % '{"repo": "validate", "glob": "/*", "globb": 1}'),
            r"input\.cross\.0\.atom\.globb: unknown key; allowed keys: branch, .*repo \(did you mean 'glob'",
            id="unknown-pfs-key",
        ),
        pytest.param(
            _seedlike(CROSS % '{"repo": "validate"}'),
            r"p\.json:1: input\.cross\.0\.atom\.glob: field required",
            id="missing-glob",
        ),
        pytest.param(
            _seedlike(CROSS % '{"repo": "validate", "glob": "/(*"}'),
            r"input\.cross\.0\.atom\.glob: bad glob '/\(\*': unbalanced",
            id="bad-glob",
        ),
        pytest.param(
            spec_json(transform={"cmd": ["x"], "python": "a:b"}),
            r"transform: a transform needs exactly one of stage, python, cmd",
            id="two-transforms",
        ),
        pytest.param(spec_json(transform={}), r"transform: a transform needs exactly one", id="no-transform"),
        pytest.param(
            spec_json(transform={"stage": "s", "stdin": ["x"]}),
            r"stdin go with cmd only",
            id="stdin-without-cmd",
        ),
        pytest.param(
            _seedlike(CROSS % '{"repo": "model", "glob": "/*"}'),
            r"input\.cross\.1\.atom: duplicate input name 'model' \(first used at input\.cross\.0\.atom\)",
            id="duplicate-input-names",
        ),
        pytest.param(
            _seedlike('{"pfs": {"repo": "object-detect", "glob": "/"}}'),
            r"reads its own output repo",
            id="self-read",
        ),
        pytest.param(
            spec_json(
                input={"pfs": {"repo": "a", "glob": "/"}, "union": [{"pfs": {"repo": "b", "glob": "/"}}]}
            ),
            r"exactly one of pfs",
            id="two-input-kinds",
        ),
        pytest.param(
            spec_json(input={"join": [{"pfs": {"repo": "a", "glob": "/(*)"}}]}),
            r"input\.join\.0: each input inside 'join' must be a pfs input with 'join_on'",
            id="join-no-key",
        ),
        pytest.param(
            spec_json(input={"join": [{"pfs": {"repo": "a", "glob": "/*", "joinOn": "$1"}}]}),
            r"input\.join\.0\.pfs: join_on '\$1' refers to \$1 but glob '/\*' has 0",
            id="join-bad-ref",
        ),
        pytest.param(
            spec_json(input={"pfs": {"repo": "a", "glob": "/(*)", "join_on": "$1"}}),
            r"join_on is only meaningful on an input directly inside 'join'",
            id="join-on-outside",
        ),
        pytest.param(
            spec_json(parallelism_spec={"constant": "two"}),
            r"parallelism_spec\.constant: input should be",
            id="bad-parallelism",
        ),
        pytest.param(
            spec_json(datum_timeout="5 minutes"),
            r"datum_timeout: '5 minutes' is not a duration",
            id="bad-duration",
        ),
        pytest.param(
            spec_json(reprocess_spec="sometimes"),
            r"reprocess_spec: input should be 'until_success'",
            id="bad-reprocess",
        ),
        pytest.param(
            '{"pipeline": {"name": "a"}, "pipeline": {"name": "b"}}',
            r"invalid JSON: key 'pipeline' appears",
            id="duplicate-json-key",
        ),
        pytest.param('{"pipeline": ', r"p\.json:1: invalid JSON", id="truncated-json"),
        pytest.param("", r"no pipeline spec found", id="empty"),
        pytest.param(spec_json() + spec_json(), r"pipeline 'p' is defined twice", id="duplicate-pipeline"),
        pytest.param(
            spec_json(transform={"cmd": ["x"]}, Transform={"cmd": ["y"]}),
            r"key 'transform' is given twice",
            id="camel-and-snake",
        ),
    ],
)
def test_spec_errors(text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        parse_specs(text, "p.json")


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(SpecError, match=r"p\.yaml:3: invalid YAML"):
        parse_specs("pipeline:\n  name: a\n  - b: [\n", "p.yaml")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_specs(tmp_path / "nope.yaml")


def test_model_validate_directly_enforces_tree_rules() -> None:
    data = json.loads(_seedlike(CROSS % '{"repo": "model", "glob": "/*"}').replace("atom", "pfs"))
    with pytest.raises(ValueError, match="duplicate input name"):
        PipelineSpec.model_validate(data)


@needs_seed
def test_seed_error_points_at_the_json_line() -> None:
    text = (SEED / "object-detect.json").read_text().replace('"glob": "/valid/*",', "")
    with pytest.raises(
        SpecError, match=r"^object-detect\.json:8: input\.cross\.0\.atom\.glob: field required"
    ):
        parse_specs(text, "object-detect.json")


def test_executor_placement_is_kept_but_is_no_new_version() -> None:
    base = 'pipeline: {name: up}\ninput: {pfs: {repo: images, glob: "/*"}}\ntransform: {stage: noop}\n'
    (plain,) = parse_specs(base, "a.yaml")
    (placed,) = parse_specs(base + "executor: {type: dask, address: 'tcp://10.0.0.5:8786'}\n", "b.yaml")
    assert placed.executor is not None and placed.executor.address == "tcp://10.0.0.5:8786"
    assert placed.fingerprint() == plain.fingerprint()
    (again,) = parse_specs(placed.canonical_json(), "stored")  # the registry stores canonical_json
    assert again.executor == placed.executor
    assert "executor" not in plain.canonical_json()  # specs stored before placement existed read the same


@pytest.mark.parametrize(("executor", "match"), [
    ("{type: dask}", r"bad.yaml:4: executor.address"),
    ("{type: dask, address: '10.0.0.5:8786'}", r"bad.yaml:4: executor.address"),
    ("{type: yarn}", r"executor"),
])
def test_bad_executor_placement_names_the_key(executor: str, match: str) -> None:
    text = f'pipeline: {{name: up}}\ninput: {{pfs: {{repo: images, glob: "/*"}}}}\ntransform: {{stage: noop}}\n' \
           f"executor: {executor}\n"
    with pytest.raises(SpecError, match=match):
        parse_specs(text, "bad.yaml")
