"""Per-track rules through the camera pipeline on PETS 2009 frames: people walking through 40 frames give one
alert per track (not per frame), and judging every frame again in one job (a rules commit) gives the same
events, ids and tracks as judging them commit by commit."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from tests.stages.conftest import new_camera

T0 = 1_700_000_000
PER_TRACK = textwrap.dedent("""\
    version: 1
    rules:
      - id: intruder
        classes: [person]
        min_score: 0.5
        per_track: true
      - id: loiter
        classes: [person]
        min_score: 0.5
        min_dwell: 20
    tracking: {window_seconds: 30}
    """)


def test_one_alert_per_track_and_the_same_answers_however_frames_arrive(
        tmp_path: Path, vigil_env: dict[str, str], pets_dir: Path) -> None:
    frames = sorted(pets_dir.glob("frame_*.jpg"))[:40]
    cam = new_camera(tmp_path)
    cam.app.model_add("yolox-nano")
    cam.rules("rules.yaml", PER_TRACK)
    for start in range(0, 40, 10):  # four commits: each frame judged with the look-back of its time
        cam.put("images", {f"pets_{T0 + i}.jpg": frames[i] for i in range(start, start + 10)})
        if start == 0:
            cam.app.create_pipelines(cam.spec)
        cam.run()
    events = [e for evs in cam.events().values() for e in evs]
    people_frames = sum(any(o["label"] == "person" and o["score"] >= 0.5 for o in d["objects"])
                        for d in cam.docs("detect").values())
    intruders = [e for e in events if e["rule_id"] == "intruder"]
    assert people_frames >= 35 and 7 <= len(intruders) <= 3 * 7, (people_frames, len(intruders))  # 7 people
    assert len({e["track_id"] for e in intruders}) == len(intruders), "one alert per track"
    for e in intruders:
        (obj,) = e["objects"]
        assert obj["track_id"] == e["track_id"] and obj["label"] == "person"
        assert e["evidence"]["score"] >= obj["score"] and e["evidence"]["ts"] <= e["ts"]
    loiter = [e for e in events if e["rule_id"] == "loiter"]
    assert loiter and all(e["dwell_seconds"] >= 20 for e in loiter)
    assert {e["track_id"] for e in loiter} <= {e["track_id"] for e in intruders}
    tracked = cam.doc("threat", f"/pets/{T0 + 39}.json")["tracks"]
    assert tracked and all(t["label"] == "person" for t in tracked)

    before = {p: d for p, d in cam.docs("threat").items()}
    cam.rules("rules.yaml", PER_TRACK + "# the same rules again: every frame is judged again, in one job\n")
    assert cam.run()["threat"].n_processed == 40
    after = cam.docs("threat")
    def strip(doc: dict[str, Any]) -> dict[str, Any]:  # the rules version (new file bytes) and ids made from it
        events = [{k: v for k, v in e.items() if k not in ("event_id", "rules_version")} for e in doc["events"]]
        return {**{k: v for k, v in doc.items() if k != "rules"}, "events": events}

    assert {p: strip(d) for p, d in after.items()} == {p: strip(d) for p, d in before.items()}
