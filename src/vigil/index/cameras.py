"""The cameras index: per camera, its tenant, how many valid frames it has and the newest one, derived from
the ``validate`` repo (``/valid/<camera>/<ts>[~dup].<ext>``). Frames come in through any door (HTTP push,
``vigil put``, a watched folder): the index sees them once validated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from vigil.domain.access import Principal
from vigil.domain.identity import parse_camera
from vigil.errors import NotFoundError
from vigil.index.events import scope_conditions
from vigil.index.feed import FeedIndex
from vigil.index.schema import cameras
from vigil.store.database import transaction
from vigil.store.feeds import FeedBatch
from vigil.store.store import Store

NAME = "cameras-index"
REPO = "validate"
PREFIX = "/valid/"


def _frame(path: str) -> tuple[str, int] | None:
    """(camera, ts) of a valid frame path, or None for anything else."""
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX):].split("/")
    if len(parts) != 2 or parse_camera(parts[0]) is None:
        return None
    stem = parts[1].split(".", 1)[0].partition("~")[0]
    return (parts[0], int(stem)) if stem.isdigit() else None


def _prepare(_store: Store, _batch: FeedBatch) -> None:
    return None


def _apply(conn: Connection, store: Store, batch: FeedBatch, _prepared: None) -> int:
    if batch.rebuilt:
        conn.execute(delete(cameras))
    delta: dict[str, int] = {}
    newest: dict[str, tuple[int, str]] = {}
    shrunk: set[str] = set()
    for change in batch.changes:
        frame = _frame(change.path)
        if frame is None:
            continue
        camera, ts = frame
        if change.kind == "deleted":
            delta[camera] = delta.get(camera, 0) - 1
            shrunk.add(camera)
            continue
        if change.kind == "added":
            delta[camera] = delta.get(camera, 0) + 1
        if camera not in newest or (ts, change.path) > newest[camera]:
            newest[camera] = (ts, change.path)
    for camera in sorted(delta.keys() | newest.keys()):
        _update(conn, store, batch.head.seq, camera, delta.get(camera, 0), newest.get(camera), camera in shrunk)
    return len(delta.keys() | newest.keys())


def _update(conn: Connection, store: Store, head: int, camera: str, delta: int, newest: tuple[int, str] | None,
            shrunk: bool) -> None:
    c = cameras.c
    row = conn.execute(select(cameras).where(c.camera == camera)).first()
    frames = (row.frames if row is not None else 0) + delta
    last = (row.last_ts, row.last_path) if row is not None and row.last_ts is not None else None
    if shrunk:  # the newest frame may be gone: look at what is left (deletions are rare)
        found = [(frame[1], f.path) for f in store.files_at(conn, head, f"{PREFIX}{camera}")
                 if (frame := _frame(f.path)) is not None]
        frames, last = len(found), max(found, default=None)
    if newest is not None and (last is None or newest > last):
        last = newest
    parsed = parse_camera(camera)
    values = {"tenant": parsed[0] if parsed else None, "frames": max(frames, 0),
              "last_ts": last[0] if last else None, "last_path": last[1] if last else None}
    if row is None:
        conn.execute(insert(cameras).values(camera=camera, **values))
    elif values["frames"] == 0:
        conn.execute(delete(cameras).where(c.camera == camera))
    else:
        conn.execute(update(cameras).where(c.camera == camera).values(**values))


def cameras_index(store: Store) -> FeedIndex:
    """The duty that keeps the cameras index up to date."""
    return FeedIndex(store, NAME, REPO, _prepare, _apply)


def _dict(row: Any) -> dict[str, Any]:
    return {"camera": row.camera, "tenant": row.tenant, "frames": row.frames, "last_ts": row.last_ts,
            "last_frame": row.last_path}


def list_cameras(store: Store, principal: Principal) -> list[dict[str, Any]]:
    """The cameras the principal may see, by name."""
    c = cameras.c
    with transaction(store.engine) as conn:
        rows = conn.execute(select(cameras).where(*scope_conditions(principal, c.tenant, c.camera))
                            .order_by(c.camera)).all()
    return [_dict(r) for r in rows]


def get_camera(store: Store, principal: Principal, camera: str) -> dict[str, Any]:
    """One camera the principal may see; ``NotFoundError`` otherwise (also for cameras with no valid frame)."""
    c = cameras.c
    if principal.sees_camera(camera):
        with transaction(store.engine) as conn:
            row = conn.execute(select(cameras).where(c.camera == camera)).first()
        if row is not None:
            return _dict(row)
    raise NotFoundError(f"no camera {camera!r} (or no valid frame from it yet)", "list cameras: GET /api/v1/cameras")

