"""The camera pipelines incrementally: what each kind of commit re-runs, and the provenance of a threat commit."""

from __future__ import annotations

import json
from pathlib import Path

from tests.stages.conftest import Camera

DOWNSTREAM_OF_RULES = {"threat", "report"}


def test_nothing_new_runs_nothing(seeded: Camera) -> None:
    assert seeded.app.run() == []


def test_rules_commit_reruns_only_threat(seeded: Camera) -> None:
    seeded.rules("rule.json", '{"threat_classes": [1, 18]}')  # person and dog
    jobs = seeded.run()
    assert set(jobs) == DOWNSTREAM_OF_RULES
    assert jobs["threat"].n_processed == 7, "every frame is judged by the new rules"
    assert [e["rule_id"] for e in seeded.events()["/dev2/1511891326.json"]] == ["rule.json"]


def test_one_new_image_runs_one_datum_per_stage(seeded: Camera, seed_dir: Path) -> None:
    seeded.put("images", {"dev5_1511899999.jpg": seed_dir / "dev3_1511891385.jpg"})
    jobs = seeded.run()
    assert set(jobs) == {"validate", "motion", "detect", "threat", "report"}
    for name in ("validate", "motion", "detect", "threat"):
        job = jobs[name]
        assert job.n_processed == 1, f"{name}: {job}"
        assert job.n_total == job.n_processed + job.n_skipped, job
    assert (jobs["validate"].n_total, jobs["motion"].n_total, jobs["detect"].n_total, jobs["threat"].n_total) == (
        9, 8, 8, 8)
    assert jobs["report"].n_processed == 1  # one datum: the whole threat repo
    assert seeded.labels()["/dev5/1511899999.json"].count("person") >= 1
    assert seeded.events()["/dev5/1511899999.json"], "a person and a car: a threat under rule.json"


def test_new_model_commit_redetects_every_frame(seeded: Camera, models_dir: Path) -> None:
    seeded.app.model_add(str(models_dir / "FastestDet_352.onnx"))
    jobs = seeded.run()
    assert "validate" not in jobs
    assert (jobs["detect"].n_total, jobs["detect"].n_processed) == (7, 7)
    assert jobs["threat"].n_processed == 7
    assert {d["model"]["kind"] for d in seeded.docs("detect").values()} == {"fastestdet"}


def test_lineage_of_a_threat_commit_reaches_images_model_and_rules(seeded: Camera, vigil_env: dict[str, str]) -> None:
    store = seeded.app.store
    heads = {repo: f"{repo}@{store.head(repo).id}" for repo in ("images", "model", "rules", "validate", "motion",
                                                                    "detect")}
    data = json.loads(seeded.cli("lineage", "threat@master", "--json", env=vigil_env).stdout)
    assert data["commit"] == f"threat@{store.head('threat').id}"
    upstream = {f"{n['repo']}@{n['commit']}" for n in data["upstream"]}
    assert set(heads.values()) <= upstream, f"missing {set(heads.values()) - upstream}"
    # and the other way: the rules commit made the threat commit
    down = json.loads(seeded.cli("lineage", heads["rules"], "--json", env=vigil_env).stdout)
    assert data["commit"] in {f"{n['repo']}@{n['commit']}" for n in down["downstream"]}
