from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from vigil.domain.rules import (
    LegacyRuleFile,
    NotifyTarget,
    Rule,
    RuleSet,
    TimeWindow,
    parse_ruleset,
)
from vigil.errors import SpecError

SEED_RULE = Path("/work/shared/data/seed/pipeline/rule.json")
SEED_TEXT = (
    SEED_RULE.read_text()
    if SEED_RULE.exists()
    else '{"from_email": "support@baimsecurity.com", "to_email": "", "threat_classes": [1, 3, 4, 8]}'
)

EXAMPLE = """\
version: 1
description: Night watch for the Acme yard
timezone: Europe/Berlin
device_timezones:
  cam-lisbon-1: Europe/Lisbon
  "cam-ny-*": America/New_York

globals:
  100:
    name: animals
    classes: [dog, cat, bear]
    min_score: 0.8
    severity: low

rules:
  - id: yard-intruder
    description: Person or vehicle in the yard at night
    tenants: [acme]
    devices: ["cam-*"]
    classes: [person, car, motorcycle, truck]
    min_score: 0.6
    zones:
      - [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
    time_windows:
      - {days: weekdays, start: 22:00, end: "06:00"}
      - {days: weekends, start: "00:00", end: "24:00"}
    min_area: 0.002
    min_count: 1
    persistence: {frames: 2, seconds: 10}
    cooldown_seconds: 300
    severity: high
    notify:
      - {channel: email, to: security@acme.example}
      - {channel: webhook, to: "https://hooks.acme.example/vigil"}

  - id: crowd-at-gate
    devices: [cam-gate]
    classes: [person]
    min_count: 5
    notify:
      - {channel: mqtt, to: acme/alerts/gate}

  - id: animals-in-yard
    use: 100

  - id: bear-anywhere
    use: 100
    classes: [bear]
    severity: critical
    notify:
      - {channel: email, to: ranger@acme.example}
"""


def rules_by_id(ruleset: RuleSet) -> dict[str, Rule]:
    return {r.id: r for r in ruleset.rules}


# ---- the 2017 rule.json --------------------------------------------------------------------------------


def test_seed_rule_json_becomes_one_rule() -> None:
    ruleset = parse_ruleset(SEED_TEXT, "rule.json")
    (rule,) = ruleset.rules
    assert rule.id == "rule.json"
    assert rule.classes == ("person", "car", "motorcycle", "truck")
    assert rule.class_ids == frozenset({0, 2, 3, 7})
    assert (rule.severity, rule.min_score) == ("high", 0.5)
    assert rule.notify == ()  # the seed's to_email is empty


def test_rule_json_with_recipient_notifies_by_email() -> None:
    text = json.dumps({"from_email": "a@x.example", "to_email": "b@x.example", "threat_classes": [18]})
    (rule,) = parse_ruleset(text, "rule.json").rules
    assert rule.classes == ("dog",)
    assert rule.notify == (NotifyTarget(channel="email", to="b@x.example", sender="a@x.example"),)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"threat_classes": [1, 12]}, r"rule\.json:\d+: .*threat_classes\.1: 12 is not a COCO"),
        ({"threat_classes": [1, 999]}, r"threat_classes\.1"),
        ({"threat_classes": []}, r"threat_classes: .*at least 1"),
        ({"threat_classes": [1], "cc_email": "x"}, r"cc_email: unknown key"),
        ({"threat_classes": ["person"]}, r"threat_classes\.0"),
    ],
)
def test_rule_json_errors(data: dict[str, object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        parse_ruleset(json.dumps(data, indent=2), "rule.json")


def test_legacy_model_direct() -> None:
    ruleset = LegacyRuleFile(threat_classes=[1]).to_ruleset()
    assert ruleset.rules[0].classes == ("person",)


# ---- native YAML ---------------------------------------------------------------------------------------


def test_example_parses_with_all_features() -> None:
    ruleset = parse_ruleset(EXAMPLE, "rules.yaml")
    rule = rules_by_id(ruleset)["yard-intruder"]
    assert rule.time_windows[0] == TimeWindow(
        days=("mon", "tue", "wed", "thu", "fri"), start="22:00", end="06:00"
    )
    assert rule.time_windows[1].days == ("sat", "sun")
    assert rule.persistence is not None and rule.persistence.frames == 2
    assert [t.channel for t in rule.notify] == ["email", "webhook"]
    assert ruleset.timezone_for("cam-ny-7") == ZoneInfo("America/New_York")
    assert ruleset.timezone_for("cam-lisbon-1") == ZoneInfo("Europe/Lisbon")
    assert ruleset.timezone_for("cam-berlin") == ZoneInfo("Europe/Berlin")


def test_global_rule_reused_by_two_rules_with_an_override() -> None:
    rules = rules_by_id(parse_ruleset(EXAMPLE, "rules.yaml"))
    animals, bear = rules["animals-in-yard"], rules["bear-anywhere"]
    assert (animals.use, bear.use) == ("100", "100")
    assert animals.classes == ("dog", "cat", "bear")
    assert (animals.min_score, animals.severity) == (0.8, "low")
    assert bear.classes == ("bear",)  # overridden (lists replace, never concatenate)
    assert (bear.min_score, bear.severity) == (0.8, "critical")  # inherited, overridden


def test_unquoted_times_stay_times() -> None:
    # YAML 1.1 reads 22:00 as the base-60 integer 1320; the loader keeps it a string.
    rule = rules_by_id(parse_ruleset(EXAMPLE, "rules.yaml"))["yard-intruder"]
    assert rule.time_windows[0].start == "22:00"


def _mutate(old: str, new: str) -> str:
    assert old in EXAMPLE, old
    return EXAMPLE.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            _mutate("[dog, cat, bear]", "[dog, raccoon, bear]"),
            r"rules\.yaml:11: .*globals\.100\.classes \(global rule 'animals'\): unknown COCO class name "
            r"'raccoon'",
        ),
        (
            _mutate("classes: [bear]", "classes: [bare]"),
            r"rules\.3\.classes \(rule 'bear-anywhere'\).*did you mean bear",
        ),
        (
            _mutate("min_score: 0.6", "min_score: 1.6"),
            r"rules\.yaml:21: .*rules\.0\.min_score \(rule 'yard-intruder'\)",
        ),
        (
            _mutate("use: 100\n", "use: 101\n"),
            r"rules\.2\.use \(rule 'animals-in-yard'\): unknown global rule '101'",
        ),
        (_mutate("min_count: 5", "min_cnt: 5"), r"rules\.1\.min_cnt \(rule 'crowd-at-gate'\): unknown key"),
        (_mutate('end: "24:00"', 'end: "25:00"'), r"rules\.0\.time_windows\.1\.end .*HH:MM"),
        (_mutate('end: "24:00"', 'end: "00:00"'), r"rules\.0\.time_windows\.1 .*both 00:00"),
        (_mutate("days: weekends", "days: [sat, funday]"), r"rules\.0\.time_windows\.1\.days\.1"),
        (_mutate("America/New_York", "Mars/Olympus"), r"device_timezones\.cam-ny-\*: unknown IANA time zone"),
        (
            _mutate("timezone: Europe/Berlin", "timezone: Berlin"),
            r"rules\.yaml:3: .*at timezone: unknown IANA",
        ),
        (_mutate("[1.0, 1.0], [0.0, 1.0]]", "[1.0, 1.5], [0.0, 1.0]]"), r"rules\.0\.zones\.0\.2\.1"),
        (
            _mutate("[1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]", "[1.0, 0.5]]"),
            r"rules\.0\.zones\.0 .*at least 3 items",
        ),
        (_mutate("frames: 2", "frames: 0"), r"rules\.0\.persistence\.frames"),
        (_mutate("channel: mqtt", "channel: sms"), r"rules\.1\.notify\.0\.channel"),
        (_mutate("severity: high", "severity: urgent"), r"rules\.0\.severity"),
        (_mutate("id: crowd-at-gate", "id: yard-intruder"), r"rules\.1\.id .*duplicate rule id"),
        (_mutate("version: 1", "version: 2"), r"rules\.yaml:1: .*at version"),
        (_mutate("cooldown_seconds: 300", "cooldown_seconds: -1"), r"rules\.0\.cooldown_seconds"),
        ("rules: [\n", r"rules\.yaml:2: not valid YAML"),
        ("- 1\n- 2\n", r"must be a mapping"),
        ("", r"must be a mapping"),
        ("rules: []\n", r"at version: Field required"),
    ],
)
def test_spec_errors_name_source_line_and_key(text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match) as info:
        parse_ruleset(text, "rules.yaml")
    assert info.value.hint


def test_spec_error_names_every_error() -> None:
    """Before: only the first error and "(and 1 more error)"; now each, with its line and key."""
    text = _mutate("min_score: 0.6", "min_score: 1.6").replace("severity: high", "severity: urgent")
    with pytest.raises(SpecError) as info:
        parse_ruleset(text, "rules.yaml")
    assert len(info.value.problems) == 2
    assert "rules.0.min_score" in info.value.problems[0] and "rules.0.severity" in info.value.problems[1]
    assert all(p in info.value.message for p in info.value.problems)
    assert info.value.hint and "1 more place" in info.value.hint


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("weekdays", ("mon", "tue", "wed", "thu", "fri")),
        ("weekends", ("sat", "sun")),
        ("all", ("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
        (["Sun", "mon", "sun"], ("mon", "sun")),
        (["friday", "weekends"], ("fri", "sat", "sun")),
        ("tue", ("tue",)),
    ],
)
def test_day_spellings(days: object, expected: tuple[str, ...]) -> None:
    assert TimeWindow.model_validate({"days": days, "start": "01:00", "end": "02:00"}).days == expected


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("window", "local", "expected"),
    [
        # Friday night window crossing midnight belongs to Friday.
        (("fri", "22:00", "06:00"), datetime(2024, 5, 10, 23, 0), True),  # Fri 23:00
        (("fri", "22:00", "06:00"), datetime(2024, 5, 11, 5, 59), True),  # Sat 05:59
        (("fri", "22:00", "06:00"), datetime(2024, 5, 11, 6, 0), False),  # Sat 06:00, end exclusive
        (("fri", "22:00", "06:00"), datetime(2024, 5, 10, 5, 0), False),  # Fri 05:00 belongs to Thursday
        (("fri", "22:00", "06:00"), datetime(2024, 5, 11, 23, 0), False),  # Sat 23:00
        (("fri", "22:00", "06:00"), datetime(2024, 5, 10, 22, 0), True),  # start inclusive
        (("weekdays", "09:00", "17:00"), datetime(2024, 5, 13, 9, 0), True),  # Mon
        (("weekdays", "09:00", "17:00"), datetime(2024, 5, 12, 12, 0), False),  # Sun
        (("sun", "00:00", "24:00"), datetime(2024, 5, 12, 23, 59), True),
        (("sun", "23:00", "01:00"), datetime(2024, 5, 13, 0, 30), True),  # Mon 00:30 wraps from Sunday
    ],
)
def test_time_window_contains(window: tuple[str, str, str], local: datetime, expected: bool) -> None:
    days, start, end = window
    tw = TimeWindow.model_validate({"days": days, "start": start, "end": end})
    assert tw.contains(local.replace(tzinfo=BERLIN)) is expected


@pytest.mark.parametrize(
    ("tenants", "devices", "tenant", "device", "expected"),
    [
        ((), (), None, "anything", True),
        ((), ("cam-*",), None, "cam-1", True),
        ((), ("cam-*",), None, "door-1", False),
        ((), ("cam-?",), None, "cam-12", False),
        ((), ("cam-[12]", "door"), None, "door", True),
        ((), ("cam-*",), None, "CAM-1", False),  # case-sensitive on every platform
        (("acme",), (), "acme", "cam-1", True),
        (("acme",), (), "other", "cam-1", False),
        (("acme",), (), None, "cam-1", False),  # a tenant-scoped rule needs a tenant
        (("ac*",), ("cam-*",), "acme-eu", "cam-9", True),
    ],
)
def test_rule_scope(
    tenants: tuple[str, ...], devices: tuple[str, ...], tenant: str | None, device: str, expected: bool
) -> None:
    assert Rule(id="r", tenants=tenants, devices=devices).applies_to(tenant, device) is expected


# ---- fingerprint ---------------------------------------------------------------------------------------


def test_fingerprint_is_stable_and_content_based() -> None:
    a = parse_ruleset(EXAMPLE, "a.yaml")
    assert a.fingerprint() == parse_ruleset(EXAMPLE, "b.yaml").fingerprint()
    assert len(a.fingerprint()) == 64
    assert (
        a.fingerprint() != parse_ruleset(_mutate("min_score: 0.6", "min_score: 0.61"), "a.yaml").fingerprint()
    )


def test_fingerprint_ignores_key_order_formatting_and_explicit_defaults() -> None:
    one = "version: 1\nrules:\n  - {id: r, classes: [person]}\n"
    two = "rules:\n- classes: [ Person ]\n  min_count: 1\n  id: r   # comment\nversion: 1\n"
    assert parse_ruleset(one, "x").fingerprint() == parse_ruleset(two, "y").fingerprint()


def test_native_rule_set_written_as_json() -> None:
    text = json.dumps({"version": 1, "rules": [{"id": "r", "classes": ["dog"]}]})
    assert parse_ruleset(text, "rules.json").rules[0].classes == ("dog",)


def test_globals_apply_when_built_in_code() -> None:
    ruleset = RuleSet.model_validate(
        {"version": 1, "globals": {7: {"classes": ["cat"]}}, "rules": ({"id": "r", "use": 7},)}
    )
    assert ruleset.rules[0].classes == ("cat",)
