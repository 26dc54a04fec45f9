"""Datums: the units of work a pipeline's input tree yields, and their stable ids.

Pure functions over plain values: a listing is ``(commit, files)`` with files as :class:`FileRef` or
``(path, oid, size)`` tuples, exactly what the store lists. The combinators work on *units*: tuples of
:class:`DatumInput` (a pfs input contributes one-element units), so they nest like the spec's input tree.

A datum's id depends on the salt, and on each input's name, root and the (path, oid) of its files, never on
the commit id or the order files were listed in: a file that did not change keeps its datum id across commits,
which is what lets the planner skip datums already processed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vigil.pipeline.glob import GlobPattern, compile_glob, expand_template
from vigil.pipeline.spec import InputSpec

__all__ = [
    "Datum",
    "DatumInput",
    "FileLike",
    "FileRef",
    "Listing",
    "Unit",
    "build_datums",
    "cross",
    "datum_id",
    "group",
    "join",
    "make_datums",
    "pfs_units",
    "union",
]


@dataclass(frozen=True, slots=True)
class FileRef:
    """One file of a commit: path (starting with '/'), content id (sha256 hex), size in bytes."""

    path: str
    oid: str
    size: int


@dataclass(frozen=True, slots=True)
class DatumInput:
    """The part of a datum that one pfs input contributes: the files under one glob root."""

    name: str
    repo: str
    commit: str
    root: str
    files: tuple[FileRef, ...]
    captures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Datum:
    """One unit of work: its stable id and its inputs (several may share a name after join or group)."""

    id: str
    inputs: tuple[DatumInput, ...]


Unit = tuple[DatumInput, ...]
FileLike = FileRef | tuple[str, str, int]
UnitsLike = Sequence[DatumInput | Unit]
Listing = tuple[str, Iterable[FileLike]]


def _units(items: UnitsLike) -> list[Unit]:
    return [(item,) if isinstance(item, DatumInput) else tuple(item) for item in items]


def pfs_units(
    pattern: GlobPattern | str, name: str, repo: str, commit: str, files: Iterable[FileLike]
) -> list[DatumInput]:
    """Cut one input's files into datum inputs by glob, sorted by root; files under no root are skipped.
    An empty list means the glob matched nothing (the caller reports it)."""
    glob = pattern if isinstance(pattern, GlobPattern) else compile_glob(pattern)
    by_root: dict[str, list[FileRef]] = {}
    for item in files:
        ref = item if isinstance(item, FileRef) else FileRef(*item)
        root = glob.root_of(ref.path)
        if root is not None:
            by_root.setdefault(root, []).append(ref)
    return [
        DatumInput(name, repo, commit, root, tuple(sorted(refs, key=_file_key)), glob.captures(root))
        for root, refs in sorted(by_root.items())
    ]


def _file_key(ref: FileRef) -> tuple[str, str]:
    return ref.path, ref.oid


def cross(*lists: UnitsLike) -> list[Unit]:
    """Every combination of one unit from each list (first list varies slowest); empty if any list is."""
    return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*map(_units, lists))]


def union(*lists: UnitsLike) -> list[Unit]:
    """All units of all lists, list by list."""
    return [unit for units in lists for unit in _units(units)]


def _key(unit: Unit, template: str | None) -> str:
    captures = tuple(c for part in unit for c in part.captures)
    if template is None:
        return "\x1f".join(captures)
    return expand_template(template, captures)


def _keyed(lists: Sequence[UnitsLike], templates: Sequence[str | None] | None) -> list[dict[str, list[Unit]]]:
    templates = list(templates) if templates is not None else [None] * len(lists)
    if len(templates) != len(lists):
        raise ValueError(f"{len(lists)} inputs but {len(templates)} key templates")
    keyed: list[dict[str, list[Unit]]] = []
    for units, template in zip(lists, templates, strict=True):
        by_key: dict[str, list[Unit]] = {}
        for unit in _units(units):
            by_key.setdefault(_key(unit, template), []).append(unit)
        keyed.append(by_key)
    return keyed


def join(
    lists: Sequence[UnitsLike],
    join_on: Sequence[str | None] | None = None,
    outer: Sequence[bool] | None = None,
) -> list[Unit]:
    """Pachyderm join: for each key (``join_on[i]`` expanded over the unit's glob captures; default: all
    captures), the cross product of the units having that key. A key present in every input always yields
    datums; a key missing from some input yields the cross of the inputs that have it only if one of those
    is an outer input (its unmatched units are kept). Keys in sorted order."""
    flags = list(outer) if outer is not None else [False] * len(lists)
    if len(flags) != len(lists):
        raise ValueError(f"{len(lists)} inputs but {len(flags)} outer flags")
    keyed = _keyed(lists, join_on)
    result: list[Unit] = []
    for key in sorted(set().union(*keyed)):
        present = [i for i, by_key in enumerate(keyed) if key in by_key]
        if len(present) < len(keyed) and not any(flags[i] for i in present):
            continue
        result.extend(cross(*(keyed[i][key] for i in present)))
    return result


def group(lists: Sequence[UnitsLike], group_by: Sequence[str | None] | None = None) -> list[Unit]:
    """Pachyderm group: all units of all inputs sharing a key (``group_by[i]`` over the captures) form one
    datum, inputs in list order. Keys in sorted order."""
    keyed = _keyed(lists, group_by)
    return [
        tuple(part for by_key in keyed for unit in by_key.get(key, []) for part in unit)
        for key in sorted(set().union(*keyed))
    ]


def _input_digest(part: DatumInput) -> str:
    files = sorted((f.path, f.oid) for f in part.files)
    data = json.dumps([part.name, part.root, files], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def datum_id(salt: str, inputs: Iterable[DatumInput]) -> str:
    """sha256 hex over the salt and, per input, its name, root and sorted (path, oid) pairs. Independent of
    the commit, of the order of files and of the order of inputs. Put the pipeline's version in ``salt`` to
    make a new version reprocess everything."""
    digests = sorted(_input_digest(part) for part in inputs)
    data = json.dumps([salt, digests], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def make_datums(units: Iterable[DatumInput | Unit], salt: str = "") -> list[Datum]:
    """Units to datums with ids, keeping the order."""
    out = []
    for item in units:
        unit = (item,) if isinstance(item, DatumInput) else tuple(item)
        out.append(Datum(datum_id(salt, unit), unit))
    return out


def _walk(node: InputSpec, listings: Mapping[str, Listing]) -> list[Unit]:
    if node.pfs is not None:
        pfs = node.pfs
        if pfs.name not in listings:
            raise ValueError(f"no listing for input '{pfs.name}' (repo '{pfs.repo}')")
        commit, files = listings[pfs.name]
        return _units(pfs_units(pfs.glob, pfs.name, pfs.repo, commit, files))
    children = [_walk(child, listings) for child in node.children]
    if node.cross is not None:
        return cross(*children)
    if node.union is not None:
        return union(*children)
    leaves = [child.pfs for child in node.children]
    if node.join is not None:
        return join(
            children,
            [p.join_on if p else None for p in leaves],
            [p.outer_join if p else False for p in leaves],
        )
    return group(children, [p.group_by if p else None for p in leaves])


def build_datums(input_tree: InputSpec, listings: Mapping[str, Listing], salt: str = "") -> list[Datum]:
    """All datums of an input tree, given each pfs input's ``(commit, files)`` keyed by input name.
    Deterministic order: pfs units by root, cross in product order, union list by list, join/group by key.
    Raises ValueError when an input has no listing."""
    return make_datums(_walk(input_tree, listings), salt)
