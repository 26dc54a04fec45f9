"""The `vigil` command: the root Typer app, global options, and the one place errors become exit codes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.markup import escape

from vigil import __version__
from vigil.cli import camera, data, feedback, index, measure, pipelines, serve, tokens
from vigil.cli.console import err, terminated
from vigil.cli.state import state
from vigil.errors import VigilError

EXIT_INTERNAL = 70

app = typer.Typer(
    name="vigil",
    help="Vigil: security-camera images in, trustworthy alerts out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vigil {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w", envvar="VIGIL_WORKSPACE",
                                                   help="Workspace folder (default: found from the cwd).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    state.workspace = workspace
    state.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


data.register(app)
pipelines.register(app)
camera.register(app)
measure.register(app)
serve.register(app)
tokens.register(app)
index.register(app)
feedback.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every error to one line on stderr and an exit code."""
    try:
        # without standalone mode click returns a command's `typer.Exit(code)` instead of raising it
        rc = app(args=argv, standalone_mode=False)
        if rc == 130:  # typer's answer to an interrupt: Ctrl-C, or SIGTERM (see console.terminate_on_sigterm)
            err.print("terminated" if terminated() else "aborted")
            return 143 if terminated() else 130
        return rc if isinstance(rc, int) else 0
    except VigilError as exc:
        if state.debug:
            raise
        # escape: messages quote user paths, which may contain rich markup such as "[/]"
        hint = f"\n[dim]hint:[/] {escape(exc.hint)}" if exc.hint else ""
        err.print(f"[red]error:[/] {escape(exc.message)}{hint}")
        return exc.exit_code
    except (click.exceptions.Exit, typer.Exit) as exc:
        return int(getattr(exc, "exit_code", 0))
    except (click.ClickException, typer.TyperException) as exc:  # recent typer raises its own copy of click's
        fmt = getattr(exc, "format_message", None)
        message = fmt() if fmt is not None else str(exc)
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "vigil"
        if message:  # empty for a group called without a command: its help was already shown
            err.print(f"[red]error:[/] {escape(message)}\n[dim]hint:[/] see `{escape(command)} --help`")
        return int(getattr(exc, "exit_code", 2))
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("terminated" if terminated() else "aborted")
        return 143 if terminated() else 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an unexpected failure: one line, traceback only on request
        if state.debug:
            raise
        err.print(f"[red]internal error:[/] {exc.__class__.__name__}: {escape(str(exc))}\n"
                  "[dim]hint:[/] re-run with --debug for the traceback, and report it")
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())
