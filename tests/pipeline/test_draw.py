"""The DAG drawing and topological order, on the 2017 seed and on broken graphs."""

from __future__ import annotations

import json

import pytest

from vigil.errors import SpecError
from vigil.pipeline.draw import draw_dag, topological_order
from vigil.pipeline.spec import PipelineSpec, parse_specs


def spec(name: str, *repos: str) -> PipelineSpec:
    inputs = [{"pfs": {"repo": r, "glob": "/*"}} for r in repos]
    tree = inputs[0] if len(inputs) == 1 else {"cross": inputs}
    text = json.dumps({"pipeline": {"name": name}, "input": tree, "transform": {"cmd": ["x"]}})
    (parsed,) = parse_specs(text, f"{name}.json")
    return parsed


SEED = [
    spec("plot", "threat-detect"),
    spec("threat-detect", "object-detect", "rules"),
    spec("validate", "images"),
    spec("object-detect", "validate", "model"),
]


def test_seed_drawing() -> None:
    assert draw_dag(SEED).splitlines() == [
        "images ─► validate ─► object-detect ─► threat-detect ─► plot",
        "model ──────────────► object-detect",
        "rules ───────────────────────────────► threat-detect",
    ]
    assert draw_dag(list(reversed(SEED))) == draw_dag(SEED)
    assert draw_dag([]) == ""


def test_fan_out_is_drawn_from_the_branch_point() -> None:
    lines = draw_dag([spec("a", "src"), spec("b", "a"), spec("c", "a")]).splitlines()
    assert lines == ["src ─► a ─► b", "       a ─► c"]


def test_topological_order() -> None:
    assert [s.name for s in topological_order(SEED)] == ["validate", "object-detect", "threat-detect", "plot"]
    assert topological_order(SEED, {"images", "model", "rules"}) == topological_order(SEED)


@pytest.mark.parametrize(
    ("specs", "sources", "match"),
    [
        ([spec("a", "b"), spec("b", "c"), spec("c", "a")], None, r"cycle: (a|b|c) -> .* -> \1"),
        ([spec("a", "src"), spec("a", "src")], None, "pipeline 'a' is defined twice"),
        ([spec("a", "src"), spec("b", "a", "missing")], {"src"}, "'b' reads repo 'missing'"),
    ],
)
def test_broken_graphs(specs: list[PipelineSpec], sources: set[str] | None, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        topological_order(specs, sources)
    if sources is None:
        with pytest.raises(SpecError, match=match):
            draw_dag(specs)
