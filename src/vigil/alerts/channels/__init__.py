"""Alert channels, one module each behind :class:`~vigil.alerts.channels.base.Channel`.

:func:`open_channel` builds one from its configuration (an explicit table; each module, and its client library,
is imported only when a channel of its type is used).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

from vigil.alerts.channels.base import Channel, Outcome
from vigil.domain.alerting import Channel as ChannelConfig

IMPLEMENTATIONS = {
    "smtp": ("vigil.alerts.channels.smtp", "SmtpChannel"),
    "sendgrid": ("vigil.alerts.channels.sendgrid", "SendGridChannel"),
    "webhook": ("vigil.alerts.channels.webhook", "WebhookChannel"),
    "mqtt": ("vigil.alerts.channels.mqtt", "MqttChannel"),
    "file": ("vigil.alerts.channels.files", "FileChannel"),
}


def open_channel(name: str, config: ChannelConfig, root: Path) -> Channel:
    """The channel ``name`` configured by ``config``; ``root``: the workspace (relative secret files, folders)."""
    module, cls = IMPLEMENTATIONS[config.type]
    make: Callable[[str, Any, Path], Channel] = getattr(import_module(module), cls)
    return make(name, config, root)


__all__ = ["IMPLEMENTATIONS", "Channel", "Outcome", "open_channel"]
