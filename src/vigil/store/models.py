"""Plain values the store returns (all JSON-friendly through ``to_dict``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class RepoInfo:
    name: str
    description: str
    created_at: float
    branches: list[str]
    n_commits: int
    readers: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CommitInfo:
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
    provenance: list[str] = field(default_factory=list)  # "repo@commit" this commit derives from

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileInfo:
    path: str
    oid: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ChangeKind = Literal["added", "modified", "deleted"]


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    path: str
    oid: str | None  # new oid (None for deleted)
    old_oid: str | None  # previous oid (None for added)
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Position:
    """Where a commit's files live: its chain and its sequence number (internal to the store)."""

    chain_id: int
    seq: int
    is_tip: bool
