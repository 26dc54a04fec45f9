"""vigil.vision."""
