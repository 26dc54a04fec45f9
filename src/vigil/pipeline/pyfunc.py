"""``transform.python: "module:function"``: a plain function ``fn(ctx: DatumContext) -> Outputs`` per datum."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from vigil.errors import SpecError
from vigil.pipeline.transform import DatumContext, Outputs


class PythonTransform:
    def __init__(self, target: str) -> None:
        self.target = target
        self._fn: Callable[[DatumContext], Outputs] | None = None

    def setup(self) -> None:
        module, _, name = self.target.partition(":")
        try:
            self._fn = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise SpecError(f"cannot load python transform {self.target!r}: {exc}",
                            "check the module is importable (on PYTHONPATH) and defines the function") from exc

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        assert self._fn is not None, "setup() not called"
        return [self._fn(d) for d in datums]
