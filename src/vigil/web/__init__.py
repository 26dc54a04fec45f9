"""The HTTP API of ``vigil serve`` (FastAPI): an app factory with one router per domain, token auth with tenant
scopes, errors as JSON with the CLI's classes and hints, Prometheus metrics. Needs the ``server`` extra."""
