"""``vigil eval`` and ``vigil bench`` through the console script: tables, JSON, report files, usage errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.console import MISSING, VIGIL
from tests.shared_data import unavailable

REPO = Path(__file__).resolve().parents[2]
SHARED = next((p for p in (REPO / "shared", REPO.parent / "shared") if (p / "data").is_dir()), REPO / "shared")
PETS = SHARED / "data" / "eval" / "pets2009_s2l1"
MODEL = SHARED / "models" / "yolox_nano_416.onnx"
pytestmark = pytest.mark.skipif(MISSING, reason="the `vigil` console script is not installed")


def _need(path: Path) -> None:
    if not path.exists():
        unavailable(f"{path} is missing (shared data/models not present)")


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_MIRROR": str(SHARED / "models"), "VIGIL_CACHE": str(cwd / "cache")}
    proc = subprocess.run([str(VIGIL), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"vigil {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    """The first 5 pets2009_s2l1 images with their ground truth."""
    _need(PETS)
    root = tmp_path / "pets5"
    (root / "images").mkdir(parents=True)
    gt = json.loads((PETS / "gt.json").read_text())[:5]
    for entry in gt:
        shutil.copy(PETS / entry["image"], root / entry["image"])
    (root / "gt.json").write_text(json.dumps(gt))
    return root


def test_eval_prints_table_and_writes_json_and_png(tmp_path: Path, small_set: Path) -> None:
    proc = run(tmp_path, "eval", "--images", str(small_set), "--gt", str(small_set / "gt.json"),
               "--classes", "person", "--rules", str(SHARED / "data" / "seed" / "pipeline" / "rule.json"))
    assert "AP50" in proc.stdout and "person" in proc.stdout and "frames raise events" in proc.stdout
    out = tmp_path / "eval-pets5"  # default: ./eval-<name>
    doc = json.loads((out / "report.json").read_text())
    assert doc["n_images"] == 5 and doc["classes"][0]["class"] == "person"
    assert 0 <= doc["classes"][0]["ap50"] <= 1 and doc["operating_score"] == 0.3
    assert doc["rules"]["n_frames"] == 5
    assert (out / "pr_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_json_output(tmp_path: Path, small_set: Path) -> None:
    proc = run(tmp_path, "eval", "--images", str(small_set), "--gt", str(small_set / "gt.json"), "--model",
               str(MODEL), "--class-map", "truck,bus=car", "--out", str(tmp_path / "r"), "--json")
    doc = json.loads(proc.stdout)
    assert doc["class_map"] == "bus,truck=car"
    assert doc["files"]["png"].endswith("pr_curve.png")
    assert {c["class"] for c in doc["classes"]} == {"person"}


def test_eval_target_precision_and_input_size(tmp_path: Path, small_set: Path) -> None:
    proc = run(tmp_path, "eval", "--images", str(small_set), "--gt", str(small_set / "gt.json"), "--classes",
               "person", "--input-size", "aspect:416", "--target-precision", "0.9", "--out", str(tmp_path / "r"),
               "--json")
    doc = json.loads(proc.stdout)
    assert doc["input_size"] == "aspect:416" and doc["merge_classes"] == []
    (suggestion,) = doc["target_precision"]["thresholds"]  # PETS has no sequences: the whole set only
    assert suggestion["scope"] == "all" and suggestion["class"] == "person"
    assert suggestion["precision"] >= 0.9 and 0.01 <= suggestion["threshold"] <= 1
    # the operating point at the suggested threshold, measured by eval itself, is the one promised
    again = run(tmp_path, "eval", "--images", str(small_set), "--gt", str(small_set / "gt.json"), "--classes",
                "person", "--input-size", "aspect:416", "--operating-score", str(suggestion["threshold"]),
                "--out", str(tmp_path / "r2"), "--json")
    (person,) = json.loads(again.stdout)["classes"]
    assert (person["precision"], person["recall"]) == (pytest.approx(suggestion["precision"], abs=1e-5),
                                                      pytest.approx(suggestion["recall"], abs=1e-5))
    table = run(tmp_path, "eval", "--images", str(small_set), "--gt", str(small_set / "gt.json"), "--classes",
                "person", "--target-precision", "0.9", "--class-map", "truck,bus=car", "--out", str(tmp_path / "r3"))
    assert "score threshold for precision >= 0.9" in table.stdout and "min_score" in table.stdout
    assert "merged before NMS: car+bus+truck" in table.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["eval", "--images", ".", "--gt", "gt.json", "--input-size", "500"], "--input-size: default"),
    (["eval", "--images", ".", "--gt", "gt.json", "--input-size", "wide"], "is not 416, 640x352 or aspect:640"),
    (["eval", "--images", ".", "--gt", "gt.json", "--target-precision", "0"], "--target-precision must be in"),
    (["eval", "--gt", "gt.json"], "exactly one of --images"),
    (["eval", "--images", ".", "--gt", "missing.json"], "does not exist"),
    (["eval", "--images", ".", "--gt", "gt.json", "--class-map", "truck=nothing"], "class map"),
    (["bench"], "exactly one of --images"),
])
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "gt.json").write_text("[]")
    proc = run(tmp_path, *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_bench_json(tmp_path: Path) -> None:
    _need(PETS)
    proc = run(tmp_path, "bench", "--images", str(PETS / "images"), "--limit", "6", "--rounds", "1",
               "--workers", "1", "--latency-samples", "2", "--model", str(MODEL), "--json")
    doc = json.loads(proc.stdout)
    assert doc["n_images"] == 6 and "ratio" in doc and "framework_ratio" in doc
    assert doc["latency_ms"]["p50"] <= doc["latency_ms"]["p95"]
    assert "detect" in doc["stage_ms_per_image"]


def test_bench_table(tmp_path: Path) -> None:
    _need(PETS)
    proc = run(tmp_path, "bench", "--images", str(PETS / "images"), "--limit", "4", "--rounds", "1",
               "--workers", "1", "--latency-samples", "2", "--no-annotate")
    assert "ratio camera pipeline / bare" in proc.stdout and "annotate=off" in proc.stdout
    assert "framework ratio (same work) / bare" in proc.stdout
