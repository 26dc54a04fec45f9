"""``threat`` stage: apply a customer's rule set to each frame's detections; write the events it raises.

Input: a cross of the detect repo (``/*/*.json``, one frame per datum) and the rules repo (``/``: one rule file,
the 2017 ``rule.json`` or a native YAML rule set). Output ``/<camera>/<ts>.json``: the frame, the rules
version (the rule file's sha256, plus the rules commit) and the events (possibly none).

Temporal rules stay per-datum and deterministic: for persistence and cooldown, the frame's own camera's
frames in the look-back window W = max(persistence.seconds + cooldown_seconds) before it are read at the same
input commit (one path-range read) and replayed from an empty state. The result depends only on the frames
within W, so the cost of a new frame is bounded by the window, never by the camera's history. (A firing
more than W before a frame cannot suppress it.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from vigil.domain.detections import Detections
from vigil.domain.rules import RuleSet, parse_ruleset
from vigil.domain.threat import FrameFacts, ThreatState, evaluate
from vigil.errors import SpecError
from vigil.pipeline.transform import DatumContext, Outputs
from vigil.stages.frames import FramePath
from vigil.stages.records import encode_record

RULE_SUFFIXES = (".json", ".yaml", ".yml")


def frame_facts(doc: Mapping[str, Any], source: str) -> FrameFacts:
    """A detect-stage record as the rule engine's input."""
    return FrameFacts(doc.get("tenant"), doc["device"], int(doc["ts"]), int(doc["width"]), int(doc["height"]),
                      Detections.from_records(doc["objects"]), source)


def lookback_seconds(rules: RuleSet, tenant: str | None, device: str) -> int:
    return max((( r.persistence.seconds if r.persistence else 0) + r.cooldown_seconds
                for r in rules.rules if r.applies_to(tenant, device)), default=0)


class ThreatStage:
    def __init__(self, params: Mapping[str, Any]) -> None:
        self.detections = str(params.get("detections", "detect"))
        self.rules = str(params.get("rules", "rules"))
        self._cache: dict[str, RuleSet] = {}

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

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        return [self._one(d) for d in datums]

    def _one(self, ctx: DatumContext) -> Outputs:
        rules, version = self._ruleset(ctx)
        outputs: Outputs = {}
        for f in ctx.files(self.detections):
            if not f.path.endswith(".json"):
                continue
            frame = FramePath.parse(f.path)
            facts = frame_facts(json.loads(ctx.read(f)), f.path)
            state = ThreatState()
            window = lookback_seconds(rules, facts.tenant, facts.device)
            if window:
                lo = f"/{frame.camera}/{max(frame.ts - window, 0):010d}"
                for prior in ctx.neighbours(self.detections, lo, f"/{frame.camera}/{frame.ts:010d}"):
                    if prior.path.endswith(".json"):
                        _, state = evaluate(rules, frame_facts(json.loads(ctx.read(prior)), prior.path), state,
                                            rules_version=version["sha256"])
            events, _ = evaluate(rules, facts, state, rules_version=version["sha256"])
            doc = {"camera": frame.camera, "tenant": facts.tenant, "device": facts.device, "ts": facts.ts,
                   "source": f.path, "rules": version, "events": [e.to_dict() for e in events]}
            outputs[frame.path(".json")] = encode_record(doc)
        return outputs
