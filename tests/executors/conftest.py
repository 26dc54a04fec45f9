"""Executor tests use the pipeline fixtures (a workspace App, python transform modules)."""

from tests.pipeline.conftest import app, modules

__all__ = ["app", "modules"]
