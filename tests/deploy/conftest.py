"""Deployment tests use the pipeline fixtures (a workspace App)."""

from tests.pipeline.conftest import app

__all__ = ["app"]
