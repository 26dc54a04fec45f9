"""API tokens, hashed at rest: ``vgl_<id>_<secret>``, of which the database keeps the id and sha256(secret).

Why not argon2: argon2 (or bcrypt) makes *guessing a low-entropy password* from a stolen hash slow, at ~50 ms a
check. A token is 256 random bits chosen by Vigil: no dictionary helps, and brute force of a sha256 preimage of
256 bits is out of reach either way, so a slow hash would buy nothing and would cost 50 ms on every camera frame
(300 frames/s would need 15 cores). The id (public, 12 hex digits) finds the row with one primary-key probe; the
secret's digest is compared in constant time. The full token is shown once, at creation, and stored nowhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Column, Float, String, Table, Text, insert, select, update

from vigil.domain.access import ROLES, Principal, Role
from vigil.domain.identity import is_valid_tenant
from vigil.errors import NotFoundError, UsageError
from vigil.store import audit
from vigil.store.database import transaction
from vigil.store.schema import metadata
from vigil.store.store import Store

PREFIX = "vgl"

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("digest", String(64), nullable=False),  # sha256 hex of the secret part
    Column("role", String(16), nullable=False),
    Column("tenant", String(64), nullable=True),  # NULL: every tenant
    Column("cameras", Text, nullable=False, server_default="[]"),  # JSON list of fnmatch patterns
    Column("name", String(255), nullable=False, server_default=""),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never its secret)."""

    id: str
    role: str
    tenant: str | None
    cameras: list[str]
    name: str
    created_at: float
    revoked_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(store: Store, role: str, tenant: str | None = None, cameras: list[str] | None = None,
           name: str = "") -> tuple[str, TokenInfo]:
    """A new token; returns (the full token, to show once; its info). ``UsageError`` for a bad role/tenant."""
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}", f"use one of: {', '.join(ROLES)}")
    if tenant is not None and not is_valid_tenant(tenant):
        raise UsageError(f"{tenant!r} is not a tenant name", "letters, digits, '.' and '_' (no '-'), at most 64")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    info = TokenInfo(token_id, role, tenant, list(cameras or []), name, time.time(), None)
    with transaction(store.engine, write=True) as conn:
        conn.execute(insert(api_tokens).values(
            id=token_id, digest=_digest(secret), role=role, tenant=tenant, cameras=json.dumps(info.cameras),
            name=name, created_at=info.created_at))
        audit.append(conn, "token.create", f"token:{token_id}",
                     detail={"role": role, "tenant": tenant, "cameras": info.cameras, "name": name})
    return f"{PREFIX}_{token_id}_{secret}", info


def _info(row: Any) -> TokenInfo:
    return TokenInfo(row.id, row.role, row.tenant, json.loads(row.cameras), row.name, row.created_at,
                     row.revoked_at)


def list_tokens(store: Store, tenant: str | None = None) -> list[TokenInfo]:
    """Every token (revoked ones too), oldest first; only ``tenant``'s when given."""
    q = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
    if tenant is not None:
        q = q.where(api_tokens.c.tenant == tenant)
    with transaction(store.engine) as conn:
        return [_info(r) for r in conn.execute(q)]


def revoke(store: Store, token_id: str, tenant: str | None = None) -> TokenInfo:
    """Revoke a token by id (at once for new requests; servers cache a verified token a few seconds at most).
    With ``tenant``, only that tenant's tokens can be revoked (others are 'not found')."""
    c = api_tokens.c
    cond = [c.id == token_id] + ([c.tenant == tenant] if tenant is not None else [])
    with transaction(store.engine, write=True) as conn:
        row = conn.execute(select(api_tokens).where(*cond)).first()
        if row is None:
            raise NotFoundError(f"no token {token_id!r}", "list tokens with `vigil token list`")
        if row.revoked_at is None:
            conn.execute(update(api_tokens).where(c.id == token_id).values(revoked_at=time.time()))
            audit.append(conn, "token.revoke", f"token:{token_id}", detail={"role": row.role, "tenant": row.tenant})
        return _info(conn.execute(select(api_tokens).where(c.id == token_id)).one())


def verify(store: Store, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token; None otherwise (malformed, unknown, revoked, wrong secret)."""
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not token_id or not secret:
        return None
    with transaction(store.engine) as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.digest, _digest(secret)):
        return None
    return _principal(row)


def active(store: Store, token_id: str) -> Principal | None:
    """The principal of token ``token_id`` if it is still unrevoked (a dashboard session names its token by
    id, so revoking the token ends the session); None otherwise."""
    with transaction(store.engine) as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    return None if row is None or row.revoked_at is not None else _principal(row)


def _principal(row: Any) -> Principal:
    role: Role = row.role
    return Principal(row.id, role, row.tenant, tuple(json.loads(row.cameras)))


__all__ = ["TokenInfo", "active", "api_tokens", "create", "list_tokens", "revoke", "verify"]
