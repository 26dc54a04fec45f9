"""Live sources as configured: the ``sources:`` list of ``.vigil/vigil.yaml`` (run by ``vigil serve``) and the
options of ``vigil ingest``. Pure: validation only, no I/O.

A source's kind follows from its ``url`` unless given: ``rtsp://`` / ``rtsps://`` a camera stream,
``http://`` / ``https://`` a snapshot URL polled every ``interval``, ``folder:PATH`` or a path ending in ``/`` a
watched folder, any other path a video file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.domain.alerting import Duration
from vigil.domain.identity import parse_camera

SourceKind = Literal["rtsp", "video", "snapshot", "folder"]


def infer_kind(url: str) -> SourceKind:
    """The kind of source ``url`` names (see the module docstring)."""
    lower = url.lower()
    if lower.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if lower.startswith(("http://", "https://")):
        return "snapshot"
    if lower.startswith("folder:") or url.endswith("/"):
        return "folder"
    return "video"


class SourceConfig(BaseModel):
    """One live source: where frames come from, which camera they belong to, how they are sampled and grouped."""

    model_config = ConfigDict(extra="forbid")

    camera: str = Field(description="camera name, [<tenant>-]<device>: frames land at /<camera>/... of the repo")
    url: str = Field(description="rtsp://..., http(s)://... snapshot URL, a video file, or folder:PATH")
    kind: SourceKind | None = None  # inferred from url when not given
    name: str | None = None  # label in /metrics (default: source-<position>); camera names carry tenants
    fps: float | None = Field(default=None, gt=0, description="frames kept per second (None: every frame)")
    interval: Duration = Field(default=1.0, gt=0, description="snapshot URLs: seconds between polls")
    repo: str = "images"
    group_frames: int = Field(default=25, ge=1, le=1000, description="commit after this many frames ...")
    group_seconds: Duration = Field(default=1.0, gt=0, description="... or once the oldest waited this long")
    open_timeout: Duration = Field(default=10.0, gt=0, description="seconds to connect before retrying")
    read_timeout: Duration = Field(default=10.0, gt=0, description="seconds without a frame before reconnecting")
    backoff_max: Duration = Field(default=60.0, gt=0, description="longest wait between reconnects")
    patterns: tuple[str, ...] = ("*.jpg", "*.jpeg", "*.png")  # watched folders: file names taken
    remove: bool = False  # watched folders: delete a file once its frame is committed
    enabled: bool = True

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        if parse_camera(self.camera) is None:
            raise ValueError(f"camera {self.camera!r} is not a camera name: [<tenant>-]<device>, letters, digits, "
                             "'.', '_' (and '-' after the tenant)")
        if self.kind is None:
            self.kind = infer_kind(self.url)
        return self

    @property
    def location(self) -> str:
        """The url without a ``folder:`` prefix."""
        return self.url[len("folder:"):] if self.url.lower().startswith("folder:") else self.url


__all__ = ["SourceConfig", "SourceKind", "infer_kind"]
