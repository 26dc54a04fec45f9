"""Per-camera detector input size settings: the forms a size takes, aspect matching, globs, clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.errors import SpecError
from vigil.vision.input_size import Aspect, InputSizeSettings, aspect_matched, resolve


@pytest.mark.parametrize(("longest", "frame", "expected"), [
    (416, (768, 576), (416, 320)),  # PETS 4:3: 312 rounded up to 320
    (416, (416, 416), (416, 416)),
    (640, (1920, 1080), (640, 384)),  # 16:9: 360 -> 384
    (640, (640, 480), (640, 480)),
    (640, (1200, 720), (640, 384)),
    (416, (480, 640), (320, 416)),  # portrait: the height is the longer side
    (416, (4000, 100), (416, 32)),  # never below one stride
])
def test_aspect_matched(longest: int, frame: tuple[int, int], expected: tuple[int, int]) -> None:
    got = aspect_matched(longest, frame)
    assert got == expected and got[0] % 32 == 0 and got[1] % 32 == 0


@pytest.mark.parametrize(("param", "device", "expected"), [
    (None, "cam1", (416, 416)),  # unset: the model's own size
    (640, "cam1", (640, 640)),
    ([640, 352], "cam1", (640, 352)),
    ({"aspect": 640}, "cam1", (640, 480)),
    ({"default": 416, "cameras": {"hwy*": [640, 352]}}, "hwy-north", (640, 352)),
    ({"default": 416, "cameras": {"hwy*": [640, 352]}}, "lobby", (416, 416)),
    ({"cameras": {"hwy*": {"aspect": 640}}}, "lobby", (416, 416)),
    ({"cameras": {"hwy*": {"aspect": 640}, "hwy-n*": 320}}, "hwy-north", (320, 320)),  # the last match wins
    ({"default": {"aspect": 416}}, "any", (416, 320)),
])
def test_size_for_a_frame(param: Any, device: str, expected: tuple[int, int]) -> None:
    settings = InputSizeSettings.parse(param)
    assert settings.for_frame(device, (640, 480), (416, 416)) == expected
    assert settings.is_default == (param is None)


@pytest.mark.parametrize(("param", "match"), [
    (400, r"input_size: default: Value error, 400 is not a multiple of 32"),
    ([640, 350], r"350 is not a multiple of 32"),
    ({"default": 416, "camera": {}}, r"camera: Extra inputs are not permitted"),
    ({"cameras": {"hwy*": {"aspect": 650}}}, r"cameras\.hwy\*"),
    ({"aspect": 640, "other": 1}, r"is not a size"),
    ([640, 352, 3], r"default: Value error, \[640, 352, 3\] is not a size"),
])
def test_bad_settings_name_the_key(param: Any, match: str) -> None:
    with pytest.raises(SpecError, match=match) as info:
        InputSizeSettings.parse(param)
    assert str(info.value).startswith("detect stage params.input_size: ")
    assert "multiples of 32" in (info.value.hint or "")


def test_resolve_forms() -> None:
    assert resolve(416, (1, 1)) == (416, 416)
    assert resolve((640, 352), (1, 1)) == (640, 352)
    assert resolve(Aspect(aspect=416), (768, 576)) == (416, 320)
