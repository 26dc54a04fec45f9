"""vigil.cli."""
