"""Per-camera detector input size: larger inputs for cameras whose objects are small and far away.

A size is ``416`` (square), ``[640, 352]`` (width, height), or ``{aspect: 640}``: the frame's longer side
becomes 640 network pixels and the shorter one follows the frame's aspect, rounded up to a multiple of 32 (no
letterbox padding wasted on a 16:9 frame; 1920x1080 -> 640x384, 768x576 at 416 -> 416x320). Sizes are
multiples of 32, YOLOX's largest stride. On the shared evaluation sets an aspect-matched 640 input raised
distant-object AP50 by about a fifth at ~1.6x the inference cost (benchmarks/README.md).

Detect stage params: ``input_size: {default: 416, cameras: {"hwy*": {aspect: 640}}}`` (globs match the device
name, as motion settings do, and the last matching glob wins), or a bare size as shorthand for ``default``.
No setting (the default) runs the model at its own size.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from vigil.errors import SpecError
from vigil.vision.camera_settings import first_error

STEP = 32  # YOLOX's largest stride: its grids need both sides to be multiples of it
_MAX = 4096


def _side(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not STEP <= v <= _MAX or v % STEP:
        raise ValueError(f"{v!r} is not a multiple of {STEP} in {STEP}..{_MAX}")
    return v


class Aspect(BaseModel):
    """Aspect-matched size: the frame's longer side becomes ``aspect`` network pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aspect: int


def _size(v: Any) -> int | tuple[int, int] | Aspect:
    """A size param in one of its three forms; ``ValueError`` saying which forms exist otherwise."""
    if isinstance(v, Aspect):
        return v
    if isinstance(v, dict) and set(v) == {"aspect"}:
        return Aspect(aspect=_side(v["aspect"]))
    if isinstance(v, list | tuple) and len(v) == 2:
        return _side(v[0]), _side(v[1])
    if isinstance(v, int) and not isinstance(v, bool):
        return _side(v)
    raise ValueError(f"{v!r} is not a size: use 416, [640, 352] (width, height) or {{aspect: 640}}")


SizeSpec = Annotated[int | tuple[int, int] | Aspect, PlainValidator(_size)]


def aspect_matched(longest: int, frame: tuple[int, int]) -> tuple[int, int]:
    """(width, height) whose longer side is ``longest`` and whose other side keeps ``frame``'s (width, height)
    aspect, rounded up to a multiple of 32 (never below 32)."""
    w, h = frame
    short = max(STEP, -(-longest * min(w, h) // (max(w, h) * STEP)) * STEP)
    short = min(short, longest)
    return (longest, short) if w >= h else (short, longest)


def resolve(spec: SizeSpec, frame: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) network input ``spec`` asks for, for a frame of (width, height)."""
    if isinstance(spec, Aspect):
        return aspect_matched(spec.aspect, frame)
    if isinstance(spec, int):
        return spec, spec
    return spec


class InputSizeSettings(BaseModel):
    """The detect stage's ``input_size`` param: a default and per-camera (device glob) sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: SizeSpec | None = Field(default=None, description="None: the model's own input size")
    cameras: dict[str, SizeSpec] = Field(default_factory=dict)

    @classmethod
    def parse(cls, data: Any, where: str = "detect stage params.input_size") -> InputSizeSettings:
        """From a param value (None, a size, or ``{default, cameras}``); :class:`SpecError` naming ``where``."""
        if data is None:
            return cls()
        if not isinstance(data, dict) or "aspect" in data:
            data = {"default": data}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{where}: {first_error(exc)}",
                            "sizes are 416, [640, 352] (width, height) or {aspect: 640}, multiples of 32") from None

    @property
    def is_default(self) -> bool:
        return self.default is None and not self.cameras

    def spec_for(self, device: str) -> SizeSpec | None:
        """The size spec of one camera: the last matching ``cameras`` glob, else ``default``."""
        found = self.default
        for glob, spec in self.cameras.items():
            if fnmatchcase(device, glob):
                found = spec
        return found

    def for_frame(self, device: str, frame: tuple[int, int], own: tuple[int, int]) -> tuple[int, int]:
        """The (width, height) to run a (width, height) ``frame`` of ``device`` at; ``own`` when unset."""
        spec = self.spec_for(device)
        return own if spec is None else resolve(spec, frame)


__all__ = ["STEP", "Aspect", "InputSizeSettings", "SizeSpec", "aspect_matched", "resolve"]
