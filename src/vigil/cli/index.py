"""`vigil index rebuild`: derive the events, cameras and feedback indexes again from their repos."""

from __future__ import annotations

import typer

from vigil.cli.console import out
from vigil.cli.state import state

index_app = typer.Typer(help="The SQL indexes the API reads (derived from repos).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")


@index_app.command("rebuild")
def rebuild() -> None:
    """Forget every index's cursor and derive it from its repo's head (safe while servers run)."""
    for name, n in state.app().rebuild_indexes().items():
        out.print(f"{name}: {n} record(s)")
