"""Offline and recovery as a pure function of frame times, the usual interval and ``now``; per-frame runs."""

from __future__ import annotations

import textwrap

from vigil.domain.health import CameraSeen, SceneFacts, health_events, offline_events, usual_interval
from vigil.domain.rules import parse_ruleset

RULES = parse_ruleset(textwrap.dedent("""\
    version: 1
    rules:
      - id: offline
        health: {condition: offline, offline_factor: 5, min_offline_seconds: 30}
        severity: critical
      - id: frozen
        devices: [cam1]
        health: {condition: frozen, frames: 3, seconds: 60}
    """), "rules.yaml")
T0 = 1_700_000_000
EVERY_10S = tuple(range(T0, T0 + 300, 10))  # a frame every 10 s, the last at T0 + 290


def test_usual_interval_is_the_median_gap() -> None:
    assert usual_interval(EVERY_10S) == 10.0
    assert usual_interval((*EVERY_10S, T0 + 1000)) == 10.0  # one outage does not move it
    assert usual_interval((T0,)) is None


def test_offline_fires_after_the_threshold_with_one_id_per_outage() -> None:
    cam = CameraSeen(None, "cam1", EVERY_10S)
    assert offline_events(RULES, cam, T0 + 290 + 50, rules_version="v") == []  # 50 s < 5 x 10 s
    first = offline_events(RULES, cam, T0 + 290 + 51, rules_version="v")
    later = offline_events(RULES, cam, T0 + 290 + 500, rules_version="v")
    assert [(e.rule_id, e.extra["state"]) for e in first] == [("offline", "started")]
    assert first[0].event_id == later[0].event_id, "the same outage: the same event (the outbox sends it once)"
    assert first[0].objects == () and first[0].severity == "critical" and first[0].ts == T0 + 290


def test_recovery_names_the_outage_and_is_stable() -> None:
    back = CameraSeen(None, "cam1", (*EVERY_10S, T0 + 900, T0 + 910))
    events = offline_events(RULES, back, T0 + 915, rules_version="v")
    assert [(e.extra["state"], e.ts, e.extra["last_seen"]) for e in events] == [("recovered", T0 + 900, T0 + 290)]
    assert offline_events(RULES, back, T0 + 918, rules_version="v")[0].event_id == events[0].event_id
    assert offline_events(RULES, CameraSeen(None, "cam1", EVERY_10S), T0 + 295, rules_version="v") == []


def test_per_frame_run_starts_once_and_recovers_once() -> None:
    def frame(i: int, frozen: bool) -> SceneFacts:
        return SceneFacts(None, "cam1", T0 + i, f"/cam1/{T0 + i}.json", "no_motion", same_as_prev=frozen)

    flags = [False, True, True, True, True, True, False, False]
    seq = [frame(i, f) for i, f in enumerate(flags)]
    fired = [(i, [(e.rule_id, e.extra["state"]) for e in health_events(RULES, seq[: i + 1], rules_version="v")])
             for i in range(len(seq))]
    assert [f for f in fired if f[1]] == [(3, [("frozen", "started")]), (6, [("frozen", "recovered")])]
    other = [SceneFacts(None, "cam2", s.ts, s.source, s.reason, s.same_as_prev) for s in seq]
    assert all(not health_events(RULES, other[: i + 1], rules_version="v") for i in range(len(other)))
