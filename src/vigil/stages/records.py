"""The bytes of the stages' JSON records: sorted keys, 2-space indent, UTF-8, a final newline.

Records stay readable (``vigil get`` shows them as they are) and deterministic (the same document gives the same
bytes, so the same blob). orjson does it ~10x faster than the standard library, whose encoder falls back to
pure Python as soon as it indents: that was half of the threat stage's time per frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def encode_record(doc: Mapping[str, Any]) -> bytes:
    """``doc`` as record bytes; ``TypeError`` for a value JSON cannot hold (a numpy scalar, a set, ...)."""
    try:
        return orjson.dumps(doc, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"cannot encode a stage record as JSON: {exc}") from exc


__all__ = ["encode_record"]
