"""The application API of proof: the audit log, reproducing results, retention.

Mixed into :class:`vigil.app.App` (like :class:`vigil.serving.ServingAPI`), so the CLI and the HTTP server
make one call each. Heavy modules are imported where used.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from vigil.errors import AuditChainError, UsageError
from vigil.store import audit

if TYPE_CHECKING:
    from vigil.store.store import Store

_ANCHOR = re.compile(r"^(?P<seq>\d+):(?P<hash>[0-9a-f]{64})$")


def parse_anchor(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as printed by `vigil audit head`."""
    m = _ANCHOR.match(text.strip().lower())
    if m is None:
        raise UsageError(f"{text!r} is not an anchor", "give SEQ:HASH as `vigil audit head` prints it")
    return int(m["seq"]), m["hash"]


class ProofAPI:
    """Audit log, reproduce and retention (see the module docstring)."""

    if TYPE_CHECKING:  # provided by App
        @property
        def store(self) -> Store: ...

    def audit_log(self, *, limit: int | None = None, action: str | None = None) -> list[audit.Entry]:
        """Audit entries oldest first (the newest ``limit``), optionally of one action or action prefix."""
        return audit.entries(self.store.engine, limit=limit, action=action)

    def audit_head(self) -> audit.Head:
        return audit.head(self.store.engine)

    def audit_verify(self, anchor: str | None = None) -> audit.Verdict:
        """Recompute the chain; ``AuditChainError`` naming the first broken entry."""
        verdict = audit.verify(self.store.engine, anchor=parse_anchor(anchor) if anchor else None)
        if not verdict.ok:
            raise AuditChainError(f"audit log broken at entry {verdict.broken_seq}: {verdict.problem} "
                                  f"({verdict.checked} entries before it verify)",
                                  "restore the metadata database from a backup and compare; the entries before "
                                  "it are intact")
        return verdict


__all__ = ["ProofAPI", "parse_anchor"]
