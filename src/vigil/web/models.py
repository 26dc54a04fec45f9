"""Request and response bodies of the API (so /openapi.json describes every answer exactly)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FrameAck(BaseModel):
    path: str = Field(description="where the frame is in the images repo")
    sha256: str
    size: int
    commit: str = Field(description="the images commit holding it (durable when this reply is sent)")


class PushReply(BaseModel):
    camera: str
    frames: list[FrameAck]


class EventOut(BaseModel):
    """A threat event as the threat stage wrote it, plus its camera, record path and feedback."""

    model_config = ConfigDict(extra="allow")
    event_id: str
    rule_id: str
    rules_version: str
    severity: str
    tenant: str | None
    device: str
    camera: str
    ts: int
    source: str
    threat_path: str
    objects: list[dict[str, Any]]
    feedback: dict[str, Any] | None = None


class EventPageOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null at the end")


class EventDetailOut(EventOut):
    reason: dict[str, Any]
    lineage: dict[str, Any]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["true_positive", "false_positive"] | None = None
    note: str = Field(default="", max_length=2000)
    reviewed: bool = True


class FeedbackOut(BaseModel):
    event_id: str
    verdict: str | None
    reviewed: bool
    note: str
    by: str
    at: float
    camera: str
    tenant: str | None
    rule_id: str
    commit: str


class SourceStatsOut(BaseModel):
    """A live source this server runs for the camera (``sources:`` in vigil.yaml) and what it did so far."""

    name: str
    kind: str
    state: str
    frames_in: int
    frames_out: int
    committed: int
    reconnects: int
    stalls: int
    errors: int
    restarts: int
    fps_in: float
    fps_out: float
    last_frame: float | None
    last_error: str | None


class CameraOut(BaseModel):
    camera: str
    tenant: str | None
    frames: int
    last_ts: int | None
    last_frame: str | None
    sources: list[SourceStatsOut] = []


class PrecisionRow(BaseModel):
    model_config = ConfigDict(extra="allow")
    events: int
    reviewed: int
    true_positive: int
    false_positive: int
    precision: float | None


class DailyRow(BaseModel):
    day: int = Field(description="unix seconds of the UTC day's start")
    camera: str
    severity: str
    events: int


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["admin", "operator", "viewer", "camera"]
    tenant: str | None = None
    cameras: list[str] = Field(default_factory=list, max_length=100)
    name: str = Field(default="", max_length=255)


class TokenOut(BaseModel):
    id: str
    role: str
    tenant: str | None
    cameras: list[str]
    name: str
    created_at: float
    revoked_at: float | None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret token: shown once, stored nowhere")


class CommitOut(BaseModel):
    id: str
    seq: int
    repo: str
    branch: str
    parent: str | None
    created_at: float
    description: str
    origin: str
    n_added: int
    n_modified: int
    n_deleted: int
    bytes_added: int
    provenance: list[str]


class ChangeOut(BaseModel):
    kind: str
    path: str
    oid: str | None
    old_oid: str | None
    size: int


class CommitDetailOut(BaseModel):
    commit: CommitOut
    changes: list[ChangeOut]


class FileOut(BaseModel):
    path: str
    oid: str
    size: int


class RepoOut(BaseModel):
    name: str
    description: str
    created_at: float
    branches: list[str]
    n_commits: int
    readers: list[str]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
