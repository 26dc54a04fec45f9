"""The DAG of repos and pipelines: a topological order and a text drawing.

Each pipeline writes a repo of its own name; a repo that no pipeline writes is a source. The drawing puts
every node in the column of its depth (sources at 0, a pipeline one past its deepest input) and draws each
edge once, following chains as far as they go:

    images ─► validate ─► object-detect ─► threat-detect ─► plot
    model ──────────────► object-detect
    rules ─────────────────────────────► threat-detect
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence

from vigil.errors import SpecError
from vigil.pipeline.spec import PipelineSpec

__all__ = ["draw_dag", "topological_order"]


def _upstream(specs: Sequence[PipelineSpec]) -> dict[str, list[str]]:
    """Pipeline name -> the distinct repos it reads, sorted. Raises SpecError on a duplicate pipeline."""
    upstream: dict[str, list[str]] = {}
    for spec in specs:
        if spec.name in upstream:
            raise SpecError(f"pipeline '{spec.name}' is defined twice", "rename one of them or remove one")
        upstream[spec.name] = sorted({repo for _, repo, _ in spec.input_repos()})
    return upstream


def _depths(upstream: dict[str, list[str]]) -> dict[str, int]:
    """Depth of every repo: 0 for sources, 1 + deepest input for pipelines. Raises SpecError on a cycle."""
    depth: dict[str, int] = {}
    for start in sorted(upstream):
        stack: list[tuple[str, int]] = [(start, 0)]
        on_path: list[str] = []
        while stack:
            node, index = stack.pop()
            if node in depth:
                continue
            if index == 0:
                if node in on_path:
                    cycle = [*on_path[on_path.index(node) :], node]
                    raise SpecError(
                        f"pipelines form a cycle: {' -> '.join(reversed(cycle))}",
                        "a pipeline may not read, directly or not, the repo it writes",
                    )
                on_path.append(node)
            inputs = upstream.get(node, [])
            pending = [repo for repo in inputs[index:] if repo not in depth]
            if pending:
                stack.append((node, inputs.index(pending[0]) + 1))
                stack.append((pending[0], 0))
                continue
            depth[node] = 1 + max((depth[r] for r in inputs), default=-1) if node in upstream else 0
            on_path.pop()
    return depth


def topological_order(
    specs: Sequence[PipelineSpec], source_repos: Collection[str] | None = None
) -> list[PipelineSpec]:
    """Pipelines ordered so that each comes after every pipeline it reads from; ties by name.

    Raises SpecError on a cycle, on two pipelines with one name, and, when ``source_repos`` (the repos that
    exist outside any pipeline) is given, on an input repo that is neither a source nor a pipeline's output.
    """
    upstream = _upstream(specs)
    if source_repos is not None:
        for name, repos in sorted(upstream.items()):
            for repo in repos:
                if repo not in upstream and repo not in source_repos:
                    raise SpecError(
                        f"pipeline '{name}' reads repo '{repo}', which is neither a repo nor a pipeline",
                        f"create the repo '{repo}' or the pipeline that writes it",
                    )
    depth = _depths(upstream)
    return sorted(specs, key=lambda spec: (depth[spec.name], spec.name))


def draw_dag(specs: Sequence[PipelineSpec]) -> str:
    """The DAG as lines of ``a ─► b ─► c``, each node in its depth's column, each edge drawn once.
    Deterministic; '' for no specs. Raises SpecError like :func:`topological_order`."""
    upstream = _upstream(specs)
    depth = _depths(upstream)
    children: dict[str, list[str]] = {}
    for name, repos in upstream.items():
        for repo in repos:
            children.setdefault(repo, []).append(name)
    for kids in children.values():
        kids.sort(key=lambda n: (depth[n], n))
    width: dict[int, int] = {}
    for node, d in depth.items():
        width[d] = max(width.get(d, 0), len(node))
    column = [0]
    for d in range(max(width, default=0)):
        column.append(column[-1] + width[d] + 4)  # 4 = len(" ─► ")
    used: set[tuple[str, str]] = set()
    lines = []
    for start in sorted(depth, key=lambda n: (depth[n], n)):
        while True:
            chain = [start]
            while nxt := next((k for k in children.get(chain[-1], []) if (chain[-1], k) not in used), None):
                used.add((chain[-1], nxt))
                chain.append(nxt)
            if len(chain) == 1:
                break
            lines.append(_render(chain, depth, column))
    return "\n".join(lines)


def _render(chain: list[str], depth: dict[str, int], column: list[int]) -> str:
    out = [" " * column[depth[chain[0]]]]
    for here, there in itertools.pairwise(chain):
        dashes = column[depth[there]] - column[depth[here]] - len(here) - 3
        out.append(f"{here} {'─' * dashes}► ")
    out.append(chain[-1])
    return "".join(out)
