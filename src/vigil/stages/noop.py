"""``noop``: writes one tiny marker per datum. For measuring framework overhead and for tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vigil.pipeline.transform import DatumContext, Outputs


class NoopStage:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = params

    def setup(self) -> None:
        pass

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        return [{f"/{d.task.inputs[0].root.strip('/').replace('/', '_') or 'root'}.done": b""} for d in datums]
