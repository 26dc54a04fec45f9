"""Where a pipeline's datums run: the ``executor:`` section of ``.vigil/vigil.yaml`` or of a pipeline spec.

It lives in the domain (pure types) because both the workspace config (store layer) and pipeline specs
(pipeline layer) carry it; :mod:`vigil.executors` implements it. A discriminated union on ``type``, as the
object store's ``kind``: ``{type: local}`` (the default: a pool in the runner's process) or
``{type: dask, address: tcp://scheduler:8786}`` (batches as tasks on a Dask cluster).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class LocalPlacement(BaseModel):
    """The embedded pool: threads in the runner's process (worker containers for transforms in an image)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["local"] = "local"


class DaskPlacement(BaseModel):
    """A Dask cluster: the runner submits batches to the scheduler at ``address``; its workers (``vigil worker
    ADDRESS`` or ``dask worker ADDRESS``, with Vigil installed) keep each stage warm and read and write the
    object store themselves. ``connect_timeout``: seconds to wait for the scheduler."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["dask"]
    address: str = Field(pattern=r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")
    connect_timeout: float = Field(default=10.0, gt=0)


Placement = Annotated[LocalPlacement | DaskPlacement, Field(discriminator="type")]

__all__ = ["DaskPlacement", "LocalPlacement", "Placement"]
