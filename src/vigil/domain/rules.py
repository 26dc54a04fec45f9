"""Threat rule sets: typed models and parsing of the native YAML format and the 2017 ``rule.json``.

A :class:`RuleSet` is fully resolved when built: ``use`` references to global rules are merged in (the
global's fields are defaults, the rule's own keys win, lists are replaced rather than concatenated), class
names are checked against COCO-80 and time zones against the IANA database. Evaluation lives in
:mod:`vigil.domain.threat`.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import re
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vigil.domain.coco import COCO80_NAMES, TF_ID_TO_COCO80, class_index
from vigil.domain.zones import Polygon, validate_polygon
from vigil.errors import SpecError

Severity = Literal["low", "medium", "high", "critical"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_GROUPS: dict[str, tuple[Day, ...]] = {"weekdays": DAYS[:5], "weekends": DAYS[5:], "all": DAYS}
_FULL_DAY_NAMES = {f"{d}day": d[:3] for d in ("mon", "tues", "wednes", "thurs", "fri", "satur", "sun")}
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
ZoneSpec = Annotated[tuple[tuple[Unit, Unit], ...], Field(min_length=3)]  # normalised polygon vertices


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class _KeyedError(ValueError):
    """A validation failure that knows its dotted key path (for checks that span several fields)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _minutes(text: str, *, allow_24: bool) -> int:
    m = _HHMM.match(text.strip())
    hours, minutes = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
    total = hours * 60 + minutes
    if not m or minutes > 59 or not (0 <= total < 1440 or (allow_24 and total == 1440)):
        raise ValueError(
            f'expected a time of day as a quoted "HH:MM" string (00:00..23:59; 24:00 as an end), got {text!r}'
        )
    return total


class TimeWindow(_Model):
    """Local wall-clock window on some days.

    ``start`` > ``end`` crosses midnight and belongs to the day it starts ("fri 22:00-06:00" covers Saturday
    00:00-06:00 too, but not Friday 00:00-06:00). ``end`` may be "24:00".
    """

    days: tuple[Day, ...] = DAYS
    start: str
    end: str

    @field_validator("days", mode="before")
    @classmethod
    def _expand_days(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            return value
        out: set[str] = set()
        for item in items:
            key = item.strip().lower()
            key = _FULL_DAY_NAMES.get(key, key)
            out.update(_DAY_GROUPS.get(key, (key,)))
        return tuple(sorted(out, key=lambda d: (DAYS.index(d) if d in DAYS else 7, d)))

    @field_validator("start")
    @classmethod
    def _check_start(cls, value: str) -> str:
        _minutes(value, allow_24=False)
        return value.strip()

    @field_validator("end")
    @classmethod
    def _check_end(cls, value: str) -> str:
        _minutes(value, allow_24=True)
        return value.strip()

    @model_validator(mode="after")
    def _check_span(self) -> TimeWindow:
        if self.start_minute == self.end_minute:
            raise ValueError(f"start and end are both {self.start}; for a whole day use 00:00 to 24:00")
        return self

    @property
    def start_minute(self) -> int:
        return _minutes(self.start, allow_24=False)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end, allow_24=True)

    def contains(self, local: datetime) -> bool:
        """True if the wall-clock time ``local`` (already in the rule set's zone) falls in this window."""
        minute, day = local.hour * 60 + local.minute, DAYS[local.weekday()]
        start, end = self.start_minute, self.end_minute
        if start < end:
            return day in self.days and start <= minute < end
        previous = DAYS[(local.weekday() - 1) % 7]
        return (day in self.days and minute >= start) or (previous in self.days and minute < end)


class Persistence(_Model):
    """Fire only once the rule matched in at least ``frames`` frames within the last ``seconds`` seconds."""

    frames: int = Field(ge=1, le=1000)
    seconds: int = Field(ge=0)


HealthCondition = Literal["frozen", "blinded", "moved", "offline"]


class HealthCheck(_Model):
    """A camera-health condition (a ``health`` rule): it fires once when the condition has held for ``frames``
    consecutive frames, and (``recovery``) once more when it stops. Thresholds judge the motion stage's scene
    facts; ``offline`` is judged on a clock by :func:`vigil.domain.health.offline_events`, not per frame."""

    condition: HealthCondition
    frames: int = Field(default=10, ge=1, le=1000, description="consecutive frames the condition must hold")
    seconds: int = Field(default=120, ge=1, description="look-back read to count them (must hold > frames frames)")
    recovery: bool = True
    frozen_delta: float = Field(default=0.02, ge=0.0, description="mean grey change from the previous frame below "
                                "which a frame counts as frozen (a byte-identical frame always does)")
    moved_similarity: float = Field(default=0.2, ge=-1.0, le=1.0, description="structural similarity to the "
                                    "camera's recent view below which the view counts as moved")
    blinded_std: float = Field(default=0.0, ge=0.0, description="thumbnail luma std below which a valid frame "
                               "also counts as blinded (validate's black/blank/low-contrast frames always do)")
    offline_factor: float = Field(default=5.0, gt=1.0, description="offline after this many usual intervals")
    min_offline_seconds: int = Field(default=60, ge=1, description="never offline sooner than this")


class Tracking(_Model):
    """How frames are tracked for rules with ``per_track`` or ``min_dwell`` (ByteTrack, replayed per frame).

    Every frame of one ``window_seconds`` epoch replays its camera's frames from the start of the epoch
    before, so the replay behind a frame is a prefix of the replay behind any later frame of its epoch."""

    window_seconds: int = Field(default=60, ge=2, le=3600)
    activation_score: float = Field(default=0.25, ge=0.0, le=1.0, description="score that may start a track")
    match_iou: float = Field(default=0.2, gt=0.0, le=1.0, description="overlap that continues a track")
    lost_frames: int = Field(default=30, ge=1, le=10_000, description="detected frames a lost track is kept")


class NotifyTarget(_Model):
    channel: Literal["email", "webhook", "mqtt"]
    to: str = Field(min_length=1)
    sender: str | None = None  # e-mail "From" (the 2017 rule.json's from_email); None = the channel's default


def _check_class_name(name: str) -> str:
    try:
        return COCO80_NAMES[class_index(name)]
    except ValueError:
        close = difflib.get_close_matches(name.strip().lower(), COCO80_NAMES, n=3, cutoff=0.6)
        close += [n for n in COCO80_NAMES if name.strip().lower()[:3] == n[:3] and n not in close]
        hint = f"did you mean {', '.join(close)}?" if close else "see vigil.domain.coco.COCO80_NAMES"
        raise ValueError(f"unknown COCO class name {name!r} (COCO-80 has no such class); {hint}") from None


class RuleFields(_Model):
    """The fields a rule and a global rule share; a rule's ``use`` takes a global's as defaults."""

    description: str = ""
    tenants: tuple[str, ...] = ()  # fnmatch patterns; empty = every tenant
    devices: tuple[str, ...] = ()  # fnmatch patterns; empty = every device
    classes: tuple[str, ...] = ()  # COCO-80 names; empty = every class
    min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    zones: tuple[ZoneSpec, ...] = ()
    time_windows: tuple[TimeWindow, ...] = ()
    min_area: float = Field(default=0.0, ge=0.0, le=1.0)
    min_count: int = Field(default=1, ge=1)
    persistence: Persistence | None = None
    cooldown_seconds: int = Field(default=0, ge=0)
    per_track: bool = False  # one alert per tracked object (its best frame so far as evidence)
    min_dwell: int = Field(default=0, ge=0)  # seconds a tracked object must have matched before it fires
    health: HealthCheck | None = None  # a camera-health rule: object filters do not apply
    severity: Severity = "medium"
    notify: tuple[NotifyTarget, ...] = ()

    @field_validator("classes")
    @classmethod
    def _check_classes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_check_class_name(name) for name in value))

    @field_validator("zones")
    @classmethod
    def _check_zones(cls, value: tuple[Polygon, ...]) -> tuple[Polygon, ...]:
        return tuple(validate_polygon(zone) for zone in value)


class GlobalRule(RuleFields):
    name: str = ""


class Rule(RuleFields):
    id: str = Field(min_length=1)
    use: str | None = None  # id of the global rule merged in (kept for provenance)

    @cached_property
    def class_ids(self) -> frozenset[int]:
        """COCO-80 indices of ``classes`` (empty = any class)."""
        return frozenset(class_index(name) for name in self.classes)

    @property
    def tracked(self) -> bool:
        """Judged per tracked object (``per_track`` or ``min_dwell``): at most one event per track."""
        return self.health is None and (self.per_track or self.min_dwell > 0)

    def applies_to(self, tenant: str | None, device: str) -> bool:
        """True if the tenant and device match the rule's patterns (case-sensitive fnmatch; empty = all)."""
        if self.tenants and (tenant is None or not any(fnmatch.fnmatchcase(tenant, p) for p in self.tenants)):
            return False
        return not self.devices or any(fnmatch.fnmatchcase(device, p) for p in self.devices)

    def active_at(self, local: datetime) -> bool:
        """True if ``local`` is in any time window (always true without windows)."""
        return not self.time_windows or any(w.contains(local) for w in self.time_windows)


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r} (e.g. 'Europe/Berlin', 'UTC')") from None
    return name


class RuleSet(_Model):
    """A versioned set of threat rules. ``version`` is the format version (1)."""

    version: Literal[1]
    description: str = ""
    timezone: str = "UTC"
    device_timezones: dict[str, str] = {}  # device name or fnmatch pattern -> IANA zone
    globals: dict[str, GlobalRule] = {}
    rules: tuple[Rule, ...] = ()
    tracking: Tracking = Tracking()

    @model_validator(mode="before")
    @classmethod
    def _apply_globals(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list | tuple):
            return data
        raw_globals = data.get("globals") or {}
        raw_globals = {str(k): v for k, v in raw_globals.items()} if isinstance(raw_globals, dict) else {}
        rules = []
        for i, rule in enumerate(data["rules"]):
            if isinstance(rule, dict) and rule.get("use") is not None:
                ref = str(rule["use"])
                if ref not in raw_globals:
                    known = ", ".join(sorted(raw_globals)) or "none defined"
                    raise _KeyedError(("rules", i, "use"), f"unknown global rule {ref!r} (globals: {known})")
                base = {k: v for k, v in (raw_globals[ref] or {}).items() if k != "name"}
                rule = {**base, **rule}
            rules.append(rule)
        return {**data, "globals": raw_globals, "rules": rules}

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("device_timezones")
    @classmethod
    def _check_device_tz(cls, value: dict[str, str]) -> dict[str, str]:
        for device, tz in value.items():
            try:
                _check_timezone(tz)
            except ValueError as exc:
                raise _KeyedError(("device_timezones", device), str(exc)) from None
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise _KeyedError(("rules", i, "id"), f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
            if rule.tracked and rule.min_dwell >= self.tracking.window_seconds:
                raise _KeyedError(("rules", i, "min_dwell"), f"min_dwell {rule.min_dwell} s must be shorter than "
                                  f"tracking.window_seconds ({self.tracking.window_seconds} s)")
        return self

    def timezone_for(self, device: str) -> ZoneInfo:
        """Device zone: exact ``device_timezones`` key, else first matching pattern, else ``timezone``."""
        if device in self.device_timezones:
            return ZoneInfo(self.device_timezones[device])
        for pattern, tz in self.device_timezones.items():
            if fnmatch.fnmatchcase(device, pattern):
                return ZoneInfo(tz)
        return ZoneInfo(self.timezone)

    def canonical_json(self) -> str:
        content = self.model_dump(mode="json")
        return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def fingerprint(self) -> str:
        """sha256 hex of the canonical (resolved, key-sorted, defaults filled in) content."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


class LegacyRuleFile(_Model):
    """The 2017 ``rule.json``: TensorFlow label-map ids and e-mail addresses."""

    from_email: str = ""
    to_email: str = ""
    threat_classes: list[int] = Field(min_length=1)

    def to_ruleset(self) -> RuleSet:
        """One rule ``rule.json``: severity high, min_score 0.5, e-mail to ``to_email`` when set.

        ``ValueError`` carrying the key path (``threat_classes.<i>``) for an id not in the COCO label map.
        """
        names = []
        for i, tf in enumerate(self.threat_classes):
            if tf not in TF_ID_TO_COCO80:
                raise _KeyedError(("threat_classes", i), f"{tf} is not a COCO TensorFlow label-map id")
            names.append(COCO80_NAMES[TF_ID_TO_COCO80[tf]])
        to, sender = self.to_email.strip(), self.from_email.strip() or None
        notify = (NotifyTarget(channel="email", to=to, sender=sender),) if to else ()
        rule = Rule(
            id="rule.json",
            description="Imported from the 2017 rule.json",
            classes=tuple(names),
            min_score=0.5,
            severity="high",
            notify=notify,
        )
        return RuleSet(version=1, rules=(rule,))


# ---- parsing ---------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps ``22:00`` a string (YAML 1.1 would read it as the base-60 integer 1320)."""


def _install_time_resolver() -> None:
    _Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    for digit in "0123456789":
        _Loader.yaml_implicit_resolvers.setdefault(digit, []).insert(
            0, ("tag:yaml.org,2002:str", re.compile(r"^\d{1,2}:\d{2}$"))
        )


_install_time_resolver()


def _line_of(node: Any, path: tuple[str | int, ...]) -> int | None:
    """1-based line of the deepest YAML node reachable along ``path``."""
    line = None
    for key in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if str(k.value) == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
    return node.start_mark.line + 1 if node is not None else line


def _rule_note(data: Any, path: tuple[str | int, ...]) -> str:
    """`` (rule 'id')`` or `` (global rule 'name')`` for a path inside a rule, else ``""``."""
    if len(path) < 2 or not isinstance(data, dict):
        return ""
    container = data.get(str(path[0]))
    index = path[1]
    if (
        path[0] == "rules"
        and isinstance(container, list)
        and isinstance(index, int)
        and index < len(container)
    ):
        rule = container[index]
        return f" (rule {str(rule['id'])!r})" if isinstance(rule, dict) and "id" in rule else ""
    if path[0] == "globals" and isinstance(container, dict):
        rule = {str(k): v for k, v in container.items()}.get(str(path[1]))
        return f" (global rule {str(rule['name'])!r})" if isinstance(rule, dict) and "name" in rule else ""
    return ""


def _problem(source: str, data: Any, root: Any, path: tuple[str | int, ...], msg: str) -> str:
    key = ".".join(str(p) for p in path) or "(top level)"
    line = _line_of(root, path) if root is not None else None
    return f"{source}{f':{line}' if line else ''}: invalid rule set at {key}{_rule_note(data, path)}: {msg}"


def _spec_error(source: str, data: Any, root: Any, path: tuple[str | int, ...], msg: str) -> SpecError:
    return _spec_errors(source, [_problem(source, data, root, path, msg)], path)


def _spec_errors(source: str, problems: list[str], first: tuple[str | int, ...]) -> SpecError:
    """One error naming every problem (each with its line and key), joined by "; ", the list kept in
    ``problems`` for machine-readable output."""
    key = ".".join(str(p) for p in first) or "(top level)"
    more = f" and {len(problems) - 1} more place(s)" if len(problems) > 1 else ""
    return SpecError("; ".join(problems), hint=f"fix {key}{more} in {source} and validate again",
                     problems=problems)


def _from_validation(source: str, data: Any, root: Any, exc: ValidationError) -> SpecError:
    problems: list[str] = []
    first: tuple[str | int, ...] = ()
    for i, err in enumerate(exc.errors()):
        cause = (err.get("ctx") or {}).get("error")
        path = cause.path if isinstance(cause, _KeyedError) else tuple(err["loc"])
        msg = str(cause) if isinstance(cause, ValueError) else err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt, or not allowed here)"
        problems.append(_problem(source, data, root, path, msg))
        first = path if i == 0 else first
    return _spec_errors(source, problems, first)


def _load(text: str, source: str) -> tuple[Any, Any]:
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{source}{line}: not valid YAML or JSON: {exc}", hint="fix the syntax") from None
    data = yaml.load(text, Loader=_Loader) if root is not None else None  # a SafeLoader subclass
    if not isinstance(data, dict):
        raise SpecError(
            f"{source}: a rule set must be a mapping, got {type(data).__name__}",
            hint="start with `version: 1` and a `rules:` list, or use the 2017 rule.json object",
        )
    return data, root


def parse_ruleset(text: str, source: str) -> RuleSet:
    """Parse a native YAML rule set or a 2017 ``rule.json`` (detected by its ``threat_classes`` key).

    ``source`` names the file in messages. Raises :class:`SpecError` naming the source, the line when known
    and the dotted key path of the first problem (with the rule id for problems inside a rule).
    """
    data, root = _load(text, source)
    try:
        if "threat_classes" in data:
            return LegacyRuleFile.model_validate(data).to_ruleset()
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(source, data, root, exc) from None
    except _KeyedError as exc:
        raise _spec_error(source, data, root, exc.path, str(exc)) from None
