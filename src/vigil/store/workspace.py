"""Workspaces: a folder holding ``.vigil/vigil.yaml`` (config), the metadata database and the object folder.

Commands find the workspace from ``--workspace``, else ``$VIGIL_WORKSPACE``, else by walking up from the
current directory (as git does).
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vigil.domain.alerting import AlertsConfig
from vigil.domain.placement import LocalPlacement, Placement
from vigil.domain.retention import RetentionPolicy
from vigil.domain.sources import SourceConfig
from vigil.errors import AlreadyExistsError, WorkspaceError
from vigil.store.database import make_engine
from vigil.store.objects import LocalObjectStore, ObjectStore
from vigil.store.store import Store

CONFIG_DIR = ".vigil"
CONFIG_FILE = "vigil.yaml"
ENV_WORKSPACE = "VIGIL_WORKSPACE"


class LocalObjects(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["local"] = "local"
    path: str = "objects"  # relative to .vigil/
    fsync: bool = True


class S3Objects(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["s3"]
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None


class ContainersConfig(BaseModel):
    """How pipelines whose transform names an ``image`` run (the container executor)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True  # false: run such transforms in this process, ignoring the image
    image_map: dict[str, str] = Field(default_factory=dict)  # image as a spec names it -> image to run
    podman: str = "podman"


class WorkspaceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    metadata: str = "sqlite:///metadata.db"  # a relative SQLite path is relative to .vigil/
    # auto: bring the metadata schema up to date when the workspace is opened; manual: only `vigil migrate` does
    migrate: Literal["auto", "manual"] = "auto"
    objects: Annotated[LocalObjects | S3Objects, Field(discriminator="kind")] = LocalObjects()
    alerts: AlertsConfig | None = None  # channels, routing, grouping, retries (vigil.domain.alerting)
    containers: ContainersConfig = Field(default_factory=ContainersConfig)
    sources: list[SourceConfig] = Field(default_factory=list)  # live cameras `vigil serve` ingests from
    # how long frame bytes are kept (vigil.domain.retention); `vigil retention apply`, and `vigil serve` hourly
    retention: list[RetentionPolicy] = Field(default_factory=list)
    # where pipelines run unless their spec says: {type: local} or {type: dask, address: tcp://...}
    executor: Placement = Field(default_factory=LocalPlacement)
    # seconds a runner's pipeline lease lasts unrenewed: how long a runner on another host waits to take over
    # from one that died (on the dead runner's own host, it takes over at once)
    lease_ttl: float = Field(default=30.0, ge=1.0)

    @model_validator(mode="after")
    def _source_names(self) -> WorkspaceConfig:
        for i, source in enumerate(self.sources, 1):
            source.name = source.name or f"source-{i}"
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"sources: names must be unique, got {names}")
        return self


class Workspace:
    """An opened workspace. ``store`` connects lazily."""

    def __init__(self, root: Path, config: WorkspaceConfig) -> None:
        self.root = root
        self.config = config

    @property
    def config_dir(self) -> Path:
        return self.root / CONFIG_DIR

    @classmethod
    def init(cls, root: Path, config: WorkspaceConfig | None = None) -> Workspace:
        """Create a workspace at ``root`` (the folder is created if needed)."""
        root = root.resolve()
        cfg_dir = root / CONFIG_DIR
        if (cfg_dir / CONFIG_FILE).exists():
            raise AlreadyExistsError(f"{root} is already a Vigil workspace", "use it, or pick another folder")
        cfg_dir.mkdir(parents=True, exist_ok=True)
        config = config or WorkspaceConfig()
        tmp = cfg_dir / (CONFIG_FILE + ".tmp")
        tmp.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False))
        os.replace(tmp, cfg_dir / CONFIG_FILE)
        ws = cls(root, config)
        ws.store  # noqa: B018 - create the database and object folder now, so errors surface at init
        return ws

    @classmethod
    def open(cls, root: Path) -> Workspace:
        path = root / CONFIG_DIR / CONFIG_FILE
        try:
            raw = yaml.safe_load(path.read_text()) or {}
            return cls(root.resolve(), WorkspaceConfig.model_validate(raw))
        except FileNotFoundError as exc:
            raise WorkspaceError(f"{root} is not a Vigil workspace (no {CONFIG_DIR}/{CONFIG_FILE})",
                                 "create one with `vigil init`") from exc
        except (yaml.YAMLError, ValidationError) as exc:
            raise WorkspaceError(f"{path} is invalid: {exc}", "fix the file (see README: Workspace)") from exc

    @classmethod
    def find(cls, explicit: Path | None = None, start: Path | None = None) -> Workspace:
        """The workspace named explicitly, by ``$VIGIL_WORKSPACE``, or found walking up from ``start``."""
        if explicit is None and os.environ.get(ENV_WORKSPACE):
            explicit = Path(os.environ[ENV_WORKSPACE])
        if explicit is not None:
            return cls.open(explicit)
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_DIR / CONFIG_FILE).exists():
                return cls.open(folder)
        raise WorkspaceError(f"no Vigil workspace in {here} or its parents",
                             f"run `vigil init` here, pass --workspace DIR, or set {ENV_WORKSPACE}")

    def metadata_url(self) -> str:
        url = self.config.metadata
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return "sqlite:///" + str(self.config_dir / url[len("sqlite:///"):])
        return url

    def _objects(self) -> ObjectStore:
        cfg = self.config.objects
        if isinstance(cfg, LocalObjects):
            return LocalObjectStore(self.config_dir / cfg.path, fsync=cfg.fsync)
        from vigil.store.s3 import S3ObjectStore

        return S3ObjectStore(cfg.bucket, cfg.prefix, endpoint_url=cfg.endpoint_url, region=cfg.region)

    @cached_property
    def store(self) -> Store:
        return Store(make_engine(self.metadata_url(), migrate=self.config.migrate == "auto"), self._objects())
