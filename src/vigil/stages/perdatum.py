"""The shape of a stage that judges each datum on its own: nothing to load once per worker, and a batch is its
datums one by one (a stage with a model to load, or work to batch, implements the protocol itself)."""

from __future__ import annotations

from collections.abc import Sequence

from vigil.pipeline.transform import DatumContext, Outputs
from vigil.vision.native_messages import into


class PerDatumStage:
    def setup(self) -> None:
        """Nothing heavy to load."""

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        outputs = []
        for d in datums:
            with into(d.notes):  # a decoder's warnings about a frame go to its datum's log
                outputs.append(self.process(d))
        return outputs

    def process(self, ctx: DatumContext) -> Outputs:
        """The outputs of one datum (path -> bytes or Blob)."""
        raise NotImplementedError


__all__ = ["PerDatumStage"]
