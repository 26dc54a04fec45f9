"""Motion analysis on synthetic scenes (a textured background, a moving block, exposure ramps) and on frames of
the shared car-park clip; settings and their per-camera overrides."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.errors import SpecError
from vigil.vision.motion import (
    MotionSettings,
    Thumb,
    ThumbnailCache,
    _median,
    analyse,
    image_size,
    pick_samples,
    similarity,
    thumbnail_from_bytes,
)

RNG = np.random.default_rng(7)
SCENE = cv2.GaussianBlur(RNG.integers(0, 255, (100, 178), dtype=np.uint8), (5, 5), 2)  # a textured view


def frames(n: int, *, block_at: dict[int, int] | None = None, gain: float = 0.0) -> list[Thumb]:
    """``n`` one-second frames of SCENE with sensor noise; ``block_at[i] = x`` paints a dark 20x20 block at x
    in frame i; ``gain`` brightens frame i by ``i * gain`` grey levels (an exposure ramp)."""
    out = []
    for i in range(n):
        img = SCENE.astype(np.int16) + RNG.integers(-2, 3, SCENE.shape) + round(i * gain)
        if block_at and i in block_at:
            x = block_at[i]
            img[40:60, x:x + 20] = 20
        out.append(Thumb(1_700_000_000 + i, f"oid{i}", np.clip(img, 0, 255).astype(np.uint8)))
    return out


@pytest.mark.parametrize(("seq", "reason"), [
    (frames(8), "no_motion"),
    (frames(8, block_at={7: 80}), "motion"),
    (frames(8, gain=4.0), "no_motion"),  # 28 grey levels of exposure ramp: gain and offset, not motion
])
def test_verdicts(seq: list[Thumb], reason: str) -> None:
    verdict = analyse(seq[-1], seq[:-1], MotionSettings(keepalive_seconds=0))
    assert verdict.reason == reason
    assert verdict.detect == (reason != "no_motion")
    if reason == "motion":
        box = max(verdict.boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        assert box[0] <= 80 / 178 <= 100 / 178 <= box[2] and box[1] <= 0.4 and box[3] >= 0.6


def test_first_frame_disabled_light_change_and_keepalive() -> None:
    seq = frames(6)
    assert analyse(seq[0], [], MotionSettings()).reason == "first_frame"
    assert analyse(seq[-1], seq[:-1], MotionSettings(enabled=False)).reason == "disabled"
    inverted = Thumb(seq[-1].ts, "inv", (255 - seq[-1].grey).astype(np.uint8))
    assert analyse(inverted, seq[:-1], MotionSettings()).reason == "light_change"
    # keepalive: the first frame in each 10-second bucket is detected even when nothing moved
    quiet = frames(25)
    reasons = [analyse(t, quiet[max(0, i - 10):i], MotionSettings()).reason for i, t in enumerate(quiet)]
    assert reasons[0] == "first_frame"
    keep = [quiet[i].ts for i, r in enumerate(reasons) if r == "keepalive"]
    assert keep == [t for t in (q.ts for q in quiet[1:]) if t % 10 == 0]
    assert set(reasons[1:]) == {"no_motion", "keepalive"}


def test_an_object_that_passed_through_the_lookback_is_not_motion_now() -> None:
    seq = frames(9, block_at={2: 30, 3: 50})  # the median of the samples leaves a transient object out
    verdict = analyse(seq[-1], seq[:-1], MotionSettings(keepalive_seconds=0))
    assert verdict.reason == "no_motion", verdict


def test_scene_facts_for_health() -> None:
    seq = frames(6)
    v = analyse(seq[-1], seq[:-1], MotionSettings())
    assert v.prev_delta is not None and 0 < v.prev_delta < 3
    assert not v.same_as_prev and v.similarity is not None and v.similarity > 0.8
    frozen = analyse(Thumb(seq[-1].ts, seq[-2].oid, seq[-2].grey), seq[:-1], MotionSettings())
    assert frozen.same_as_prev and frozen.prev_delta == 0.0
    moved = Thumb(seq[-1].ts, "moved", np.roll(seq[-1].grey, 40, axis=1))
    assert analyse(moved, seq[:-1], MotionSettings()).similarity < 0.3


@given(st.lists(st.integers(0, 255), min_size=1, max_size=9))
@settings(max_examples=60, deadline=None)
def test_median_network_matches_numpy(values: list[int]) -> None:
    stack = [np.full((2, 3), v, np.uint8) for v in values]
    kept = values[len(values) % 2 == 0:] if len(values) > 1 else values
    assert int(_median(stack)[0, 0]) == int(np.median(kept))


def test_pick_samples_spreads_over_the_window() -> None:
    seq = frames(10)
    assert [t.ts - seq[0].ts for t in pick_samples(seq, 4)] == [0, 3, 6, 9]
    assert pick_samples(seq[:3], 5) == seq[:3]
    assert pick_samples(seq, 1) == [seq[-1]]


def test_similarity_is_one_for_the_same_view_and_tolerates_light() -> None:
    assert similarity(SCENE, SCENE) == pytest.approx(1.0)
    brighter = cv2.convertScaleAbs(SCENE, alpha=0.6, beta=60)
    assert similarity(SCENE, brighter) > 0.95


def test_thumbnails_of_jpeg_bytes_use_dct_scaling_and_cache() -> None:
    big = cv2.resize(SCENE, (1280, 720))
    data = cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_GRAY2BGR))[1].tobytes()
    assert image_size(data) == (1280, 720)
    assert image_size(cv2.imencode(".png", big)[1].tobytes()) == (1280, 720)
    thumb = thumbnail_from_bytes(data, 100)
    assert thumb.shape == (100, 178)
    cache = ThumbnailCache(max_items=2)
    made = []
    for oid in ("a", "a", "b", "c", "a"):
        cache.get(oid, 100, lambda: made.append(1) or thumb.copy())
    assert len(made) == 4 and (cache.hits, cache.misses) == (1, 4)  # "a" was evicted by "b" and "c"


@pytest.mark.parametrize(("data", "where"), [
    ({"threshold": 0}, "threshold"),
    ({"cameras": {"lobby*": {"samples": 0}}}, "cameras['lobby*']: samples"),
    ({"frame_hieght": 100}, "frame_hieght"),
])
def test_settings_errors_name_the_key(data: dict[str, object], where: str) -> None:
    with pytest.raises(SpecError, match=r"motion settings: .*" + re.escape(where)):
        MotionSettings.parse(data)


def test_per_camera_overrides() -> None:
    s = MotionSettings.parse({"cameras": {"lobby*": {"enabled": False}, "lobby2": {"threshold": 50}}})
    assert s.for_device("door").enabled and s.for_device("door") is s
    assert not s.for_device("lobby1").enabled
    assert (s.for_device("lobby2").enabled, s.for_device("lobby2").threshold) == (False, 50)


def test_car_park_clip_quiet_stretch_is_no_motion_and_the_car_is_motion(car_park: list[bytes]) -> None:
    thumbs = [Thumb(i, str(i), thumbnail_from_bytes(d, 100)) for i, d in enumerate(car_park)]
    s = MotionSettings(keepalive_seconds=0)
    verdicts = {i: analyse(thumbs[i], thumbs[i - 10:i], s) for i in (30, 40, 80, 90, 140, 150)}
    assert [verdicts[i].reason for i in (30, 40, 140, 150)] == ["no_motion"] * 4  # empty car park
    assert [verdicts[i].reason for i in (80, 90)] == ["motion"] * 2  # a car drives through
