"""Retention policies: which frames a policy governs, and when they expire."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vigil.domain.retention import DAY, RetentionPolicy, first_policy

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("policy", "repo", "camera", "covered"), [
    ({}, "images", "dev1", True),
    ({}, "validate", "acme-gate", True),
    ({}, "detect", "dev1", False),  # only frame repos by default
    ({"cameras": ["acme-*"]}, "images", "acme-gate", True),
    ({"cameras": ["acme-*"]}, "images", "globex-dock", False),
    ({"tenants": ["acme"]}, "images", "acme-gate", True),
    ({"tenants": ["acme"]}, "images", "dev1", False),  # no tenant
    ({"repos": ["frames"]}, "frames", "dev1", True),
])
def test_what_a_policy_covers(policy: dict[str, object], repo: str, camera: str, covered: bool) -> None:
    assert RetentionPolicy(name="p", frames_days=30, **policy).covers(repo, camera) is covered  # type: ignore[arg-type]


@pytest.mark.parametrize(("age_days", "event", "event_days", "expired"), [
    (29, False, None, False), (31, False, None, True),
    (31, True, None, False), (10_000, True, None, False),  # event frames: forever by default
    (31, True, 365, False), (366, True, 365, True),
])
def test_when_a_frame_expires(age_days: float, event: bool, event_days: float | None, expired: bool) -> None:
    policy = RetentionPolicy(name="p", frames_days=30, event_frames_days=event_days)
    assert policy.expired(int(NOW - age_days * DAY), NOW, has_event=event) is expired


def test_the_first_matching_policy_decides_and_config_errors_are_caught() -> None:
    short = RetentionPolicy(name="acme-7d", cameras=["acme-*"], frames_days=7)
    default = RetentionPolicy(name="default", frames_days=30)
    assert first_policy([short, default], "images", "acme-gate") is short
    assert first_policy([short, default], "images", "dev1") is default
    assert first_policy([short], "images", "dev1") is None
    with pytest.raises(ValidationError, match="frames_days"):
        RetentionPolicy(name="p", frames_days=0)
    with pytest.raises(ValidationError, match="extra"):
        RetentionPolicy.model_validate({"name": "p", "frames_days": 1, "frame_days": 2})
