"""``vigil.throughput``: the bench runs on a handful of frames and yields a well-formed report (no timing
thresholds: the machine is shared and noisy)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.shared_data import unavailable
from vigil.throughput import bare_loop, frames_from_video, image_files, run_bench, write_framework_spec, write_specs

REPO = Path(__file__).resolve().parents[1]
SHARED = next((p for p in (REPO / "shared", REPO.parent / "shared") if (p / "data").is_dir()), REPO / "shared")
PETS = SHARED / "data" / "eval" / "pets2009_s2l1" / "images"
VIDEO = SHARED / "data" / "video" / "pets2009_s2l1_dev_7fps.mp4"
MODEL = SHARED / "models" / "yolox_nano_416.onnx"


def _need(path: Path) -> None:
    if not path.exists():
        unavailable(f"{path} is missing (shared data/models not present)")


def test_bench_report_is_well_formed(tmp_path: Path) -> None:
    _need(PETS)
    _need(MODEL)
    files = image_files(PETS, limit=6)
    report = run_bench(files, model=MODEL, rounds=1, workers=[1, 2], latency_samples=3, batch_size=4,
                       tmp=tmp_path)
    d = report.to_dict()
    assert d["n_images"] == 6
    assert d["bare_images_per_s"] > 0 and d["pipeline_images_per_s"] > 0
    assert d["ratio"] == pytest.approx(d["pipeline_images_per_s"] / d["bare_images_per_s"], rel=0.01)
    assert d["framework_images_per_s"] > 0
    assert d["framework_ratio"] == pytest.approx(d["framework_images_per_s"] / d["bare_images_per_s"], rel=0.01)
    assert all(w["framework_ratio"] > 0 for w in d["workers"])
    # one round: the report says it is noise-prone, and the spread is that one round's ratio
    assert any("only 1 round(s)" in note for note in d["notes"])
    assert d["ratio_spread"] == [d["ratio"], d["ratio"]] or d["ratio_spread"][0] == pytest.approx(d["ratio"], rel=0.01)
    assert d["latency_ms"]["n"] == 3
    assert 0 < d["latency_ms"]["p50"] <= d["latency_ms"]["p95"]
    assert {"validate", "detect", "threat"} <= set(d["stage_ms_per_image"])
    assert [w["workers"] for w in d["workers"]] == [1, 2]
    assert d["peak_rss_mib"] > 0
    assert not list(tmp_path.iterdir())  # temporary workspaces are removed


def test_specs_carry_bench_settings(tmp_path: Path) -> None:
    names = write_specs(tmp_path / "s.yaml", workers=3, threads=1, annotate=False, batch_size=4)
    docs = list(yaml.safe_load_all((tmp_path / "s.yaml").read_text()))
    assert names[:4] == ["validate", "motion", "detect", "threat"]
    detect = next(d for d in docs if d["pipeline"]["name"] == "detect")
    assert detect["transform"]["params"]["annotate"] is False
    assert detect["transform"]["params"]["threads"] == 1
    assert all(d["parallelism_spec"] == {"constant": 3} for d in docs)


def test_framework_spec_is_the_bundled_detect_reading_the_images(tmp_path: Path) -> None:
    write_specs(tmp_path / "camera.yaml", workers=2, threads=1, annotate=False, batch_size=4)
    camera = next(d for d in yaml.safe_load_all((tmp_path / "camera.yaml").read_text())
                  if d["pipeline"]["name"] == "detect")
    write_framework_spec(tmp_path / "f.yaml", workers=2, threads=1, annotate=False, batch_size=4)
    docs = [d for d in yaml.safe_load_all((tmp_path / "f.yaml").read_text()) if d]
    assert len(docs) == 1
    detect = docs[0]
    assert detect["input"]["cross"][0]["pfs"] == {"repo": "images", "glob": "/*/*"}
    assert detect["input"]["cross"][1] == camera["input"]["cross"][1]  # the model input, unchanged
    bundled = {k: v for k, v in camera["transform"]["params"].items() if k != "motion"}  # no gating: every frame
    assert detect["transform"]["params"] == {**bundled, "images": "images"}
    assert detect["parallelism_spec"] == camera["parallelism_spec"]


def test_video_frames_sampled_to_jpegs(tmp_path: Path) -> None:
    _need(VIDEO)
    files = frames_from_video(VIDEO, tmp_path, fps=1.0, limit=3)  # 7 fps video: every 7th frame
    assert [f.name for f in files] == ["frame_000000.jpg", "frame_000007.jpg", "frame_000014.jpg"]


class _Recorder:
    """A detector that notes the frames it is given (their first pixel carries the file's number)."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def detect(self, images: list[np.ndarray]) -> list[object]:
        self.seen.extend(int(img[0, 0, 0]) for img in images)
        return [object() for _ in images]


@pytest.mark.parametrize("n_detectors", [1, 2, 3])
def test_bare_loop_gives_every_frame_to_exactly_one_detector(tmp_path: Path, n_detectors: int) -> None:
    files = []
    for i in range(11):
        img = np.zeros((8, 8, 3), np.uint8)
        img[0, 0] = i * 20
        files.append(tmp_path / f"{i}.png")  # lossless: the marker pixel survives
        cv2.imwrite(str(files[-1]), img)
    detectors = [_Recorder() for _ in range(n_detectors)]
    assert bare_loop(detectors, files, batch_size=3) > 0
    assert sorted(v for d in detectors for v in d.seen) == [i * 20 for i in range(11)]


def test_ratio_spread_and_rounds_note() -> None:
    from vigil.throughput import ratio_spread, rounds_note

    assert ratio_spread([10.0, 12.0, 9.0], [10.0, 10.0, 10.0]) == (0.9, 1.2)
    assert rounds_note(1) and "--rounds 3" in (rounds_note(2) or "")
    assert rounds_note(3) is None
