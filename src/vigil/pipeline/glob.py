"""Pachyderm glob semantics over file paths: which datum root each file of an input belongs to.

A glob is matched against *paths* (files and the directories implied by them), never against file contents.
Paths always start with ``/``. The rules, as in Pachyderm:

- ``/`` is one datum holding every file;
- ``/*`` is one datum per top-level entry: a file, or a directory with everything below it;
- ``/*/*`` is one datum per second-level entry, and so on: without ``**`` a pattern of *d* segments matches
  paths of exactly *d* segments, so every file falls in at most one datum;
- ``*`` matches within one segment (never ``/``), ``?`` one character, ``[abc]`` / ``[a-z]`` / ``[!a]`` one
  character of a class, ``{jpg,png}`` one of the alternatives (within a segment), ``\\x`` a literal ``x``;
- ``(`` ... ``)`` capture the text they match: captures are numbered ``$1``, ``$2`` ... in order of their
  opening parenthesis and feed ``join_on`` / ``group_by``. Example: ``/(*)-(*).jpg`` on ``/cam1-0001.jpg``
  captures ``("cam1", "0001")``.

``**`` (Vigil's choice, documented): it matches any run of characters including ``/``, and a pattern
containing it matches **files only**, so ``/**`` is one datum per file at any depth and ``/a/**/*.jpg`` one
datum per JPEG below ``/a``. Pachyderm also matches every intermediate directory for ``/**``, which puts a
file in several overlapping datums and processes it several times; Vigil never does that. ``/**/`` also
matches zero directories (``/a/**/b`` matches ``/a/b``).

A pattern that matches nothing yields no roots; reporting that (Pachyderm #1656) is the planner's job.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

__all__ = ["GlobPattern", "GlobSyntaxError", "compile_glob", "expand_template", "template_refs"]

_REF = re.compile(r"\$(\d+)")


class GlobSyntaxError(ValueError):
    """The glob pattern cannot be parsed; the message says where and why."""


class _Translator:
    """Translate one normalised glob into a regular expression, counting segments and capture groups."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.out: list[str] = []
        self.groups = 0
        self.depth = 0
        self.recursive = False
        self._open = 0
        self._braces = 0

    def fail(self, why: str, at: int) -> GlobSyntaxError:
        return GlobSyntaxError(f"bad glob {self.p!r}: {why} at position {at}")

    def run(self) -> str:
        i = 0
        while i < len(self.p):
            i = self._step(i)
        if self._open:
            raise self.fail("unbalanced '(' (missing ')')", len(self.p))
        if self._braces:
            raise self.fail("unterminated '{'", len(self.p))
        return "".join(self.out)

    def _step(self, i: int) -> int:
        c = self.p[i]
        if c == "*":
            return self._star(i)
        if c == "?":
            self.out.append("[^/]")
        elif c == "[":
            return self._char_class(i)
        elif c == "(":
            self.groups += 1
            self._open += 1
            self.out.append("(")
        elif c == ")":
            if not self._open:
                raise self.fail("unbalanced ')'", i)
            self._open -= 1
            self.out.append(")")
        elif c == "{":
            self._braces += 1
            self.out.append("(?:")
        elif c == "}" and self._braces:
            self._braces -= 1
            self.out.append(")")
        elif c == "," and self._braces:
            self.out.append("|")
        elif c == "\\":
            if i + 1 >= len(self.p) or self.p[i + 1] == "/":
                raise self.fail("'\\' must escape a character other than '/'", i)
            self.out.append(re.escape(self.p[i + 1]))
            return i + 2
        elif c == "/":
            if self._braces:
                raise self.fail("'/' inside '{...}'", i)
            self.depth += 1
            self.out.append("/")
        else:
            self.out.append(re.escape(c))
        return i + 1

    def _star(self, i: int) -> int:
        if not self.p.startswith("**", i):
            self.out.append("[^/]*")
            return i + 1
        self.recursive = True
        if self.p[i - 1] == "/" and self.p.startswith("/", i + 2):
            self.out.append("(?:.*/)?")  # "/**/" also matches no directory at all
            return i + 3
        self.out.append(".*")
        return i + 2

    def _char_class(self, i: int) -> int:
        j = i + 1
        negate = j < len(self.p) and self.p[j] in "!^"
        if negate:
            j += 1
        start = j
        if j < len(self.p) and self.p[j] == "]":
            j += 1  # a leading ']' is a literal member
        end = self.p.find("]", j)
        if end < 0:
            raise self.fail("unterminated '['", i)
        members = self.p[start:end]
        if "/" in members:
            raise self.fail("'/' inside '[...]'", i)
        body = "".join("\\" + ch if ch in "\\^[]" else ch for ch in members)
        self.out.append(f"[^/{body}]" if negate else f"[{body}]")
        return end + 1


def _normalise(pattern: str) -> str:
    if not pattern.strip():
        raise GlobSyntaxError("bad glob '': empty pattern (use '/' for one datum holding everything)")
    norm = pattern if pattern.startswith("/") else "/" + pattern
    if len(norm) > 1 and norm.endswith("/"):
        norm = norm.rstrip("/") or "/"
    if "//" in norm:
        raise GlobSyntaxError(f"bad glob {pattern!r}: empty path segment '//'")
    if any(seg in (".", "..") for seg in norm.split("/")):
        raise GlobSyntaxError(f"bad glob {pattern!r}: '.' and '..' segments are not allowed")
    return norm


class GlobPattern:
    """A compiled Pachyderm glob. Raises :class:`GlobSyntaxError` for a malformed pattern.

    Attributes: ``pattern`` (as given), ``group_count`` (number of capture groups), ``recursive`` (contains
    ``**``: matches files only), ``depth`` (segments matched when not recursive; 0 for ``/``).
    """

    __slots__ = ("_cache", "_regex", "depth", "group_count", "pattern", "recursive")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        norm = _normalise(pattern)
        tr = _Translator(norm)
        source = tr.run()
        try:
            self._regex = re.compile(source, re.DOTALL)
        except re.error as exc:  # e.g. a reversed range "[z-a]"
            raise GlobSyntaxError(f"bad glob {pattern!r}: {exc}") from exc
        self.group_count = tr.groups
        self.recursive = tr.recursive
        self.depth = 0 if norm == "/" else tr.depth
        self._cache: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"GlobPattern({self.pattern!r})"

    def _matches(self, candidate: str) -> bool:
        hit = self._cache.get(candidate)
        if hit is None:
            hit = self._regex.fullmatch(candidate) is not None
            if len(self._cache) < 65536:  # many files share a directory root; bound the memo
                self._cache[candidate] = hit
        return hit

    def root_of(self, path: str) -> str | None:
        """The datum root of file ``path`` (starting with '/'), or None if the glob skips the file."""
        if not path.startswith("/"):
            raise ValueError(f"path {path!r} must start with '/'")
        if self.recursive:
            return path if self._regex.fullmatch(path) else None
        if self.depth == 0:
            return "/"
        segments = path[1:].split("/")
        if len(segments) < self.depth:
            return None
        root = "/" + "/".join(segments[: self.depth])
        return root if self._matches(root) else None

    def datum_roots(self, paths: Iterable[str]) -> dict[str, list[str]]:
        """Map each datum root to the sorted files under it; roots in sorted order; files matching no root
        are left out. An empty result means the glob matched nothing."""
        groups: dict[str, list[str]] = {}
        for path in paths:
            root = self.root_of(path)
            if root is not None:
                groups.setdefault(root, []).append(path)
        return {root: sorted(groups[root]) for root in sorted(groups)}

    def captures(self, root: str) -> tuple[str, ...]:
        """The capture groups' text for a datum root (``$1`` first); ``()`` when the root does not match.
        A group that took no part in the match (inside an unused ``{a,b}`` branch) captures ''."""
        match = self._regex.fullmatch(root)
        if match is None:
            return ()
        return tuple(g or "" for g in match.groups())


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> GlobPattern:
    """A shared compiled :class:`GlobPattern` (patterns are few; paths are many)."""
    return GlobPattern(pattern)


def template_refs(template: str) -> list[int]:
    """The capture numbers a ``join_on`` / ``group_by`` template refers to: ``"$1-$2"`` -> ``[1, 2]``."""
    return [int(m) for m in _REF.findall(template)]


def expand_template(template: str, captures: tuple[str, ...]) -> str:
    """Replace each ``$N`` in ``template`` by capture N (1-based). Raises IndexError for a missing group."""

    def sub(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if not 1 <= n <= len(captures):
            raise IndexError(f"{template!r} refers to ${n} but only {len(captures)} capture(s) exist")
        return captures[n - 1]

    return _REF.sub(sub, template)
