"""The validate stage on real uploads: the seed stills route by identity, hostile files end in /invalid with
their reason, and nothing crashes a worker."""

from __future__ import annotations

from pathlib import Path

from tests.stages.conftest import SEED_VALID, Camera, new_camera
from tests.vision.hostile import make_hostile_set
from vigil.stages.validate import PICTURE_CODES


def test_seed_routes_seven_frames_and_quarantines_blah(seeded: Camera) -> None:
    files = seeded.files("validate")
    valid = sorted(p for p in files if p.startswith("/valid/"))
    expected = sorted("/valid/{}/{}.jpg".format(*n.removesuffix(".jpg").split("_")) for n in SEED_VALID)
    assert valid == expected
    assert sorted(p for p in files if p.startswith("/invalid/")) == ["/invalid/blah.jpg",
                                                                     "/invalid/blah.jpg.reasons.json"]
    report = seeded.doc("validate", "/invalid/blah.jpg.reasons.json")
    assert report["path"] == "/blah.jpg"
    assert [r["code"] for r in report["reasons"]] == ["name"], report
    job = seeded.jobs["validate"]
    assert (job.n_total, job.n_processed) == (8, 8)


def test_valid_frames_are_the_uploaded_blobs(seeded: Camera) -> None:
    store = seeded.app.store
    uploaded = {f.path: f.oid for f in store.list_files("images")}
    routed = {f.path: f.oid for f in store.list_files("validate")}
    for name in SEED_VALID:
        device, ts = name.removesuffix(".jpg").split("_")
        assert routed[f"/valid/{device}/{ts}.jpg"] == uploaded[f"/{name}"], name
    # blah.jpg and dev1_1511891255.jpg are the same bytes: one is valid, the other rejected by name only
    assert routed["/invalid/blah.jpg"] == routed["/valid/dev1/1511891255.jpg"]


def test_hostile_uploads_end_in_invalid_with_their_reason(tmp_path: Path, vigil_env: dict[str, str]) -> None:
    expected = make_hostile_set(tmp_path / "hostile")
    assert len(expected) == 50
    cam = new_camera(tmp_path, ("validate", "motion", "detect"))
    cam.app.model_add("yolox-nano")
    cam.put("images", {name: tmp_path / "hostile" / name for name in expected})
    cam.app.create_pipelines(cam.spec)
    jobs = cam.run()  # asserts SUCCESS and no failed datum in every job
    assert (jobs["validate"].n_total, jobs["validate"].n_processed) == (50, 50)
    files = set(cam.files("validate"))
    for name, code in expected.items():
        if code == "valid":
            device, ts = name.split(".", 1)[0].split("_")
            assert any(p.startswith(f"/valid/{device}/{ts}.") for p in files), f"{name} should be valid"
            assert f"/invalid/{name}" not in files, name
            continue
        assert f"/invalid/{name}" in files, f"{name} should be quarantined ({code})"
        report = cam.doc("validate", f"/invalid/{name}.reasons.json")
        codes = [r["code"] for r in report["reasons"]]
        assert code in codes, f"{name}: expected reason {code!r}, got {codes}"
        assert all(r["message"] for r in report["reasons"]), report
    n_valid = sum(code == "valid" for code in expected.values())
    assert len([p for p in files if p.startswith("/valid/")]) == n_valid
    # the odd-but-legal frames (CMYK JPEG, palette PNG, WEBP, junk EXIF) also go through the detector; frames
    # with a camera and time but an unusable picture (black, blank, ...) get a record without detection, for
    # the camera-health rules
    unusable = {p for p in files if p.startswith("/unusable/")}
    by_stem = {name.split(".", 1)[0]: code for name, code in expected.items()}
    assert unusable, "black and blank frames with a camera and time are noted for camera health"
    for p in unusable:
        _, _, device, ts = p.removesuffix(".json").split("/")
        assert by_stem[f"{device}_{int(ts)}"] in PICTURE_CODES, p
    assert jobs["detect"].n_processed == n_valid + len(unusable)
    docs = cam.docs("detect")
    assert sum("skipped" not in d for d in docs.values()) == n_valid
    assert {d["skipped"] for d in docs.values() if "skipped" in d} == {"unusable"}
