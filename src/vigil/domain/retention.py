"""Retention policies: how long frame bytes are kept, per repo, camera and tenant. Pure: no I/O, no clock.

Only frame BYTES are ever deleted: commits, file entries, hashes, detections, events and the audit log stay,
so what was alerted and why remains provable (an event still names the sha256 of its frame) after the frame
itself is gone. Frames that raised an event can be kept longer than the others (``event_frames_days``; None:
forever).
"""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel, ConfigDict, Field

from vigil.domain.identity import parse_camera

DAY = 86400.0
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


class RetentionPolicy(BaseModel):
    """``retention:`` entries in ``.vigil/vigil.yaml``: e.g. ``{name: frames-30d, frames_days: 30,
    event_frames_days: 365}``. The first policy matching a frame decides for it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    repos: list[str] = Field(default_factory=lambda: ["images", "validate"], min_length=1)
    cameras: list[str] = Field(default_factory=lambda: ["*"], min_length=1)  # fnmatch over camera names
    tenants: list[str] | None = None  # only these tenants' cameras (None: any, cameras without a tenant too)
    frames_days: float = Field(gt=0)
    event_frames_days: float | None = Field(default=None, gt=0)  # None: frames that raised an event stay

    def covers(self, repo: str, camera: str) -> bool:
        """True when this policy governs frames of ``camera`` stored in ``repo``."""
        if repo not in self.repos or not any(fnmatch.fnmatchcase(camera, p) for p in self.cameras):
            return False
        if self.tenants is None:
            return True
        parsed = parse_camera(camera)
        return parsed is not None and parsed[0] in self.tenants

    def expired(self, ts: int, now: float, *, has_event: bool) -> bool:
        """True when a frame captured at ``ts`` is past its keeping time at ``now``."""
        days = self.event_frames_days if has_event else self.frames_days
        return days is not None and now - ts > days * DAY


def first_policy(policies: list[RetentionPolicy], repo: str, camera: str) -> RetentionPolicy | None:
    return next((p for p in policies if p.covers(repo, camera)), None)


__all__ = ["DAY", "FRAME_SUFFIXES", "RetentionPolicy", "first_policy"]
