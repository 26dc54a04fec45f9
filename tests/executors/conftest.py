"""Executor tests use the pipeline fixtures (a workspace App, python transform modules) and, for the camera
pipeline in containers, the stage fixtures (the model and seed images through VIGIL_MIRROR)."""

from tests.pipeline.conftest import app, modules
from tests.stages.conftest import asset_cache, vigil_env

__all__ = ["app", "asset_cache", "modules", "vigil_env"]
