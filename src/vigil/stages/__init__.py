"""vigil.stages."""
