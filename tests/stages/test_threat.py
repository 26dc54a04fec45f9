"""The threat stage: the 2017 rule.json on the seed stills, a native YAML rule set adding a dog rule, and the
temporal rules (persistence, cooldown) over a camera's frames arriving one commit at a time."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.stages.conftest import Camera

RULE_JSON_CLASSES = {"person", "car", "motorcycle", "truck"}  # TF ids 1, 3, 4, 8

YAML_WITH_DOG = textwrap.dedent("""\
    version: 1
    description: the 2017 threat classes, plus dogs
    rules:
      - id: intruders
        classes: [person, car, motorcycle, truck]
        min_score: 0.5
        severity: high
      - id: dog
        classes: [dog]
        min_score: 0.5
        severity: low
    """)


def test_rule_json_raises_events_for_its_classes_only(seeded: Camera) -> None:
    """Oracle from the detections themselves: an event iff some object of a threat class has score >= 0.5."""
    events = seeded.events()
    detections = seeded.docs("detect")
    assert sorted(events) == sorted(detections)
    rules_file = next(f for f in seeded.app.store.list_files("rules"))
    for frame, doc in detections.items():
        wanted = sorted((o["label"], o["score"]) for o in doc["objects"]
                        if o["label"] in RULE_JSON_CLASSES and o["score"] >= 0.5)
        got = events[frame]
        assert len(got) == (1 if wanted else 0), f"{frame}: {got}"
        if got:
            (event,) = got
            assert event["rule_id"] == "rule.json" and event["severity"] == "high"
            assert sorted((o["label"], o["score"]) for o in event["objects"]) == wanted
            assert event["rules_version"] == rules_file.oid
    threat = seeded.doc("threat", "/dev2/1511891326.json")
    assert threat["events"] == [], "the dog raises nothing under rule.json"
    assert threat["rules"]["sha256"] == rules_file.oid
    assert threat["rules"]["commit"] == seeded.app.store.head("rules").id
    labels = {f: {o["label"] for e in ev for o in e["objects"]} for f, ev in events.items()}
    assert "person" in labels["/dev4/1511891463.json"]  # bank
    assert "person" in labels["/dev1/1511891155.json"]  # street
    assert labels["/dev4/1511891512.json"] == {"car"}  # night driveway


def test_yaml_rules_commit_adds_a_dog_event(seeded: Camera) -> None:
    before = {f: len(ev) for f, ev in seeded.events().items()}
    seeded.rules("rules.yaml", YAML_WITH_DOG)
    jobs = seeded.run()
    assert "threat" in jobs and "detect" not in jobs
    events = seeded.events()
    (dog,) = events["/dev2/1511891326.json"]
    assert dog["rule_id"] == "dog" and dog["severity"] == "low"
    assert [o["label"] for o in dog["objects"]] == ["dog"]
    for frame, n in before.items():  # the other frames: the same threats under the new rule id
        if frame != "/dev2/1511891326.json":
            assert [e["rule_id"] for e in events[frame]] == ["intruders"] * n, frame


def test_persistence_then_cooldown(seeded: Camera, seed_dir: Path) -> None:
    loiter = textwrap.dedent("""\
        version: 1
        rules:
          - id: loiter
            devices: [dev9]
            classes: [person]
            persistence: {frames: 2, seconds: 60}
            cooldown_seconds: 300
        """)
    seeded.rules("rules.yaml", loiter)
    seeded.run()
    assert all(not ev for ev in seeded.events().values()), "persistence: no seed camera has two frames in 60 s"
    person = (seed_dir / "dev1_1511891098.jpg").read_bytes()  # one person, score 0.93
    t0 = 1_600_000_000
    expected = [  # (seconds after t0, fires?)
        (0, False),  # first matching frame: persistence wants two
        (30, True),  # second within 60 s
        (50, False),  # matching again, but within the 300 s cooldown
        (400, False),  # cooldown over, but alone: the earlier hits are more than 60 s back
        (420, True),  # second within 60 s, 390 s after the last firing
    ]
    for dt, fires in expected:
        seeded.put("images", {f"dev9_{t0 + dt}.jpg": person})
        jobs = seeded.run()
        assert jobs["threat"].n_processed == 1, "one new frame, one threat datum"
        doc = seeded.doc("threat", f"/dev9/{t0 + dt}.json")
        assert [e["rule_id"] for e in doc["events"]] == (["loiter"] if fires else []), f"t0+{dt}: {doc['events']}"
    # all frames re-judged at once (a rules commit re-runs every datum): the same answers, frame by frame
    seeded.rules("rules.yaml", loiter + "# re-committed\n")
    assert seeded.run()["threat"].n_processed == 7 + len(expected)
    for dt, fires in expected:
        doc = seeded.doc("threat", f"/dev9/{t0 + dt}.json")
        assert [e["rule_id"] for e in doc["events"]] == (["loiter"] if fires else []), f"re-run t0+{dt}"
