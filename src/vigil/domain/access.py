"""Who may do what: roles, tenant scopes and camera scopes of API tokens. Pure: no I/O, no clock.

A :class:`Principal` is what a verified token stands for. Its ``tenant`` is one tenant, or ``None`` for every
tenant (the monitoring company's own staff); ``cameras`` optionally narrows it to some cameras (fnmatch
patterns over camera names, see :func:`vigil.domain.identity.parse_camera`). What a principal cannot see does
not exist for it: callers answer "not found", never "forbidden", so a tenant cannot probe for another's names.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal, get_args

from vigil.domain.identity import parse_camera

Role = Literal["admin", "operator", "viewer", "camera"]
Action = Literal["read", "push", "review", "write", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

# admin: everything (tokens too); operator: run the site (read, push, review events, write repo files);
# viewer: read; camera: push frames and nothing else.
PERMISSIONS: dict[Role, frozenset[Action]] = {
    "admin": frozenset(get_args(Action)),
    "operator": frozenset({"read", "push", "review", "write"}),
    "viewer": frozenset({"read"}),
    "camera": frozenset({"push"}),
}


@dataclass(frozen=True)
class Principal:
    """The holder of a token: ``role``, ``tenant`` (None = all tenants), ``cameras`` (empty = all its cameras)."""

    token_id: str
    role: Role
    tenant: str | None = None
    cameras: tuple[str, ...] = field(default=())

    @property
    def all_tenants(self) -> bool:
        return self.tenant is None and not self.cameras

    def can(self, action: Action) -> bool:
        return action in PERMISSIONS[self.role]

    def sees_tenant(self, tenant: str | None) -> bool:
        """True if data of ``tenant`` (None: a camera without a tenant) is within this principal's scope."""
        return self.tenant is None or tenant == self.tenant

    def sees_camera(self, camera: str) -> bool:
        """True if ``camera`` is a valid camera name within this principal's tenant and camera scope."""
        parsed = parse_camera(camera)
        if parsed is None or not self.sees_tenant(parsed[0]):
            return False
        return not self.cameras or any(fnmatch.fnmatchcase(camera, p) for p in self.cameras)


__all__ = ["PERMISSIONS", "ROLES", "Action", "Principal", "Role"]
