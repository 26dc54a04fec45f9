"""`vigil worker`: a Dask worker for pipelines placed on a Dask cluster, or (``--stdio``) a worker container's
end of the container executor's protocol."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from vigil.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples:\n\n  vigil worker tcp://127.0.0.1:8786\n\n"
                       "  vigil worker tcp://scheduler:8786 --nworkers 2 --memory-limit 2GiB\n\n"
                       "Plain `dask worker ADDRESS --nthreads 1` works too, where Vigil is installed.")(worker)


def worker(
    address: Annotated[str | None, typer.Argument(
        help="The Dask scheduler, e.g. tcp://127.0.0.1:8786 (as in `executor: {type: dask, address: ...}`).")] = None,
    nworkers: Annotated[int, typer.Option("--nworkers", min=1, help="Worker processes (one stage copy each).")] = 1,
    nthreads: Annotated[int, typer.Option("--nthreads", min=1, help="Threads per worker process.")] = 1,
    memory_limit: Annotated[str, typer.Option("--memory-limit", help="Per worker process, e.g. 2GiB, or auto.")
                            ] = "auto",
    name: Annotated[str | None, typer.Option("--name", help="Worker name (default: vigil-<host>-<pid>).")] = None,
    nanny_port: Annotated[str | None, typer.Option(
        "--nanny-port", help="Port (or range) of the nanny, for a pod's probes; default: any free one.")] = None,
    worker_port: Annotated[str | None, typer.Option(
        "--worker-port", help="Port (or range) of the worker process; default: any free one.")] = None,
    stdio: Annotated[bool, typer.Option("--stdio", hidden=True, help="Serve the container protocol on stdin/stdout.")
                     ] = False,
) -> None:
    """Run Dask worker processes that serve pipelines placed on the cluster at ADDRESS.

    Each process keeps every pipeline's stage warm (the model is loaded once) and reads and writes the object
    store of the workspace it serves (S3, or a folder mounted at the same path); it never opens the metadata
    database. One thread per process is the default: the stages use their own threads (onnxruntime), and
    processes scale across cores without sharing the GIL. Stops on Ctrl-C or SIGTERM.
    """
    if stdio:
        from vigil.execution import serve_worker

        raise typer.Exit(serve_worker())
    if not address:
        raise UsageError("vigil worker needs the Dask scheduler's address", "e.g. vigil worker tcp://127.0.0.1:8786")
    try:
        from distributed.cli.dask_worker import main as dask_worker
    except ImportError:
        raise UsageError("vigil worker needs the dask extra", "pip install 'vigil[dask]'") from None
    args = [address, "--nworkers", str(nworkers), "--nthreads", str(nthreads), "--memory-limit", memory_limit,
            "--no-dashboard"]
    args += [a for flag, v in (("--nanny-port", nanny_port), ("--worker-port", worker_port)) if v for a in (flag, v)]
    if nworkers == 1:  # several processes are named by Dask (name-0, name-1...) from a common prefix
        args += ["--name", name or f"vigil-{socket.gethostname()}-{os.getpid()}"]
    elif name:
        args += ["--name", name]
    # dask's own command line: its nanny restarts a worker process that dies, and SIGTERM closes them cleanly
    raise typer.Exit(dask_worker.main(args=args, prog_name="vigil worker", standalone_mode=False) or 0)
