"""Glob semantics: a table of patterns over one file tree, syntax errors, and Hypothesis invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.pipeline.glob import GlobPattern, GlobSyntaxError, expand_template, template_refs

TREE = [
    "/a.txt",
    "/b.jpg",
    "/cam1/0001.jpg",
    "/cam1/0002.jpg",
    "/cam2/0001.png",
    "/cam2/sub/deep.jpg",
    "/valid/cam1-0001.jpg",
    "/valid/cam2-0002.jpg",
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/", {"/": TREE}),
        (
            "/*",
            {
                "/a.txt": ["/a.txt"],
                "/b.jpg": ["/b.jpg"],
                "/cam1": ["/cam1/0001.jpg", "/cam1/0002.jpg"],
                "/cam2": ["/cam2/0001.png", "/cam2/sub/deep.jpg"],
                "/valid": ["/valid/cam1-0001.jpg", "/valid/cam2-0002.jpg"],
            },
        ),
        (
            "*",
            {
                "/a.txt": ["/a.txt"],
                "/b.jpg": ["/b.jpg"],
                "/cam1": TREE[2:4],
                "/cam2": TREE[4:6],
                "/valid": TREE[6:],
            },
        ),
        ("/*.jpg", {"/b.jpg": ["/b.jpg"]}),
        ("/cam?", {"/cam1": TREE[2:4], "/cam2": TREE[4:6]}),
        ("/cam[1]", {"/cam1": TREE[2:4]}),
        ("/cam[!1]", {"/cam2": TREE[4:6]}),
        ("/cam[0-9]/*.{jpg,png}", {p: [p] for p in TREE[2:5]}),
        (
            "/*/*",
            {p: [p] for p in TREE[2:5]} | {"/cam2/sub": ["/cam2/sub/deep.jpg"]} | {p: [p] for p in TREE[6:]},
        ),
        ("/valid/*", {p: [p] for p in TREE[6:]}),
        ("/valid/*/", {p: [p] for p in TREE[6:]}),
        ("/**", {p: [p] for p in TREE}),
        ("/**/*.png", {"/cam2/0001.png": ["/cam2/0001.png"]}),
        ("/cam2/**/*.jpg", {"/cam2/sub/deep.jpg": ["/cam2/sub/deep.jpg"]}),
        ("/**.jpg", {p: [p] for p in TREE if p.endswith(".jpg")}),
        ("/nothing/*", {}),
        ("/a.txt/*", {}),
        ("/\\*", {}),
    ],
)
def test_datum_roots_table(pattern: str, expected: dict[str, list[str]]) -> None:
    glob = GlobPattern(pattern)
    assert glob.datum_roots(reversed(TREE)) == expected
    for path in TREE:
        root = glob.root_of(path)
        assert (
            (root in expected and path in expected[root])
            if root is not None
            else all(path not in files for files in expected.values())
        )


@pytest.mark.parametrize(
    ("pattern", "root", "captures"),
    [
        ("/valid/(*)-(*).jpg", "/valid/cam1-0001.jpg", ("cam1", "0001")),
        ("/(*)", "/cam1", ("cam1",)),
        ("/(cam?)/(*)", "/cam2/0001.png", ("cam2", "0001.png")),
        ("/*", "/cam1", ()),
        ("/(*).{jpg,(png)}", "/b.jpg", ("b", "")),
        ("/(*)", "/no/match", ()),
    ],
)
def test_captures(pattern: str, root: str, captures: tuple[str, ...]) -> None:
    assert GlobPattern(pattern).captures(root) == captures


def test_group_count_and_templates() -> None:
    assert GlobPattern("/(*)-(*)/{a,b}").group_count == 2
    assert template_refs("$1-$2") == [1, 2]
    assert expand_template("$2/$1", ("a", "b")) == "b/a"
    with pytest.raises(IndexError, match=r"\$3"):
        expand_template("$3", ("a",))


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty pattern"),
        ("/(*", r"unbalanced '\('"),
        ("/*)", r"unbalanced '\)'"),
        ("/[ab", r"unterminated '\['"),
        ("/{a,b", r"unterminated '\{'"),
        ("/a//b", "empty path segment"),
        ("/../x", r"'\.' and '\.\.'"),
        ("/{a,b/c}", "'/' inside"),
        ("/[z-a]", "bad character range"),
        ("/a\\", "must escape"),
    ],
)
def test_bad_globs(pattern: str, message: str) -> None:
    with pytest.raises(GlobSyntaxError, match=message):
        GlobPattern(pattern)


def test_relative_path_is_rejected() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        GlobPattern("/*").root_of("a.txt")


SEGMENT = st.sampled_from(["a", "b", "c1", "x.jpg", "y.png", "a-b.jpg"])
PATHS = st.lists(st.lists(SEGMENT, min_size=1, max_size=4).map(lambda s: "/" + "/".join(s)), max_size=30)
PATTERNS = st.sampled_from(
    [
        "/",
        "/*",
        "/*/*",
        "/a/*",
        "/*.jpg",
        "/?",
        "/[ab]/*",
        "/[!a]*",
        "/(*)/(*)",
        "/{a,b}",
        "/*/*/*",
        "/**",
        "/**/*.jpg",
        "/a/**",
    ]
)


@given(pattern=PATTERNS, paths=PATHS)
def test_roots_agree_with_root_of(pattern: str, paths: list[str]) -> None:
    glob = GlobPattern(pattern)
    roots = glob.datum_roots(paths)
    for path in paths:
        root = glob.root_of(path)
        if root is None:
            assert all(path not in files for files in roots.values())
        else:
            assert path in roots[root]
            assert root == "/" or path == root or path.startswith(root + "/")


@given(pattern=PATTERNS, paths=PATHS)
def test_every_file_in_at_most_one_root(pattern: str, paths: list[str]) -> None:
    roots = GlobPattern(pattern).datum_roots(set(paths))
    listed = [p for files in roots.values() for p in files]
    assert len(listed) == len(set(listed))
    if not GlobPattern(pattern).recursive:  # without '**' roots never nest
        for root in roots:
            assert not any(other != root and other.startswith(root.rstrip("/") + "/") for other in roots)
