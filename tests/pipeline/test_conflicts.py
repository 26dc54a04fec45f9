"""Output conflicts (pure): the rename policy keeps every distinct output once, deterministically."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.errors import PipelineError
from vigil.pipeline.conflicts import Claim, renamed, resolve

OIDS = ["a" * 64, "b" * 64, "c" * 64]


def test_renamed_keeps_the_extension_and_the_folder() -> None:
    assert renamed("/valid/cam/1511893000.jpg", "3fa2b1c0" + "0" * 56) == "/valid/cam/1511893000~3fa2b1c0.jpg"
    assert renamed("/x/1.reasons.json", "ab" * 32, 16) == "/x/1~" + "ab" * 8 + ".reasons.json"


def test_first_come_keeps_the_path_others_are_renamed_identical_bytes_are_dropped() -> None:
    existing = {"/v/c/1.jpg": [("/v/c/1.jpg", OIDS[1], "old")]}
    claims = [Claim("/v/c/1.jpg", "d1", OIDS[0], 1), Claim("/v/c/1.jpg", "d2", OIDS[1], 1)]
    out = resolve(claims, existing, {}, "rename")
    assert set(out.placed) == {"/v/c/1~aaaaaaaa.jpg"}  # the committed owner keeps /v/c/1.jpg
    assert "already at /v/c/1.jpg" in out.duplicates["d2"][0]


def test_a_reprocess_puts_outputs_back_where_they_were() -> None:
    claims = [Claim("/v/1.jpg", "new1", OIDS[0], 1), Claim("/v/1.jpg", "new2", OIDS[1], 1)]
    # before the reprocess, b's bytes held /v/1.jpg and a's were renamed: that must not flip
    previous = {("/v/1.jpg", OIDS[1]): "/v/1.jpg", ("/v/1.jpg", OIDS[0]): "/v/1~aaaaaaaa.jpg"}
    out = resolve(claims, {}, previous, "rename")
    assert out.placed["/v/1.jpg"].claim.oid == OIDS[1]
    assert out.placed["/v/1~aaaaaaaa.jpg"].claim.oid == OIDS[0]


def test_the_fail_policy_names_both_datums() -> None:
    with pytest.raises(PipelineError, match=r"datums d1 and d2 both write /r\.txt"):
        resolve([Claim("/r.txt", "d1", OIDS[0], 1), Claim("/r.txt", "d2", OIDS[0], 1)], {}, {}, "fail")


claim_sets = st.lists(st.tuples(st.sampled_from(["/v/1.jpg", "/v/2.jpg"]), st.sampled_from(OIDS),
                                st.integers(0, 5)), max_size=8)


@given(claim_sets)
def test_every_distinct_output_is_placed_once_whatever_the_order(raw: list[tuple[str, str, int]]) -> None:
    claims = [Claim(p, f"d{i}", oid, 1) for p, oid, i in raw]
    out = resolve(claims, {}, {}, "rename")
    again = resolve(list(reversed(claims)), {}, {}, "rename")
    assert {k: v.claim.oid for k, v in out.placed.items()} == {k: v.claim.oid for k, v in again.placed.items()}
    distinct = {(c.path, c.oid) for c in claims}
    assert sorted((p.claim.path, p.claim.oid) for p in out.placed.values()) == sorted(distinct)
