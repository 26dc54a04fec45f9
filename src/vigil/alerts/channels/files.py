"""Alerts as ``.eml`` files in a folder (``<folder>/<camera>/<ts>-<alert id>.eml``): the demo's channel, and a
way to see exactly what the SMTP channel would send. A file is written whole (temporary file, then rename)
and named by the alert id, so a repeated delivery rewrites the same file."""

from __future__ import annotations

import os
from pathlib import Path

from vigil.alerts.channels.base import Outcome
from vigil.alerts.mail import build_email
from vigil.alerts.message import Alert
from vigil.domain.alerting import FileChannel as FileConfig


class FileChannel:
    def __init__(self, name: str, config: FileConfig, root: Path) -> None:
        self.name = name
        self.config = config
        self.folder = Path(config.path) if Path(config.path).is_absolute() else root / config.path

    def path_of(self, alert: Alert) -> Path:
        camera = "".join(c if c.isalnum() or c in "-_." else "_" for c in alert.camera) or "camera"
        return self.folder / camera / f"{int(alert.event.get('ts') or 0):010d}-{alert.alert_id[:16]}.eml"

    def send(self, alert: Alert) -> Outcome:
        msg = build_email(alert, alert.sender or self.config.sender)
        dest = self.path_of(alert)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(".tmp")
            tmp.write_bytes(bytes(msg))
            os.replace(tmp, dest)
        except OSError as exc:
            return Outcome("retry", None, f"cannot write {dest}: {exc.strerror}")
        return Outcome("sent", None, f"written to {dest}")

    def close(self) -> None:
        pass


__all__ = ["FileChannel"]
