"""Two frames claiming one camera and second are data, not a failure (issue: one duplicate frame stopped every
later run). Different bytes: both kept, the later renamed; identical bytes: kept once."""

from __future__ import annotations

from pathlib import Path

from tests.stages.conftest import Camera


def test_frames_claiming_one_camera_second_are_all_kept_and_later_frames_flow(camera: Camera,
                                                                               seed_dir: Path) -> None:
    camera.run()
    camera.put("images", {"coll/a/camx_1511893000.jpg": seed_dir / "dev1_1511891098.jpg",
                          "coll/b/camx_1511893000.jpg": seed_dir / "dev2_1511891326.jpg",
                          "coll/c/camx_1511893000.jpg": seed_dir / "dev2_1511891326.jpg"})  # same bytes as b
    camera.run()
    valid = [p for p in camera.files("validate") if p.startswith("/valid/camx/")]
    assert len(valid) == 2 and "/valid/camx/1511893000.jpg" in valid
    (renamed,) = [p for p in valid if p != "/valid/camx/1511893000.jpg"]
    assert renamed.startswith("/valid/camx/1511893000~") and renamed.endswith(".jpg")
    detect = {p for p in camera.files("detect") if p.startswith("/camx/")}
    assert detect == {"/camx/1511893000.json", renamed.removeprefix("/valid").replace(".jpg", ".json")}
    threat = camera.events()
    assert {p for p in threat if p.startswith("/camx/")} == detect  # each distinct frame judged once
    # a later, unrelated frame is processed and raises its event
    camera.put("images", {"camy_1511894000.jpg": seed_dir / "dev3_1511891385.jpg"})
    camera.run()
    assert camera.events()["/camy/1511894000.json"], "a person and a car: a threat under rule.json"
    assert camera.app.run() == []


def test_one_second_of_one_camera_as_jpg_and_png_gives_two_records(camera: Camera, seed_dir: Path,
                                                                    tmp_path: Path) -> None:
    from PIL import Image

    png = tmp_path / "camz_1511895000.png"
    Image.open(seed_dir / "dev4_1511891463.jpg").save(png)
    camera.put("images", {"camz_1511895000.jpg": seed_dir / "dev1_1511891098.jpg", "camz_1511895000.png": png})
    camera.run()
    assert {p for p in camera.files("validate") if "/camz/" in p} == {"/valid/camz/1511895000.jpg",
                                                                        "/valid/camz/1511895000.png"}
    records = sorted(p for p in camera.files("detect") if p.startswith("/camz/"))
    assert len(records) == 2 and records[0] == "/camz/1511895000.json" and records[1].startswith("/camz/1511895000~")
    assert sorted(p for p in camera.events() if p.startswith("/camz/")) == records
