"""Output conflicts: what happens when several datums write one output path.

Two policies, chosen by the transform's kind (``policy_for``):

* ``fail`` (user ``cmd`` and ``python`` transforms): the job fails naming both datums, as Pachyderm does: the
  user's code decides its output paths, so a clash is a bug to fix.
* ``rename`` (built-in stages): a clash is data, not a failure. Cameras re-send frames, clocks repeat seconds,
  a frame arrives as .jpg and .png: each distinct output is kept, once:

  1. a path already committed keeps its owner (first come, first served), and an output that was at a renamed
     path before a reprocess lands there again, so paths and event ids stay stable;
  2. other claimants of a path are taken in order of content (sha256 of their bytes, then datum id): the first
     gets the path, each later one ``<stem>~<first 8 hex of its sha256><.rest>`` (longer if that is taken too);
  3. a claimant whose bytes equal an output already placed for that path is a duplicate: it is recorded in the
     datum's log and writes nothing, so downstream stages see each distinct frame once.

Pure functions over plain values; the job runner supplies the committed owners.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from vigil.errors import PipelineError
from vigil.pipeline.spec import PipelineSpec

Policy = Literal["fail", "rename"]


def policy_for(spec: PipelineSpec) -> Policy:
    return "rename" if spec.transform.kind == "stage" else "fail"


@dataclass(frozen=True, slots=True)
class Claim:
    """A datum's output: the path it wrote, the blob."""

    path: str
    datum_id: str
    oid: str
    size: int


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a claim landed: ``path`` (== ``claim.path`` unless renamed)."""

    path: str
    claim: Claim

    @property
    def renamed(self) -> bool:
        return self.path != self.claim.path


@dataclass
class Resolution:
    placed: dict[str, Placed] = field(default_factory=dict)  # final path -> placement
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # datum id -> notes for its log


def renamed(path: str, oid: str, digits: int = 8) -> str:
    """``/a/b/1511893000.reasons.json`` -> ``/a/b/1511893000~3fa2b1c0.reasons.json``."""
    folder, _, name = path.rpartition("/")
    stem, dot, rest = name.partition(".")
    return f"{folder}/{stem}~{oid[:digits]}{dot}{rest}"


def resolve(claims: Iterable[Claim], existing: Mapping[str, list[tuple[str, str, str]]],
            previous: Mapping[tuple[str, str], str], policy: Policy) -> Resolution:
    """Place every claim. ``existing``: claimed path -> [(path it landed at, oid, datum id)] of committed outputs
    of OTHER datums; ``previous``: (claimed path, oid) -> path it landed at before, for outputs this job replaces.
    ``PipelineError`` under the ``fail`` policy when a path has two writers."""
    by_path: dict[str, list[Claim]] = defaultdict(list)
    for c in claims:
        by_path[c.path].append(c)
    out = Resolution()
    taken = {actual for held in existing.values() for actual, _, _ in held}
    for path in sorted(by_path):
        group = sorted(by_path[path], key=lambda c: (c.oid, c.datum_id))
        held = existing.get(path, [])
        if policy == "fail":
            if len(group) > 1 or held:
                first = held[0][2] if held else group[0].datum_id
                other = group[-1].datum_id if held else group[1].datum_id
                raise PipelineError(f"datums {first[:12]} and {other[:12]} both write {path}",
                                    "make output paths unique per datum (e.g. include the input file name)")
            out.placed[path] = Placed(path, group[0])
            continue
        known = {oid: actual for actual, oid, _ in held}  # bytes already placed for this claimed path
        # outputs that were placed before (a reprocess) go back where they were, first
        group.sort(key=lambda c: previous.get((path, c.oid)) is None)
        for c in group:
            if c.oid in known:
                out.duplicates.setdefault(c.datum_id, []).append(
                    f"duplicate output {path}: the same bytes are already at {known[c.oid]}; not written again")
                continue
            target = _free_target(path, c, previous, taken | out.placed.keys())
            out.placed[target] = Placed(target, c)
            known[c.oid] = target
    return out


def _free_target(path: str, claim: Claim, previous: Mapping[tuple[str, str], str], taken: set[str]) -> str:
    before = previous.get((path, claim.oid))
    candidates = ([before] if before else []) + [path] + [renamed(path, claim.oid, n) for n in (8, 16, 64)]
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    raise PipelineError(f"cannot place output {path} of datum {claim.datum_id[:12]}: every name is taken",
                        "report it: two different blobs share a sha256 prefix of 64 digits")


__all__ = ["Claim", "Placed", "Policy", "Resolution", "policy_for", "renamed", "resolve"]
