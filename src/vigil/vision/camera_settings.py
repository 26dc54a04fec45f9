"""Settings with per-camera overrides: one base model, and ``cameras`` mapping device globs to field changes.

Validate's thresholds and motion gating share this shape (``cameras: {"night-*": {"min_brightness": 2}}``):
every matching glob's overrides apply in order, later ones win, and each override is validated when the
settings are built, so a typo fails at pipeline creation rather than on the first frame of that camera.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

_MAX_CACHED = 4096  # device names come from uploads: the per-device cache stays bounded


def first_error(exc: ValidationError) -> str:
    """``loc: message`` of a pydantic error's first problem."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(root)"
    return f"{loc}: {err['msg']}"


class CameraOverrides(BaseModel):
    """Base of settings that cameras can override; subclasses add their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cameras: dict[str, dict[str, Any]] = Field(default_factory=dict)
    _per_device: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check_overrides(self) -> Self:
        for glob, override in self.cameras.items():
            if "cameras" in override:
                raise ValueError(f"cameras[{glob!r}]: overrides cannot nest 'cameras'")
            try:
                self._with(override)
            except ValidationError as exc:
                raise ValueError(f"cameras[{glob!r}]: {first_error(exc)}") from None
        return self

    def _with(self, override: dict[str, Any]) -> Self:
        return type(self).model_validate({**self.model_dump(exclude={"cameras"}), **override})

    def for_device(self, device: str) -> Self:
        """The settings of one camera: every matching ``cameras`` entry applied in order (later wins).

        The result has no ``cameras`` map of its own; ``self`` is returned when nothing matches.
        """
        if not self.cameras:
            return self
        cached: Self | None = self._per_device.get(device)
        if cached is None:
            merged: dict[str, Any] = {}
            for glob, override in self.cameras.items():
                if fnmatchcase(device, glob):
                    merged.update(override)
            cached = self._with(merged) if merged else self
            if len(self._per_device) < _MAX_CACHED:
                self._per_device[device] = cached
        return cached


__all__ = ["CameraOverrides", "first_error"]
