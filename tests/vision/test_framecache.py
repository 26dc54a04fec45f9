"""The decoded-frame cache: bounded by bytes, least recently used out first, read-only frames, same pixels."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.vision import framecache
from vigil.vision.framecache import FrameCache
from vigil.vision.image import decode_image, encode_jpeg


def frame(value: int, side: int = 10) -> np.ndarray:
    return np.full((side, side, 3), value, np.uint8)  # 300 bytes at side 10


def test_evicts_least_recently_used_once_over_budget() -> None:
    cache = FrameCache(max_bytes=900)
    for oid in "abc":
        cache.put(oid, frame(1))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", frame(2))
    assert cache.get("b") is None and cache.get("a") is not None
    assert len(cache) == 3 and cache.bytes == 900


def test_replacing_a_frame_keeps_the_byte_count_right() -> None:
    cache = FrameCache(max_bytes=10_000)
    cache.put("a", frame(1))
    cache.put("a", frame(2, side=20))
    assert len(cache) == 1 and cache.bytes == 1200


def test_frames_are_read_only_and_oversize_ones_are_not_kept() -> None:
    cache = FrameCache(max_bytes=500)
    small = frame(3)
    cache.put("s", small)
    with pytest.raises(ValueError):
        small[0, 0, 0] = 9
    cache.put("big", frame(4, side=20))
    assert cache.get("big") is None and cache.get("s") is small


def test_a_zero_budget_keeps_nothing() -> None:
    cache = FrameCache(max_bytes=0)
    cache.put("a", frame(1))
    assert cache.get("a") is None and len(cache) == 0


def test_decoded_is_the_cached_frame_or_the_same_decode() -> None:
    data = encode_jpeg(np.random.default_rng(7).integers(0, 255, (48, 64, 3), dtype=np.uint8), 90)
    cache = FrameCache(max_bytes=1 << 20)
    reads: list[int] = []

    def read() -> bytes:
        reads.append(1)
        return data

    miss = cache.decoded("x", read)
    assert np.array_equal(miss, decode_image(data)) and reads == [1] and len(cache) == 0  # a miss is not kept
    cache.put("x", decode_image(data))
    hit = cache.decoded("x", read)
    assert np.array_equal(hit, miss) and reads == [1]
    assert (cache.hits, cache.misses) == (1, 1)
    cache.clear()
    assert (len(cache), cache.bytes, cache.hits, cache.misses) == (0, 0, 0, 0)


def test_the_shared_cache_is_one_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framecache, "_shared", None)
    monkeypatch.setenv(framecache.ENV, "1")
    first = framecache.shared_frames()
    assert first is framecache.shared_frames() and first.max_bytes == 1 << 20
