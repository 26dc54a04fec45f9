"""Repo paths and ``REPO@REF:PATH`` references: parsing and validation at the boundary."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vigil.errors import UsageError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def check_name(kind: str, name: str) -> str:
    """Validate a repo or branch name: letters, digits, '_', '.', '-' (not first), at most 255 characters."""
    if not _NAME.match(name):
        raise UsageError(
            f"invalid {kind} name {name!r}",
            "use letters, digits, '_', '.' and '-' (not first), at most 255 characters",
        )
    return name


def normalize_path(path: str) -> str:
    """Canonical repo path: leading '/', no empty, '.' or trailing segments. Rejects '..', backslashes, control
    characters and non-UTF-8.

    ``"a//b/./c"`` -> ``"/a/b/c"``; ``""`` and ``"/"`` -> ``"/"`` (the repo root).
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"path {path.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8",
            "rename the file to a UTF-8 name",
        ) from exc
    if "\x00" in path or any(ord(c) < 32 for c in path):
        raise UsageError(f"path {path!r} contains control characters", "rename it without them")
    if "\\" in path:  # refused, not read as a separator: a Windows path pasted here is a mistake, not folders
        raise UsageError(f"path {path!r} contains a backslash", "use '/' between folders and no '\\' in names")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UsageError(f"path {path!r} contains '..'", "repo paths cannot point outside the repo")
    return "/" + "/".join(parts)


def join(base: str, *names: str) -> str:
    return normalize_path("/".join((base, *names)))


@dataclass(frozen=True)
class RepoRef:
    """A parsed ``REPO[@REF][:PATH]``."""

    repo: str
    ref: str | None = None
    path: str | None = None

    @classmethod
    def parse(cls, text: str, *, default_ref: str | None = None) -> RepoRef:
        repo_part, sep, path = text.partition(":")
        repo, at, ref = repo_part.partition("@")
        if not repo:
            raise UsageError(f"missing repo name in {text!r}",
                             "write REPO[@BRANCH|COMMIT][:PATH], e.g. images@master:/cam1")
        check_name("repo", repo)
        if at and not ref:
            raise UsageError(f"empty ref after '@' in {text!r}", "name a branch or commit after '@'")
        return cls(repo, ref or default_ref, normalize_path(path) if sep else None)

    def __str__(self) -> str:
        return self.repo + (f"@{self.ref}" if self.ref else "") + (f":{self.path}" if self.path else "")
