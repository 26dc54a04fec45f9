"""The `vigil` command: the root Typer app, global options, and the one place errors become exit codes.

Start-up matters (`vigil --help` and `--version` answer in well under half a second): this module and the
command modules import only typer and Vigil's light modules at import time; each command imports the
application API (SQLAlchemy, pydantic, numpy, OpenCV...) inside its body. `tests/cli/test_startup.py` guards it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from vigil import __version__
from vigil.cli import (
    alerts,
    audit,
    camera,
    data,
    feedback,
    index,
    ingest,
    manual,
    measure,
    pipelines,
    retention,
    serve,
    tokens,
    worker,
)
from vigil.cli.console import err, terminated
from vigil.cli.state import state
from vigil.errors import RedactingFilter, VigilError, environment_error, redact

EXIT_INTERNAL = 70

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="vigil",
    help="Vigil: security-camera images in, trustworthy alerts out.\n\n"
         "Run `vigil COMMAND -h` for a command's options and examples; `vigil help exit-codes` for exit codes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help (as git, pachctl, dvc): no box drawing, no `<bool>` beside flags
    context_settings=CONTEXT,
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
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    state.workspace = workspace
    state.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # secrets never reach a log line
        handler.addFilter(RedactingFilter())
    from vigil.settings import check_environment

    check_environment()


data.register(app)
pipelines.register(app)
camera.register(app)
measure.register(app)
manual.register(app)
alerts.register(app)
serve.register(app)
ingest.register(app)
tokens.register(app)
index.register(app)
feedback.register(app)
audit.register(app)
retention.register(app)
worker.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every error to one line on stderr and an exit code."""
    try:
        # without standalone mode the command's `typer.Exit(code)` is returned instead of raised
        rc = app(args=argv, standalone_mode=False)
        if rc == 130:  # typer's answer to an interrupt: Ctrl-C, or SIGTERM (see console.terminate_on_sigterm)
            err.print("terminated" if terminated() else "aborted")
            return 143 if terminated() else 130
        return rc if isinstance(rc, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # click's usage errors (typer vendors click and derives them from this)
        message = exc.format_message()
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "vigil"
        if message:  # empty for a group called without a command: its help was already shown
            _print_error(message, f"see `{command} --help`")
        return int(getattr(exc, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):
        err.print("terminated" if terminated() else "aborted")
        return 143 if terminated() else 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # VigilError, environment failures (disk full, ...), and the unexpected
        if state.debug:
            raise
        error = environment_error(exc) or (exc if isinstance(exc, VigilError) else None)
        if error is not None:
            _print_error(error.message, error.hint)
            return error.exit_code
        _print_error(f"{exc.__class__.__name__}: {exc}", "re-run with --debug for the traceback, and report it",
                     "internal error")
        return EXIT_INTERNAL


def _print_error(message: str, hint: str | None, label: str = "error") -> None:
    """One line of error and one of hint, on stderr, with secrets redacted (messages quote URLs and paths)."""
    from rich.markup import escape

    # escape: messages quote user paths, which may contain rich markup such as "[/]"
    text = f"[red]{label}:[/] {escape(redact(' '.join(message.split())))}"
    if hint:
        text += f"\n[dim]hint:[/] {escape(redact(' '.join(hint.split())))}"
    err.print(text)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":  # python -m vigil.cli.main (benchmarks and tests without the console script)
    entry()
