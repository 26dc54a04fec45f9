"""Global CLI options (set by the root callback) and the lazily opened application."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.app import App


@dataclass
class State:
    workspace: Path | None = None
    debug: bool = False
    _app: App | None = None

    def app(self) -> App:
        """The workspace's application API, opened on first use (imports the store: SQLAlchemy, pydantic)."""
        if self._app is None:
            from vigil.app import App

            self._app = App.open(self.workspace)
        return self._app


state = State()
