"""vigil.pipeline."""
