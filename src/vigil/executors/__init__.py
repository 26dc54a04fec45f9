"""vigil.executors."""
