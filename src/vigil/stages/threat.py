"""``threat`` stage: apply a customer's rule set to each frame's detections; write the events it raises.

Input: a cross of the detect repo (``/*/*.json``, one frame per datum) and the rules repo (``/``: one rule file,
the 2017 ``rule.json`` or a native YAML rule set). Output ``/<camera>/<ts>.json``: the frame, the rules
version (the rule file's sha256, plus the rules commit) and the events (possibly none).

Temporal rules stay per-datum and deterministic: for persistence and cooldown, the frame's own camera's
frames in the look-back window W = max(persistence.seconds + cooldown_seconds) before it are read at the same
input commit (one path-range read) and replayed from an empty state. The result depends only on the frames
within W, so the cost of a new frame is bounded by the window, never by the camera's history. (A firing
more than W before a frame cannot suppress it.)

Camera-health rules (:mod:`vigil.domain.health`) read the motion verdicts in the detect records of the same
kind of window, and raise events in the same record format. Rules judged per tracked object (``per_track``,
``min_dwell``: :mod:`vigil.domain.tracks`) replay the camera's detected frames through ByteTrack from the start
of the previous ``tracking.window_seconds`` epoch (:func:`vigil.domain.tracks.replay_start`): every frame of an
epoch replays a prefix of one sequence, which is what keeps a track's id and its single alert consistent when
each frame is judged alone; the tracker states are cached by the frames fed, so a frame costs one tracker update
when its predecessors were judged by the same worker. The record then lists the frame's tracked objects.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vigil.domain import health, tracks
from vigil.domain.detections import Detections
from vigil.domain.rules import RuleSet, parse_ruleset
from vigil.domain.threat import FrameFacts, ThreatEvent, ThreatState, evaluate
from vigil.errors import SpecError
from vigil.pipeline.datums import FileRef
from vigil.pipeline.transform import DatumContext, Outputs
from vigil.stages.frames import FramePath
from vigil.stages.records import encode_record
from vigil.store.models import FileInfo
from vigil.vision.tracking import replay

RULE_SUFFIXES = (".json", ".yaml", ".yml")
DOC_CACHE = 4096  # parsed detect records kept per worker (a camera's look-back is read by many frames)


def frame_facts(doc: Mapping[str, Any], source: str) -> FrameFacts:
    """A detect-stage record as the rule engine's input."""
    return FrameFacts(doc.get("tenant"), doc["device"], int(doc["ts"]), int(doc["width"]), int(doc["height"]),
                      Detections.from_records(doc["objects"]), source)


def lookback_seconds(rules: RuleSet, tenant: str | None, device: str) -> int:
    """The look-back of the frame-by-frame rules (persistence + cooldown)."""
    return max(((r.persistence.seconds if r.persistence else 0) + r.cooldown_seconds
                for r in rules.rules if r.applies_to(tenant, device) and not r.tracked and r.health is None),
               default=0)


def tracked_classes(rules: RuleSet, tenant: str | None, device: str) -> frozenset[int] | None:
    """COCO-80 ids the tracker is fed for this camera (None: every class; empty: no tracked rule applies)."""
    chosen = [r for r in rules.rules if r.tracked and r.applies_to(tenant, device)]
    if any(not r.class_ids for r in chosen):
        return None
    return frozenset().union(*(r.class_ids for r in chosen))


@dataclass(frozen=True)
class Prior:
    """An earlier detect record of the frame's camera, parsed once per worker (by blob id)."""

    path: str
    oid: str
    doc: dict[str, Any]


class ThreatStage:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.detections = str(params.get("detections", "detect"))
        self.rules = str(params.get("rules", "rules"))
        self._cache: dict[str, RuleSet] = {}
        self._docs: OrderedDict[str, dict[str, Any]] = OrderedDict()  # parsed detect records by blob id

    def setup(self) -> None:
        pass

    def _ruleset(self, ctx: DatumContext) -> tuple[RuleSet, dict[str, str]]:
        files = [f for f in ctx.files(self.rules) if f.path.endswith(RULE_SUFFIXES)]
        if len(files) != 1:
            found = ", ".join(f.path for f in ctx.files(self.rules)) or "nothing"
            raise SpecError(f"the rules input must hold exactly one rule file (.json/.yaml); found {found}",
                            "keep one rule set per rules branch, or narrow the rules input's glob")
        f = files[0]
        if f.oid not in self._cache:
            self._cache[f.oid] = parse_ruleset(ctx.read(f).decode("utf-8"), f.path)
        commit = ctx.input(self.rules)[0].commit
        return self._cache[f.oid], {"path": f.path, "sha256": f.oid, "commit": commit}

    def _doc(self, ctx: DatumContext, file: FileRef | FileInfo) -> dict[str, Any]:
        doc = self._docs.get(file.oid)
        if doc is None:
            doc = self._docs[file.oid] = json.loads(ctx.read(file))
            while len(self._docs) > DOC_CACHE:
                self._docs.popitem(last=False)
        return doc

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        return [self._one(d) for d in datums]

    def _priors(self, ctx: DatumContext, frame: FramePath, since: int) -> list[Prior]:
        lo = f"/{frame.camera}/{max(since, 0):010d}"
        return [Prior(p.path, p.oid, self._doc(ctx, p))
                for p in ctx.neighbours(self.detections, lo, f"/{frame.camera}/{frame.ts:010d}")
                if p.path.endswith(".json")]

    def _one(self, ctx: DatumContext) -> Outputs:
        rules, version = self._ruleset(ctx)
        outputs: Outputs = {}
        for f in ctx.files(self.detections):
            if not f.path.endswith(".json"):
                continue
            frame = FramePath.parse(f.path)
            doc = self._doc(ctx, f)
            facts = frame_facts(doc, f.path)
            window = lookback_seconds(rules, facts.tenant, facts.device)
            health_window = health.lookback_seconds(rules, facts.tenant, facts.device)
            classes = tracked_classes(rules, facts.tenant, facts.device)
            tracking = classes is None or bool(classes)
            since = min(frame.ts - window, frame.ts - health_window,
                        tracks.replay_start(frame.ts, rules.tracking.window_seconds) if tracking else frame.ts)
            priors = self._priors(ctx, frame, since) if since < frame.ts else []
            state = ThreatState()
            sha = version["sha256"]
            for prior in priors:
                if window and int(prior.doc["ts"]) >= frame.ts - window:
                    _, state = evaluate(rules, frame_facts(prior.doc, prior.path), state, rules_version=sha)
            events: list[ThreatEvent] = evaluate(rules, facts, state, rules_version=sha)[0]
            if health_window:
                scene = [health.SceneFacts.from_record(p.doc, p.path) for p in priors
                         if int(p.doc["ts"]) >= frame.ts - health_window]
                current = health.SceneFacts.from_record(doc, f.path)
                if current is not None:
                    events += health.health_events(rules, [s for s in scene if s is not None] + [current],
                                                   rules_version=version["sha256"])
            record: dict[str, Any] = {"camera": frame.camera, "tenant": facts.tenant, "device": facts.device,
                                      "ts": facts.ts, "source": f.path, "rules": version}
            if tracking:
                start = tracks.replay_start(frame.ts, rules.tracking.window_seconds)
                fed = [p for p in priors if int(p.doc["ts"]) >= start] + [Prior(f.path, f.oid, doc)]
                tracked = self._track(fed, rules, classes, version["sha256"])
                events += tracks.tracked_events(rules, tracked, rules_version=version["sha256"])
                current_ids = tracked[-1].track_ids
                record["tracks"] = [{**o, "track_id": t} for o, t in zip(
                    tracked[-1].facts.detections.to_records(), current_ids, strict=True) if t is not None]
            record["events"] = [e.to_dict() for e in events]
            outputs[frame.path(".json")] = encode_record(record)
        return outputs

    def _track(self, fed: Sequence[Prior], rules: RuleSet, classes: frozenset[int] | None,
               rules_sha: str) -> list[tracks.TrackedFrame]:
        """Each frame's facts restricted to the tracked classes, with the track id of each detection. Frames
        the motion stage ruled out are not fed (the tracker keeps its tracks across quiet stretches)."""
        frames = []
        for p in fed:
            facts = frame_facts(p.doc, p.path)
            if classes is not None:
                det = facts.detections
                facts = replace(facts, detections=det.filter(np.isin(det.class_id, sorted(classes))))
            frames.append((p, facts))
        detected = [(p, facts) for p, facts in frames if "skipped" not in p.doc or p is fed[-1]]
        salt = f"{rules_sha}:{sorted(classes) if classes is not None else 'all'}"
        ids = replay([(f"{p.path}:{p.oid}", facts.ts, facts.detections) for p, facts in detected],
                     rules.tracking, salt)
        by_path = {p.path: i for (p, _), i in zip(detected, ids, strict=True)}
        return [tracks.TrackedFrame(facts, by_path.get(p.path, (None,) * len(facts.detections)))
                for p, facts in frames]
