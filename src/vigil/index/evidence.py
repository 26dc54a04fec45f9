"""What an event is made of: why it fired (its rule as it was, the model), where it came from (lineage), and
its picture (the frame with the event's objects boxed, drawn on demand and cached by content)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, BinaryIO

import cv2
import numpy as np

from vigil.domain.access import Principal
from vigil.domain.detections import Detections
from vigil.domain.rules import parse_ruleset
from vigil.errors import NotFoundError, SpecError
from vigil.pipeline.registry import list_pipelines
from vigil.store import erasure, history
from vigil.store.database import transaction
from vigil.store.store import Store
from vigil.vision.draw import annotate
from vigil.vision.image import decode_image, encode_jpeg

THUMBNAIL = 320  # longest side of a thumbnail, pixels
RULES = "rules"


@dataclass(frozen=True)
class Picture:
    """Image bytes (None until drawn), their media type, and an ETag that changes whenever they would."""

    etag: str
    media_type: str
    data: bytes


def _record(store: Store, repo: str, path: str) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(store.read_bytes(repo, None, path))
    except NotFoundError:
        raise NotFoundError(f"the {repo} record {path} behind this event is gone (re-derived since?)",
                            "run `vigil index rebuild` if this persists") from None
    return doc


def explain(store: Store, event: dict[str, Any]) -> dict[str, Any]:
    """``event`` plus ``reason`` (rule definition at the rules commit used, model, objects) and ``lineage``
    (the threat commit, every upstream commit by repo, the pipelines' versions)."""
    threat = _record(store, "threat", event["threat_path"])
    detect = _record(store, "detect", event["source"])
    writer = history.last_writer(store, "threat", None, event["threat_path"])
    upstream: dict[str, str] = {}
    for node in history.lineage(store, "threat", writer.id, "up"):
        upstream.setdefault(node.repo, node.commit)  # breadth-first: the nearest commit of each repo
    rules = threat.get("rules", {})
    reason = {"rule": _rule_at(store, rules, event["rule_id"]), "objects": event["objects"],
              "model": detect.get("model"), "frame": detect.get("source"),
              "frame_size": [detect.get("width"), detect.get("height")]}
    versions = {p.name: p.version for p in list_pipelines(store)}
    lineage = {"threat_commit": writer.id, "commits": upstream, "rules": rules,
               "model_sha256": (detect.get("model") or {}).get("sha256"), "pipelines": versions}
    return {**event, "reason": reason, "lineage": lineage}


def _rule_at(store: Store, rules: dict[str, Any], rule_id: str) -> dict[str, Any] | None:
    """The rule's definition in the rule file the event was evaluated with (None if it cannot be read)."""
    try:
        text = store.read_bytes(RULES, rules.get("commit"), rules.get("path", "/rule.json")).decode("utf-8")
        ruleset = parse_ruleset(text, rules.get("path", "rules"))
    except (NotFoundError, SpecError, UnicodeDecodeError):
        return None
    rule = next((r for r in ruleset.rules if r.id == rule_id), None)
    return rule.model_dump(mode="json") if rule is not None else None


class _Cache:
    """A small LRU of drawn pictures by ETag (drawing costs a decode and an encode: ~10 ms)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[str, Picture] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Picture | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, picture: Picture) -> None:
        with self._lock:
            self._items[picture.etag] = picture
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_cache = _Cache()


def picture(store: Store, event: dict[str, Any], thumbnail: bool) -> Picture:
    """The frame behind ``event`` with its objects boxed, as JPEG (a thumbnail: longest side 320 px)."""
    detect = _record(store, "detect", event["source"])
    frame_oid = detect["source"]["sha256"]
    objects = json.dumps(event["objects"], sort_keys=True)
    etag = hashlib.sha256(f"{frame_oid}|{objects}|{thumbnail}".encode()).hexdigest()[:32]
    cached = _cache.get(etag)
    if cached is not None:
        return cached
    with _frame(store, frame_oid) as fh:
        image = annotate(decode_image(fh.read()), Detections.from_records(event["objects"]))
    if thumbnail:
        h, w = image.shape[:2]
        scale = THUMBNAIL / max(h, w)
        if scale < 1:
            image = np.asarray(cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                                          interpolation=cv2.INTER_AREA), np.uint8)
    drawn = Picture(etag, "image/jpeg", encode_jpeg(image, 85))
    _cache.put(drawn)
    return drawn


def _frame(store: Store, oid: str) -> BinaryIO:
    """The frame's bytes; a frame deleted by retention says so (its record and sha256 stay)."""
    try:
        return store.objects.open(oid)
    except NotFoundError:
        with transaction(store.engine) as conn:
            gone = erasure.erased(conn, oid)
        if gone is None:
            raise
        raise NotFoundError(f"the frame of this event (sha256 {oid}) was {gone.describe()}",
                            "the event record and the frame's hash remain; the picture cannot be shown") from None


def latest_frame(store: Store, camera: dict[str, Any]) -> Picture:
    """The newest valid frame of a camera (from the cameras index), as stored."""
    info = store.stat("validate", None, camera["last_frame"])
    media = "image/png" if info.path.endswith(".png") else "image/jpeg"
    with store.objects.open(info.oid) as fh:
        return Picture(info.oid[:32], media, fh.read())


def current_rules(store: Store, who: Principal) -> dict[str, Any]:
    """The rule set at the rules repo's head: all of it for every-tenant tokens; for a tenant's token, only
    the rules whose ``tenants`` patterns name that tenant."""
    files = [f for f in store.list_files(RULES) if f.path.endswith((".json", ".yaml", ".yml"))]
    if not files:
        raise NotFoundError("no rule file in the rules repo", "commit one: `vigil put rules:/rules.yaml FILE`")
    ruleset = parse_ruleset(store.read_bytes(RULES, None, files[0].path).decode("utf-8"), files[0].path)
    rules = [r for r in ruleset.rules
             if who.tenant is None or (r.tenants and r.applies_to(who.tenant, "*"))]
    return {"path": files[0].path, "sha256": files[0].oid, "timezone": ruleset.timezone,
            "rules": [r.model_dump(mode="json") for r in rules]}


__all__ = ["Picture", "current_rules", "explain", "latest_frame", "picture"]
