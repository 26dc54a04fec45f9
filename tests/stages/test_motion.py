"""The motion stage on car-park frames: every frame gets a verdict and a detect record; detection runs only on
frames the verdict lets through; verdicts are the same bytes however the frames arrive (one commit, or one
frame per commit in reverse order)."""

from __future__ import annotations

from pathlib import Path

from tests.stages.conftest import new_camera

T0 = 1_700_000_000
FRAMES = range(30, 90)  # quiet car park, then a car drives through from ~frame 53


def test_gating_skips_quiet_frames_and_records_why(tmp_path: Path, vigil_env: dict[str, str],
                                                   car_park: list[bytes]) -> None:
    cam = new_camera(tmp_path / "one", ("validate", "motion", "detect"))
    cam.app.model_add("yolox-nano")
    cam.put("images", {f"lot_{T0 + i}.jpg": car_park[i] for i in FRAMES})
    cam.app.create_pipelines(cam.spec)
    jobs = cam.run()
    assert jobs["motion"].n_processed == jobs["detect"].n_processed == len(FRAMES)
    motion, detect = cam.docs("motion"), cam.docs("detect")
    assert sorted(motion) == sorted(detect) == [f"/lot/{T0 + i}.json" for i in FRAMES]
    reasons = {p: d["motion"]["reason"] for p, d in motion.items()}
    assert reasons[f"/lot/{T0 + 30}.json"] == "first_frame"
    quiet = [p for p, r in reasons.items() if r == "no_motion"]
    moving = [p for p, r in reasons.items() if r == "motion"]
    assert len(quiet) >= 15 and len(moving) >= 20, reasons
    for p in quiet:
        assert detect[p]["skipped"] == "no_motion" and detect[p]["objects"] == [], p
        assert (detect[p]["width"], detect[p]["height"]) == (768, 432)
        assert detect[p]["source"] == {k: motion[p]["source"][k] for k in ("path", "sha256")}
    for p in moving:
        assert "skipped" not in detect[p] and detect[p]["motion"] == motion[p]["motion"]
    assert any(detect[p]["objects"] for p in moving), "the car is detected (as something) on moving frames"
    cam.app.executor.close()

    # the same frames, the last 12 one commit each in reverse time order, then the rest: a verdict reads its
    # window at its datum's input commit, so a frame judged before its predecessors arrived keeps the verdict
    # of its shorter look-back (as the threat stage's late frames do); every other verdict is the same bytes
    again = new_camera(tmp_path / "two", ("validate", "motion"))
    for n, i in enumerate(reversed(FRAMES[-12:])):
        again.put("images", {f"lot_{T0 + i}.jpg": car_park[i]})
        if n == 0:
            again.app.create_pipelines(again.spec)
        again.run()
    again.put("images", {f"lot_{T0 + i}.jpg": car_park[i] for i in FRAMES[:-12]})
    again.run()
    again.app.executor.close()
    late = {f.path: f.oid for f in again.app.store.list_files("motion")}
    first = {f.path: f.oid for f in cam.app.store.list_files("motion")}
    # frames judged before their predecessors arrived saw a shorter look-back; all others match byte for byte
    early = {f"/lot/{T0 + i}.json" for i in FRAMES[-12:]}
    assert {p: o for p, o in late.items() if p not in early} == {p: o for p, o in first.items() if p not in early}
