"""Spec errors for a built-in stage's params: each pydantic error pointed at the key as written in the file,
with the values the key takes."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from vigil.errors import SpecError

if TYPE_CHECKING:
    from vigil.pipeline.spec import _Doc as SpecDoc


def param_error(doc: SpecDoc, stage: str, model: type[BaseModel], params: dict[str, Any], err: Any) -> SpecError:
    path: list[str | int] = []
    node: Any = params
    for part in err["loc"]:  # keep the parts that are keys/indexes of the data (not pydantic's union tags)
        if (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int)
                                                          and part < len(node)):
            path.append(part)
            node = node[part]
        elif not path and isinstance(part, str):
            path.append(part)
    base = doc.paths.get(("transform", "params"), ("transform", "params"))
    key = str(path[0]) if path else ""
    if err["type"] == "extra_forbidden":
        allowed = sorted(model.model_fields)
        close = difflib.get_close_matches(key, allowed, n=1)
        return doc.error((*base, *path), f"unknown param of stage {stage}; allowed params: {', '.join(allowed)}",
                         f"did you mean '{close[0]}'?" if close else "remove it or fix its spelling")
    message = str(err["msg"]).removeprefix("Value error, ")
    message = f"{message[:1].lower() + message[1:]} (got {err.get('input')!r})"
    field = model.model_fields.get(key)
    if field is None:
        return doc.error((*base, *path), message)
    return doc.error((*base, *path), f"{message}; allowed: {_accepts(field)}", f"{key}: {_allowed(field)}")


def _accepts(field: Any) -> str:
    """The values a params field takes, e.g. ``float >= 0.0 and <= 1.0``."""
    annotation = field.annotation
    kind = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    bounds = [f"{sym} {getattr(m, attr)}" for m in field.metadata
              for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
              if getattr(m, attr, None) is not None]
    return kind + (" " + " and ".join(bounds) if bounds else "")


def _allowed(field: Any) -> str:
    """:func:`_accepts` with what the field is for and its default."""
    return _accepts(field) + (f" ({field.description})" if field.description else "") + f"; default {field.default!r}"
