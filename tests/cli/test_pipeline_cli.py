"""Pipelines through the real console script: seed specs, the OpenCV example end to end, spec errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = Path(os.environ.get("VIGIL_SEED", ROOT.parent / "shared" / "data" / "seed")) / "pipeline"
SEED_SPECS = ["validate.json", "object-detect.json", "threat-detect.json", "plot.json"]
OPENCV = ROOT / "examples" / "opencv"
BIN = Path(sys.executable).parent


def vigil(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("vigil", path=str(BIN)) or "vigil"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "200"}
    done = subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check:
        assert done.returncode == 0, f"vigil {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def jobs_json(*args: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    result = json.loads(vigil(*args, "--json", cwd=cwd).stdout)
    jobs: list[dict[str, Any]] = result["jobs"] if isinstance(result, dict) else result  # `run` also reports
    return jobs


def write_images(folder: Path, names: list[str], seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        ok, data = cv2.imencode(".jpg", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
        assert ok
        (path := folder / name).write_bytes(data.tobytes())
        paths.append(path)
    return paths


@pytest.mark.skipif(not SEED.is_dir(), reason=f"the seed specs are not at {SEED}")
def test_seed_specs_validate_and_draw(tmp_path: Path) -> None:
    specs = [str(SEED / name) for name in SEED_SPECS]
    assert "1 valid pipeline spec(s): validate" in vigil("pipeline", "validate", specs[0], cwd=tmp_path).stdout
    lines = vigil("pipeline", "draw", *specs, cwd=tmp_path).stdout.splitlines()
    chain = lines[0].replace("─", " ").replace("►", " ").split()
    assert chain == ["images", "validate", "object-detect", "threat-detect", "plot"]
    assert any(line.startswith("model") and line.rstrip().endswith("object-detect") for line in lines)
    assert any(line.startswith("rules") and line.rstrip().endswith("threat-detect") for line in lines)


@pytest.mark.parametrize(("text", "where"), [
    ('pipeline: {name: x}\ninput: {pfs: {repo: images, glob: "/*"}}\ntransform: {stage: noop, bogus: 1}\n',
     ":3: transform.bogus: unknown key"),
    ('pipeline: {name: x}\ninput: {pfs: {repo: images, glob: "/*"}}\n', "transform: field required"),
])
def test_bad_spec_is_one_line_naming_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    done = vigil("pipeline", "validate", str(spec), cwd=tmp_path, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    first = done.stderr.splitlines()[0]
    assert first.startswith("error: ") and f"{spec}" in first and where in first


def test_opencv_example_incremental_end_to_end(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    vigil("init", ws)
    vigil("-w", ws, "repo", "create", "images")
    images = write_images(tmp_path / "imgs", [f"img{i:03d}.jpg" for i in range(100)], seed=1)
    vigil("-w", ws, "put", "images", *map(str, images))
    vigil("-w", ws, "pipeline", "create", "pipelines.yaml", cwd=OPENCV)
    first = {j["pipeline"]: j for j in jobs_json("-w", ws, "run", cwd=OPENCV)}
    assert first["edges"]["state"] == "SUCCESS" and first["edges"]["n_processed"] == 100
    assert first["montage"]["state"] == "SUCCESS"

    (extra,) = write_images(tmp_path / "more", ["img100.jpg"], seed=2)
    vigil("-w", ws, "put", "images", str(extra))
    added = {j["pipeline"]: j for j in jobs_json("-w", ws, "run", cwd=OPENCV)}
    assert (added["edges"]["n_processed"], added["edges"]["n_skipped"]) == (1, 100)
    listed = jobs_json("-w", ws, "job", "list", "--pipeline", "edges", "-n", "1")
    assert (listed[0]["id"], listed[0]["n_processed"], listed[0]["n_skipped"]) == (added["edges"]["id"], 1, 100)
    assert added["montage"]["state"] == "SUCCESS"

    vigil("-w", ws, "rm", "images:/img007.jpg")
    removed = {j["pipeline"]: j for j in jobs_json("-w", ws, "run", cwd=OPENCV)}
    assert (removed["edges"]["n_processed"], removed["edges"]["n_removed"]) == (0, 1)
    ls = vigil("-w", ws, "ls", "edges").stdout
    assert "img007.png" not in ls and "img008.png" in ls and "img100.png" in ls
    diff = vigil("-w", ws, "diff", "edges@master^", "edges@master").stdout
    assert "img007.png" in diff
    lineage = json.loads(vigil("-w", ws, "lineage", "edges:/img100.png", "--json").stdout)
    assert any(n["repo"] == "images" for n in lineage["upstream"])
