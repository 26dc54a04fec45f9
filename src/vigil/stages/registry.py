"""Built-in stages by name (an explicit table; third parties use `transform.python`).

Entries name their class lazily, so listing stages or validating a spec does not load models or OpenCV.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from vigil.errors import SpecError
from vigil.pipeline.transform import Transform

StageFactory = Callable[[Mapping[str, Any]], Transform]

STAGES: dict[str, str] = {
    "noop": "vigil.stages.noop:NoopStage",
    "validate": "vigil.stages.validate:ValidateStage",
    "motion": "vigil.stages.motion:MotionStage",
    "detect": "vigil.stages.detect:DetectStage",
    "threat": "vigil.stages.threat:ThreatStage",
    "report": "vigil.stages.report:ReportStage",
}


def stage_factory(name: str) -> StageFactory:
    """The class of built-in stage ``name``; ``SpecError`` listing the known stages otherwise."""
    if name not in STAGES:
        raise SpecError(f"unknown stage {name!r}", f"built-in stages: {', '.join(sorted(STAGES))}")
    module, _, cls = STAGES[name].partition(":")
    factory: StageFactory = getattr(importlib.import_module(module), cls)
    return factory
