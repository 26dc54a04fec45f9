"""vigil.store."""
