"""Built-in stages by name (an explicit dict; third parties use `transform.python`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vigil.errors import SpecError
from vigil.pipeline.transform import Transform

StageFactory = Callable[[Mapping[str, Any]], Transform]


def stages() -> dict[str, StageFactory]:
    """name -> factory(params). Imports inside, so listing stages does not load models or OpenCV."""
    from vigil.stages.noop import NoopStage

    return {"noop": NoopStage}


def stage_factory(name: str) -> StageFactory:
    known = stages()
    if name not in known:
        raise SpecError(f"unknown stage {name!r}", f"built-in stages: {', '.join(sorted(known))}")
    return known[name]
