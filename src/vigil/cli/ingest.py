"""`vigil ingest SOURCE --camera NAME`: frames from an RTSP camera, a video file, a snapshot URL or a watched
folder into the images repo (heavy modules are imported inside the command)."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from vigil.cli.console import emit_json, err, out, terminate_on_sigterm
from vigil.cli.manual import examples
from vigil.cli.state import state


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("ingest"))(ingest)


def ingest(source: Annotated[str, typer.Argument(help="rtsp://..., http(s)://... snapshot URL, a video file, "
                                                      "or folder:PATH (a path ending in / is a folder too).")],
           camera: Annotated[str, typer.Option("--camera", "-c", help="Camera name, [<tenant>-]<device>.")],
           fps: Annotated[float | None, typer.Option(help="Frames kept per second (default: every frame).")] = None,
           repo: Annotated[str, typer.Option(help="Repo the frames are committed to.")] = "images",
           kind: Annotated[str | None, typer.Option(help="rtsp|video|snapshot|folder (default: from SOURCE).")]
           = None,
           interval: Annotated[float, typer.Option(help="Snapshot URLs: seconds between polls.")] = 1.0,
           group_frames: Annotated[int, typer.Option("--group-frames", help="Commit after this many frames...")]
           = 25,
           group_seconds: Annotated[float, typer.Option("--group-seconds", help="...or once the oldest waited "
                                                                                "this long.")] = 1.0,
           timeout: Annotated[float, typer.Option(help="Seconds to connect, and without a frame before "
                                                       "reconnecting.")] = 10.0,
           backoff_max: Annotated[float, typer.Option("--backoff-max", help="Longest wait between "
                                                                              "reconnects.")] = 60.0,
           start: Annotated[str | None, typer.Option(help="Video files: time of the first frame (unix seconds "
                                                          "or ISO-8601; default now).")] = None,
           duration: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: "
                                                               "until the source ends, or Ctrl-C).")] = None,
           remove: Annotated[bool, typer.Option("--remove", help="Watched folders: delete each file once "
                                                                 "committed.")] = False,
           json: Annotated[bool, typer.Option("--json", help="Print the final stats as JSON.")] = False) -> None:
    """Ingest frames from a live camera or a file until the source ends, --duration passes, or Ctrl-C/SIGTERM;
    frames are committed in small groups as they come (nothing staged is lost on Ctrl-C)."""
    from pydantic import ValidationError

    from vigil.domain.sources import SourceConfig
    from vigil.errors import UsageError
    from vigil.ingest.frames import parse_timestamp
    from vigil.ingest.live import ingestor_for

    try:
        config = SourceConfig(camera=camera, url=source, kind=kind, fps=fps, repo=repo, interval=interval,  # type: ignore[arg-type]
                              group_frames=group_frames, group_seconds=group_seconds, open_timeout=timeout,
                              read_timeout=timeout, backoff_max=backoff_max, remove=remove, name="cli")
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'source'}: {e['msg']}" for e in exc.errors())
        raise UsageError(problem, "see `vigil ingest --help`") from None
    first = float(parse_timestamp(start, "--start")) if start is not None else None
    app = state.app()
    ingestor = ingestor_for(config, app.store, app.committer_for, start=first)
    stop = threading.Event()
    timer = threading.Timer(duration, stop.set) if duration is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    err.print(f"ingesting {config.kind} source into {repo} as camera {camera} (Ctrl-C stops)")
    try:
        with terminate_on_sigterm():
            try:
                ingestor.run(stop)
            except KeyboardInterrupt:
                stop.set()
                ingestor.flush()
                ingestor.wait()
                raise
    finally:
        if timer is not None:
            timer.cancel()
        app.close_ingest()
        stats = ingestor.stats.to_dict()
        if json:
            emit_json(stats)
        else:
            out.print(f"{stats['frames_in']} frame(s) in, {stats['frames_out']} kept, {stats['committed']} "
                      f"committed in {stats['commits']} commit(s); {stats['reconnects']} reconnect(s), "
                      f"{stats['stalls']} stall(s), {stats['errors']} error(s)")
