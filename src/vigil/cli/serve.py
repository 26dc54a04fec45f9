"""`vigil serve`: the HTTP API (camera push, events, metrics) with the runner in the same process."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli.state import state


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port (0: any free one, logged at start).")] = 8080,
          no_runner: Annotated[bool, typer.Option("--no-runner", help="API only: run no pipelines or duties "
                                                                         "here (replicas behind a runner).")] = False,
          log_json: Annotated[bool, typer.Option("--log-json", help="Log one JSON object per line.")] = False,
          interval: Annotated[float, typer.Option(help="Seconds between runner polls.")] = 0.5,
          max_body_mb: Annotated[int, typer.Option("--max-body-mb", help="Largest request body, MiB.")] = 32,
          grace: Annotated[float, typer.Option(help="Seconds a running job may finish on SIGTERM before it is "
                                                    "marked KILLED.")] = 20.0) -> None:
    """Serve the HTTP API of this workspace (and run its pipelines continuously) until SIGTERM or Ctrl-C."""
    from vigil.errors import UsageError

    try:
        import fastapi  # noqa: F401
        import itsdangerous  # noqa: F401  (the dashboard's sessions)
        import jinja2  # noqa: F401  (the dashboard's pages)
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError("`vigil serve` needs the server extra (FastAPI, uvicorn, Jinja2, itsdangerous)",
                         "install it: pip install 'vigil[server]'") from None
    from vigil.web.server import serve as run_server

    run_server(state.app(), host, port, runner=not no_runner, log_json=log_json, interval=interval,
               max_body=max_body_mb * 1024 * 1024, shutdown_grace=grace)
