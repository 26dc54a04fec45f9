"""Datums: pfs units, cross/union/join/group, stable ids, and the spec's input tree."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.pipeline.datums import (
    DatumInput,
    FileRef,
    Listing,
    build_datums,
    cross,
    datum_id,
    group,
    join,
    make_datums,
    pfs_units,
    union,
)
from vigil.pipeline.spec import parse_specs


def files(*paths: str) -> list[FileRef]:
    return [FileRef(p, f"oid-{p}", len(p)) for p in paths]


IMAGES = files("/cam1/1.jpg", "/cam1/2.jpg", "/cam2/1.jpg", "/top.jpg")


def test_pfs_units_cut_by_glob() -> None:
    units = pfs_units("/*", "images", "images", "c1", reversed(IMAGES))
    assert [u.root for u in units] == ["/cam1", "/cam2", "/top.jpg"]
    assert [f.path for f in units[0].files] == ["/cam1/1.jpg", "/cam1/2.jpg"]
    assert units[0].name == "images" and units[0].commit == "c1" and units[0].captures == ()
    assert pfs_units("/nothing/*", "images", "images", "c1", IMAGES) == []


def test_pfs_units_accept_store_tuples_and_capture() -> None:
    (unit,) = pfs_units("/(*)/1.jpg", "i", "images", "c", [("/cam2/1.jpg", "o", 3)])
    assert unit.captures == ("cam2",) and unit.files == (FileRef("/cam2/1.jpg", "o", 3),)


def test_datum_id_ignores_commit_and_depends_on_content() -> None:
    a = pfs_units("/*", "images", "images", "commit-1", IMAGES)
    b = pfs_units("/*", "images", "images", "commit-2", IMAGES)
    assert [d.id for d in make_datums(a)] == [d.id for d in make_datums(b)]
    changed = [FileRef(f.path, "new" if f.path == "/top.jpg" else f.oid, f.size) for f in IMAGES]
    c = make_datums(pfs_units("/*", "images", "images", "commit-3", changed))
    assert [x.id == y.id for x, y in zip(make_datums(a), c, strict=True)] == [True, True, False]
    assert make_datums(a, salt="v2")[0].id != make_datums(a)[0].id


def test_join_inner_and_outer() -> None:
    left = pfs_units("/(*).jpg", "img", "images", "c", files("/a.jpg", "/b.jpg", "/c.jpg"))
    right = pfs_units("/(*).json", "meta", "meta", "c", files("/b.json", "/c.json", "/d.json"))
    inner = join([left, right], ["$1", "$1"])
    assert [[p.root for p in u] for u in inner] == [["/b.jpg", "/b.json"], ["/c.jpg", "/c.json"]]
    left_outer = join([left, right], ["$1", "$1"], [True, False])
    assert [[p.root for p in u] for u in left_outer] == [
        ["/a.jpg"],
        ["/b.jpg", "/b.json"],
        ["/c.jpg", "/c.json"],
    ]


def test_group_collects_every_unit_with_the_key() -> None:
    shots = pfs_units(
        "/(*)-*.jpg", "shots", "images", "c", files("/cam1-1.jpg", "/cam1-2.jpg", "/cam2-1.jpg")
    )
    zones = pfs_units("/(*).json", "zones", "zones", "c", files("/cam1.json", "/cam3.json"))
    groups = group([shots, zones], ["$1", "$1"])
    assert [[p.root for p in u] for u in groups] == [
        ["/cam1-1.jpg", "/cam1-2.jpg", "/cam1.json"],
        ["/cam2-1.jpg"],
        ["/cam3.json"],
    ]


SPEC = """
pipeline: {name: detect}
input:
  cross:
    - union:
        - pfs: {repo: images, glob: "/*"}
        - pfs: {repo: uploads, glob: "/**"}
    - pfs: {repo: model, glob: /}
transform: {stage: detect}
"""


def test_build_datums_walks_the_tree() -> None:
    (spec,) = parse_specs(SPEC, "detect.yaml")
    listings: dict[str, Listing] = {
        "images": ("ci", IMAGES),
        "uploads": ("cu", [("/x/y.jpg", "oy", 1)]),
        "model": ("cm", [("/yolox.onnx", "om", 9)]),
    }
    datums = build_datums(spec.input, listings, salt=spec.fingerprint())
    assert [[(p.name, p.root) for p in d.inputs] for d in datums] == [
        [("images", "/cam1"), ("model", "/")],
        [("images", "/cam2"), ("model", "/")],
        [("images", "/top.jpg"), ("model", "/")],
        [("uploads", "/x/y.jpg"), ("model", "/")],
    ]
    assert datums == build_datums(spec.input, listings, salt=spec.fingerprint())
    with pytest.raises(ValueError, match="no listing for input 'model'"):
        build_datums(spec.input, {"images": ("c", []), "uploads": ("c", [])})


def test_build_datums_join_from_spec() -> None:
    text = json.dumps(
        {
            "pipeline": {"name": "j"},
            "transform": {"cmd": ["x"]},
            "input": {
                "join": [
                    {"pfs": {"repo": "a", "glob": "/(*).jpg", "join_on": "$1"}},
                    {"pfs": {"repo": "b", "glob": "/(*).txt", "joinOn": "$1", "outerJoin": True}},
                ]
            },
        }
    )
    (spec,) = parse_specs(text, "j.json")
    listings: dict[str, Listing] = {
        "a": ("c", files("/1.jpg", "/2.jpg")),
        "b": ("c", files("/2.txt", "/3.txt")),
    }
    assert [[p.root for p in d.inputs] for d in build_datums(spec.input, listings)] == [
        ["/2.jpg", "/2.txt"],
        ["/3.txt"],
    ]


# --- properties ---

NAMES = st.text("abcxyz", min_size=1, max_size=3)
FILES = st.lists(
    st.tuples(
        st.lists(NAMES, min_size=1, max_size=3).map(lambda s: "/" + "/".join(s)), st.sampled_from("0123")
    ),
    max_size=20,
    unique_by=lambda t: t[0],
).map(lambda pairs: [FileRef(path, oid, 1) for path, oid in pairs])


@given(files=FILES, seed=st.randoms())
def test_ids_stable_under_shuffling(files: list[FileRef], seed: random.Random) -> None:
    shuffled = list(files)
    seed.shuffle(shuffled)
    for pattern in ("/", "/*", "/**"):
        a = make_datums(pfs_units(pattern, "in", "repo", "c1", files))
        b = make_datums(pfs_units(pattern, "in", "repo", "c2", shuffled))
        assert [d.id for d in a] == [d.id for d in b]


def _unit(name: str, root: str) -> DatumInput:
    return DatumInput(name, name, "c", root, (FileRef(root, "o" + root, 1),), (root.strip("/"),))


ROOTS = st.lists(NAMES.map(lambda s: "/" + s), unique=True, max_size=8)


@given(left=ROOTS, right=ROOTS)
def test_cross_is_n_times_m_distinct(left: list[str], right: list[str]) -> None:
    datums = make_datums(cross([_unit("a", r) for r in left], [_unit("b", r) for r in right]))
    assert len(datums) == len(left) * len(right)
    assert len({d.id for d in datums}) == len(datums)


@given(left=ROOTS, right=ROOTS)
def test_union_preserves_all(left: list[str], right: list[str]) -> None:
    units = union([_unit("a", r) for r in left], [_unit("b", r) for r in right])
    assert sorted((p.name, p.root) for u in units for p in u) == sorted(
        [("a", r) for r in left] + [("b", r) for r in right]
    )
    assert len({d.id for d in make_datums(units)}) == len(units)


@given(left=ROOTS, right=ROOTS)
def test_join_matches_only_equal_keys(left: list[str], right: list[str]) -> None:
    joined = join([[_unit("a", r) for r in left], [_unit("b", r) for r in right]], ["$1", "$1"])
    assert all(u[0].captures == u[1].captures for u in joined)
    assert len(joined) == len(set(left) & set(right))


def test_datum_id_order_independent() -> None:
    a, b = _unit("a", "/x"), _unit("b", "/y")
    assert datum_id("s", [a, b]) == datum_id("s", [b, a]) != datum_id("t", [a, b])
