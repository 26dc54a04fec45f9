"""Live sources, one module each behind the small :class:`~vigil.ingest.sources.base.Source` interface, and the
explicit registry that builds one from its configuration."""

from __future__ import annotations

from vigil.domain.sources import SourceConfig
from vigil.ingest.sources.base import Backoff, Source, SourceFrame, SourceStats


def open_source(config: SourceConfig, *, start: float | None = None, backoff_first: float = 0.5) -> Source:
    """The source ``config`` describes (``start``: a video file's first frame time, default now)."""
    if config.kind == "rtsp":
        from vigil.ingest.sources.video import RtspSource

        return RtspSource(config.location, open_timeout=config.open_timeout, read_timeout=config.read_timeout,
                          backoff_max=config.backoff_max, backoff_first=backoff_first)
    if config.kind == "snapshot":
        from vigil.ingest.sources.snapshot import SnapshotSource

        return SnapshotSource(config.location, interval=config.interval, open_timeout=config.open_timeout,
                              read_timeout=config.read_timeout, backoff_max=config.backoff_max)
    if config.kind == "folder":
        from vigil.ingest.sources.folder import FolderSource

        return FolderSource(config.location, patterns=config.patterns, remove=config.remove)
    from vigil.ingest.sources.video import VideoFileSource

    return VideoFileSource(config.location, start=start)


__all__ = ["Backoff", "Source", "SourceFrame", "SourceStats", "open_source"]
