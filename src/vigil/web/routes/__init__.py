"""One router per domain; :func:`vigil.web.factory.create_app` mounts them (pages can be added the same way)."""
