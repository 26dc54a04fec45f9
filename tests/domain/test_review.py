"""Bursts of the review screen and a camera's liveness: pure functions, table-driven and property-tested."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.domain.review import BURST_GAP, group_bursts, liveness


def ev(camera: str, ts: int, severity: str = "low") -> dict[str, object]:
    return {"camera": camera, "ts": ts, "severity": severity}


def test_bursts_split_on_camera_change_and_on_a_long_gap() -> None:
    events = [ev("a", 1000, "high"), ev("a", 950), ev("b", 940), ev("a", 930), ev("a", 930 - BURST_GAP - 1)]
    bursts = group_bursts(events)
    assert [(b.camera, len(b.events)) for b in bursts] == [("a", 2), ("b", 1), ("a", 1), ("a", 1)]
    assert (bursts[0].first_ts, bursts[0].last_ts, bursts[0].severity) == (950, 1000, "high")


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 2000)), max_size=40))
def test_bursts_keep_every_event_in_order_and_each_burst_is_one_camera(pairs: list[tuple[str, int]]) -> None:
    events = [ev(c, t) for c, t in sorted(pairs, key=lambda p: -p[1])]
    bursts = group_bursts(events)
    assert [e for b in bursts for e in b.events] == events
    for b in bursts:
        assert {e["camera"] for e in b.events} == {b.camera}
        assert all(int(x["ts"]) - int(y["ts"]) <= BURST_GAP for x, y in zip(b.events, b.events[1:], strict=False))


@pytest.mark.parametrize(("recent", "now", "state", "interval"), [
    ([], 100, "unknown", None),
    ([0, 10, 20, 30], 40, "ok", 10.0),
    ([0, 10, 20, 30], 30 + 61, "late", 10.0),  # 3 intervals are 30 s, but "late" needs at least a minute
    ([0, 10, 20, 30], 30 + 301, "offline", 10.0),
    ([0, 600, 1200], 1200 + 1801, "late", 600.0),  # a slow camera: 3 intervals of 10 min
    ([0, 600, 1200], 1200 + 6001, "offline", 600.0),
    ([500], 500 + 200, "late", None),  # one frame: judged against the minimums
])
def test_liveness_by_the_cameras_usual_interval(recent: list[int], now: int, state: str,
                                                 interval: float | None) -> None:
    assert liveness(recent, now) == (state, interval)
