from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.domain.coco import class_index
from vigil.domain.detections import Detections
from vigil.domain.rules import RuleSet, parse_ruleset
from vigil.domain.threat import FrameFacts, ThreatEvent, ThreatState, evaluate, event_id

SEED_RULE = Path("/work/shared/data/seed/pipeline/rule.json")
SEED_TEXT = (
    SEED_RULE.read_text()
    if SEED_RULE.exists()
    else '{"from_email": "support@baimsecurity.com", "to_email": "", "threat_classes": [1, 3, 4, 8]}'
)
W, H = 640, 480
FEET_LOW = (300.0, 200.0, 340.0, 460.0)  # 40x260 px, bottom-centre (0.5, 0.958)
FEET_HIGH = (300.0, 20.0, 340.0, 200.0)  # bottom-centre (0.5, 0.417)

Obj = tuple[str, float, tuple[float, float, float, float]]


def obj(label: str, score: float = 0.9, box: tuple[float, float, float, float] = FEET_LOW) -> Obj:
    return (label, score, box)


def dets(objs: list[Obj]) -> Detections:
    if not objs:
        return Detections.empty()
    return Detections(
        np.array([o[2] for o in objs], np.float32),
        np.array([class_index(o[0]) for o in objs], np.int64),
        np.array([o[1] for o in objs], np.float32),
    )


def frame(ts: int, *objs: Obj, device: str = "cam-1", tenant: str | None = None) -> FrameFacts:
    return FrameFacts(tenant, device, ts, W, H, dets(list(objs)), f"/valid/{device}/{ts}.jpg")


def one_rule(**fields: Any) -> RuleSet:
    rule: dict[str, Any] = {"id": "r", "classes": ["person"], **fields}
    top: dict[str, Any] = {k: rule.pop(k) for k in ("timezone", "device_timezones") if k in rule}
    return RuleSet.model_validate({"version": 1, **top, "rules": [rule]})


def run(
    ruleset: RuleSet, frames: list[FrameFacts], state: ThreatState | None = None
) -> list[list[ThreatEvent]]:
    state = state or ThreatState()
    out = []
    for f in frames:
        events, state = evaluate(ruleset, f, state, rules_version="v1")
        out.append(events)
    return out


def fired(ruleset: RuleSet, frames: list[FrameFacts]) -> list[bool]:
    return [bool(events) for events in run(ruleset, frames)]


def utc(year: int, month: int, day: int, hour: int, minute: int) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


# ---- the 2017 rule.json --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ([obj("person")], True),
        ([obj("car")], True),
        ([obj("motorcycle")], True),
        ([obj("truck")], True),
        ([obj("dog")], False),
        ([obj("person", 0.49)], False),
        ([obj("person", 0.5)], True),
        ([], False),
        ([obj("dog"), obj("truck", 0.7)], True),
    ],
)
def test_seed_rule_json(objects: list[Obj], expected: bool) -> None:
    ruleset = parse_ruleset(SEED_TEXT, "rule.json")
    (events,) = run(ruleset, [frame(1_500_000_000, *objects)])
    assert bool(events) is expected
    if expected:
        assert events[0].severity == "high" and events[0].rule_id == "rule.json"
        assert all(o["label"] != "dog" for o in events[0].objects)


# ---- time windows, time zones, DST ---------------------------------------------------------------------

NIGHT = {"time_windows": [{"days": "weekdays", "start": "22:00", "end": "06:00"}]}


@pytest.mark.parametrize(
    ("fields", "device", "ts", "expected"),
    [
        # New York night shift on weekdays; windows belong to the day they start.
        ({**NIGHT, "timezone": "America/New_York"}, "cam-1", utc(2024, 5, 11, 7, 0), True),  # Sat 03:00 (Fri)
        (
            {**NIGHT, "timezone": "America/New_York"},
            "cam-1",
            utc(2024, 5, 12, 7, 0),
            False,
        ),  # Sun 03:00 (Sat)
        (
            {**NIGHT, "timezone": "America/New_York"},
            "cam-1",
            utc(2024, 5, 13, 7, 0),
            False,
        ),  # Mon 03:00 (Sun)
        ({**NIGHT, "timezone": "America/New_York"}, "cam-1", utc(2024, 5, 14, 7, 0), True),  # Tue 03:00 (Mon)
        ({**NIGHT, "timezone": "America/New_York"}, "cam-1", utc(2024, 5, 14, 3, 0), True),  # Mon 23:00
        ({**NIGHT, "timezone": "America/New_York"}, "cam-1", utc(2024, 5, 14, 1, 59), False),  # Mon 21:59
        ({**NIGHT, "timezone": "UTC"}, "cam-1", utc(2024, 5, 14, 1, 59), True),  # Tue 01:59 UTC (Mon night)
        # Per-device override: the same instant is Mon 21:59 in New York but Tue 03:59 in Berlin.
        (
            {**NIGHT, "timezone": "America/New_York", "device_timezones": {"cam-de-*": "Europe/Berlin"}},
            "cam-de-1",
            utc(2024, 5, 14, 1, 59),
            True,
        ),
        # Berlin spring-forward (2024-03-31 02:00 CET -> 03:00 CEST): window is wall-clock time.
        (
            {"time_windows": [{"start": "01:00", "end": "03:00"}], "timezone": "Europe/Berlin"},
            "c",
            utc(2024, 3, 31, 0, 30),
            True,
        ),
        (
            {"time_windows": [{"start": "01:00", "end": "03:00"}], "timezone": "Europe/Berlin"},
            "c",
            utc(2024, 3, 31, 1, 0),
            False,
        ),
        (
            {"time_windows": [{"start": "02:00", "end": "03:00"}], "timezone": "Europe/Berlin"},
            "c",
            utc(2024, 3, 31, 0, 59),
            False,
        ),
        # Berlin fall-back (2024-10-27 03:00 CEST -> 02:00 CET): 02:30 happens twice, both are in.
        (
            {"time_windows": [{"start": "02:00", "end": "03:00"}], "timezone": "Europe/Berlin"},
            "c",
            utc(2024, 10, 27, 0, 30),
            True,
        ),
        (
            {"time_windows": [{"start": "02:00", "end": "03:00"}], "timezone": "Europe/Berlin"},
            "c",
            utc(2024, 10, 27, 1, 30),
            True,
        ),
        (
            {"time_windows": [{"start": "02:00", "end": "03:00"}], "timezone": "Europe/Berlin"},
            "c",
            utc(2024, 10, 27, 2, 0),
            False,
        ),
        # Several windows: any one suffices.
        (
            {
                "time_windows": [
                    {"days": "mon", "start": "08:00", "end": "09:00"},
                    {"days": "tue", "start": "10:00", "end": "11:00"},
                ]
            },
            "c",
            utc(2024, 5, 14, 10, 30),
            True,
        ),
    ],
)
def test_time_windows(fields: dict[str, Any], device: str, ts: int, expected: bool) -> None:
    assert fired(one_rule(**fields), [frame(ts, obj("person"), device=device)]) == [expected]


# ---- object filters ------------------------------------------------------------------------------------

LOWER_HALF = [[[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]]


@pytest.mark.parametrize(
    ("fields", "objects", "expected_labels"),
    [
        ({"zones": LOWER_HALF}, [obj("person", box=FEET_LOW)], ["person"]),
        ({"zones": LOWER_HALF}, [obj("person", box=FEET_HIGH)], None),
        ({"zones": LOWER_HALF}, [obj("person", box=FEET_HIGH), obj("person", 0.7)], ["person"]),
        # min_area: FEET_LOW covers 40*260/(640*480) = 0.0339 of the image.
        ({"min_area": 0.03}, [obj("person")], ["person"]),
        ({"min_area": 0.04}, [obj("person")], None),
        ({"min_count": 2}, [obj("person"), obj("person", 0.3)], None),  # the second fails min_score
        ({"min_count": 2}, [obj("person"), obj("person", 0.6)], ["person", "person"]),
        ({"min_count": 2}, [obj("person"), obj("dog")], None),
        ({"classes": []}, [obj("dog")], ["dog"]),  # no classes = any class
        ({"min_score": 0.95}, [obj("person", 0.94), obj("person", 0.96)], ["person"]),
        (
            {"zones": LOWER_HALF, "min_area": 0.01, "min_count": 2},
            [obj("person"), obj("person", box=FEET_HIGH), obj("person", box=(0, 400, 10, 470))],
            None,
        ),
    ],
)
def test_object_filters(
    fields: dict[str, Any], objects: list[Obj], expected_labels: list[str] | None
) -> None:
    (events,) = run(one_rule(**fields), [frame(100, *objects)])
    assert ([o["label"] for o in events[0].objects] if events else None) == expected_labels


@pytest.mark.parametrize(
    ("fields", "tenant", "device", "expected"),
    [
        ({"devices": ["cam-*"]}, None, "cam-7", True),
        ({"devices": ["cam-*"]}, None, "door-7", False),
        ({"devices": ["cam-gate", "door-?"]}, None, "door-7", True),
        ({"tenants": ["acme"]}, "acme", "x", True),
        ({"tenants": ["acme"]}, "globex", "x", False),
        ({"tenants": ["acme"]}, None, "x", False),
    ],
)
def test_scope(fields: dict[str, Any], tenant: str | None, device: str, expected: bool) -> None:
    assert fired(one_rule(**fields), [frame(1, obj("person"), device=device, tenant=tenant)]) == [expected]


# ---- persistence and cooldown --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "stream", "expected"),
    [
        # (ts, matches?) per frame
        ({"persistence": {"frames": 3, "seconds": 10}}, [(0, 1), (4, 1), (8, 1)], [0, 0, 1]),
        ({"persistence": {"frames": 3, "seconds": 10}}, [(0, 1), (4, 1), (11, 1)], [0, 0, 0]),
        ({"persistence": {"frames": 3, "seconds": 10}}, [(0, 1), (4, 1), (10, 1)], [0, 0, 1]),  # inclusive
        (
            {"persistence": {"frames": 3, "seconds": 10}},
            [(0, 1), (1, 0), (2, 1), (3, 1), (4, 1)],
            [0, 0, 0, 1, 1],
        ),
        (
            {"persistence": {"frames": 2, "seconds": 10}},
            [(0, 1), (5, 1), (6, 0)],
            [0, 1, 0],
        ),  # needs this frame
        ({"persistence": {"frames": 2, "seconds": 0}}, [(5, 1), (5, 1), (6, 1)], [0, 1, 0]),  # same second
        ({"persistence": {"frames": 1, "seconds": 0}}, [(0, 1), (1, 0), (2, 1)], [1, 0, 1]),
        ({"cooldown_seconds": 60}, [(0, 1), (30, 1), (59, 1), (60, 1), (61, 1)], [1, 0, 0, 1, 0]),
        ({"cooldown_seconds": 60}, [(0, 1), (100, 0), (101, 1)], [1, 0, 1]),
        ({"cooldown_seconds": 0}, [(0, 1), (0, 1), (1, 1)], [1, 1, 1]),
        (
            {"persistence": {"frames": 2, "seconds": 5}, "cooldown_seconds": 30},
            [(0, 1), (1, 1), (2, 1), (20, 1), (31, 1), (40, 1), (41, 1), (42, 1)],
            [0, 1, 0, 0, 0, 0, 1, 0],
        ),
    ],
)
def test_persistence_and_cooldown(
    fields: dict[str, Any], stream: list[tuple[int, int]], expected: list[int]
) -> None:
    frames = [frame(ts, *([obj("person")] if m else [obj("dog")])) for ts, m in stream]
    assert fired(one_rule(**fields), frames) == [bool(e) for e in expected]


def test_temporal_memory_is_per_device() -> None:
    ruleset = one_rule(persistence={"frames": 2, "seconds": 10})
    frames = [
        frame(0, obj("person"), device="a"),
        frame(1, obj("person"), device="b"),
        frame(2, obj("person"), device="a"),
    ]
    assert fired(ruleset, frames) == [False, False, True]


@pytest.mark.parametrize(
    ("fields", "stream", "expected"),
    [
        # A late frame (older than the device's newest) still alerts on plain rules ...
        ({}, [(100, 1), (50, 1)], [1, 1]),
        # ... but not within cooldown of the remembered firing, in either direction ...
        ({"cooldown_seconds": 60}, [(100, 1), (50, 1), (30, 1), (150, 1), (170, 1)], [1, 0, 1, 0, 1]),
        # ... never satisfies a multi-frame persistence ...
        ({"persistence": {"frames": 2, "seconds": 100}}, [(100, 1), (90, 1), (95, 1)], [0, 0, 0]),
        # ... and records nothing: persistence and cooldown continue from the newest frame.
        ({"persistence": {"frames": 2, "seconds": 100}}, [(100, 1), (90, 1), (101, 1)], [0, 0, 1]),
        ({"cooldown_seconds": 10}, [(100, 1), (5, 1), (105, 1), (110, 1)], [1, 1, 0, 1]),
    ],
)
def test_late_frames(fields: dict[str, Any], stream: list[tuple[int, int]], expected: list[int]) -> None:
    frames = [frame(ts, *([obj("person")] if m else [])) for ts, m in stream]
    assert fired(one_rule(**fields), frames) == [bool(e) for e in expected]


def test_late_frame_leaves_state_unchanged() -> None:
    ruleset = one_rule(persistence={"frames": 2, "seconds": 100}, cooldown_seconds=5)
    _, state = evaluate(ruleset, frame(100, obj("person")), ThreatState(), rules_version="v")
    _, after = evaluate(ruleset, frame(50, obj("person")), state, rules_version="v")
    assert after.to_dict() == state.to_dict()


def test_evaluate_does_not_mutate_input_state() -> None:
    ruleset = one_rule(persistence={"frames": 2, "seconds": 10})
    _, s1 = evaluate(ruleset, frame(0, obj("person")), ThreatState(), rules_version="v")
    before = json.dumps(s1.to_dict())
    evaluate(ruleset, frame(1, obj("person")), s1, rules_version="v")
    assert json.dumps(s1.to_dict()) == before


def test_memory_of_removed_rules_is_dropped() -> None:
    ruleset = one_rule(persistence={"frames": 5, "seconds": 100})
    _, state = evaluate(ruleset, frame(0, obj("person")), ThreatState(), rules_version="v")
    assert state.to_dict()["devices"]["cam-1"]["rules"]["r"]["hits"] == [0]
    other = RuleSet.model_validate({"version": 1, "rules": [{"id": "s", "classes": ["dog"]}]})
    _, state = evaluate(other, frame(1), state, rules_version="v")
    assert state.to_dict()["devices"]["cam-1"]["rules"] == {}


# ---- events --------------------------------------------------------------------------------------------


def test_event_contents_and_id() -> None:
    ruleset = one_rule(severity="critical", notify=[{"channel": "webhook", "to": "https://x.example/h"}])
    (events,) = run(ruleset, [frame(123, obj("person", 0.875), obj("dog"), tenant="acme")])
    (event,) = events
    assert event.event_id == event_id("v1", "r", "cam-1", 123, "/valid/cam-1/123.jpg")
    d = event.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["objects"] == [{"label": "person", "class_id": 0, "score": 0.875, "box": list(FEET_LOW)}]
    assert d["notify"] == [{"channel": "webhook", "to": "https://x.example/h", "sender": None}]
    assert (d["severity"], d["tenant"], d["rules_version"], d["ts"]) == ("critical", "acme", "v1", 123)


def test_event_id_changes_with_each_identifying_field() -> None:
    base = ("v1", "r", "cam-1", 1, "a.jpg")
    ids = {event_id(*base)}
    for i, value in enumerate(("v2", "s", "cam-2", 2, "b.jpg")):
        changed: list[Any] = list(base)
        changed[i] = value
        ids.add(event_id(*changed))
    assert len(ids) == 6


def test_events_follow_rule_order() -> None:
    ruleset = RuleSet.model_validate(
        {"version": 1, "rules": [{"id": "b", "classes": ["dog"]}, {"id": "a", "classes": ["person"]}]}
    )
    (events,) = run(ruleset, [frame(1, obj("person"), obj("dog"))])
    assert [e.rule_id for e in events] == ["b", "a"]


def test_frame_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        FrameFacts(None, "cam", 1, 0, 480, Detections.empty(), "x.jpg")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({}, "format"),
        ({"format": 1, "devices": {"cam": {"rules": {}}}}, r"devices\.cam"),
        ({"format": 1, "devices": {"cam": {"last_ts": 1, "rules": {"r": {"hits": ["x"]}}}}}, r"devices\.cam"),
    ],
)
def test_state_from_dict_rejects_garbage(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ThreatState.from_dict(data)


# ---- properties ----------------------------------------------------------------------------------------

PROPERTY_RULES = RuleSet.model_validate(
    {
        "version": 1,
        "rules": [
            {
                "id": "persist",
                "classes": ["person"],
                "persistence": {"frames": 3, "seconds": 30},
                "cooldown_seconds": 20,
            },
            {"id": "crowd", "classes": ["person", "car"], "min_count": 2, "min_score": 0.6},
            {"id": "gate", "devices": ["cam-*"], "zones": LOWER_HALF, "cooldown_seconds": 5},
            {
                "id": "night",
                "time_windows": [{"start": "22:00", "end": "06:00"}],
                "persistence": {"frames": 2, "seconds": 600},
            },
        ],
    }
)
STATE_BOUND_PER_DEVICE = 1 + (3 + 1) + 1 + 1 + (2 + 1)  # last_ts + per rule: persistence frames + last fire

objects = st.lists(
    st.tuples(
        st.sampled_from(["person", "car", "dog"]),
        st.floats(0.0, 1.0, width=32),
        st.sampled_from([FEET_LOW, FEET_HIGH]),
    ),
    max_size=4,
)
steps = st.lists(
    st.tuples(st.sampled_from(["cam-1", "cam-2", "door"]), st.integers(-30, 400), objects), max_size=60
)


def build_frames(raw: list[tuple[str, int, list[Obj]]], *, in_order: bool) -> list[FrameFacts]:
    ts, frames = 1_700_000_000, []
    for device, delta, objs in raw:
        ts = ts + abs(delta) if in_order else ts + delta
        frames.append(frame(ts, *objs, device=device))
    return frames


def event_dicts(batches: list[list[ThreatEvent]]) -> list[list[dict[str, Any]]]:
    return [[e.to_dict() for e in batch] for batch in batches]


@settings(max_examples=60, deadline=None)
@given(raw=steps)
def test_evaluate_is_deterministic(raw: list[tuple[str, int, list[Obj]]]) -> None:
    frames = build_frames(raw, in_order=False)  # includes late frames
    assert event_dicts(run(PROPERTY_RULES, frames)) == event_dicts(run(PROPERTY_RULES, frames))


@settings(max_examples=60, deadline=None)
@given(raw=steps, split=st.integers(0, 60))
def test_state_round_trip_gives_identical_events(raw: list[tuple[str, int, list[Obj]]], split: int) -> None:
    frames = build_frames(raw, in_order=False)
    split = min(split, len(frames))
    expected = event_dicts(run(PROPERTY_RULES, frames))
    state, head = ThreatState(), []
    for f in frames[:split]:
        events, state = evaluate(PROPERTY_RULES, f, state, rules_version="v1")
        head.append(events)
    restored = ThreatState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored.to_dict() == state.to_dict()
    tail = run(PROPERTY_RULES, frames[split:], restored)
    assert event_dicts(head) + event_dicts(tail) == expected


@settings(max_examples=20, deadline=None)
@given(raw=st.lists(steps, min_size=5, max_size=10))
def test_state_size_stays_bounded(raw: list[list[tuple[str, int, list[Obj]]]]) -> None:
    frames = build_frames([step for chunk in raw for step in chunk], in_order=True)
    state = ThreatState()
    devices = set()
    for f in frames:
        _, state = evaluate(PROPERTY_RULES, f, state, rules_version="v1")
        devices.add(f.device)
        assert state.size() <= STATE_BOUND_PER_DEVICE * len(devices)


def test_dense_stream_keeps_only_what_persistence_needs() -> None:
    # 5,000 matching frames in one second each: memory stays at `frames` timestamps.
    ruleset = one_rule(persistence={"frames": 3, "seconds": 3600}, cooldown_seconds=10**9)
    state = ThreatState()
    for ts in range(5000):
        _, state = evaluate(ruleset, frame(ts, obj("person")), state, rules_version="v")
    assert state.to_dict()["devices"]["cam-1"]["rules"]["r"] == {"hits": [4997, 4998, 4999], "last_fired": 2}
