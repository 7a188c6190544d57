"""API keys: create (the secret shown once), list, revoke, and authenticate a request.

A secret is ``tp_sk_`` + 32 random bytes (URL-safe base 64); the table keeps its SHA-256
only. Every request looks the key up in the database (no cache), so a revocation holds at
once on every instance; every use, accepted or refused, is audited."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.api_keys.models import ApiKey
from tillpoint.audit.service import SYSTEM, Actor, AuditEvent, record
from tillpoint.errors import FieldError, Forbidden, InvalidInput, NotFound, Unauthorized
from tillpoint.ids import is_valid_id, new_id
from tillpoint.runtime import Runtime
from tillpoint.security.ratelimit import RateLimiter

PREFIX = "tp_sk_"


class Scope(StrEnum):
    checkout_sessions_write = "checkout_sessions:write"
    checkout_sessions_read = "checkout_sessions:read"


DEFAULT_SCOPES = (Scope.checkout_sessions_write, Scope.checkout_sessions_read)
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A key as it is listed (never its secret)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    display: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just made, with its secret: the only time the secret is known."""

    key: ApiKeyInfo
    secret: str


@dataclass(frozen=True, slots=True)
class KeyUse:
    """One request made with a key: what is audited."""

    method: str
    path: str
    ip_address: str | None = None
    user_agent: str | None = None


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id, name=row.name, scopes=tuple(row.scopes), display=f"{PREFIX}…{row.last4}",
        created_at=row.created_at, last_used_at=row.last_used_at, revoked_at=row.revoked_at,
    )  # fmt: skip


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME or not cleaned.isprintable():
        message = f"A key's name is 1 to {MAX_NAME} printable characters."
        raise InvalidInput(
            message, code="invalid_name", fields=[FieldError(("name",), "invalid_name", message)]
        )
    return cleaned


def _check_scopes(scopes: tuple[str, ...] | None) -> list[str]:
    if not scopes:
        return sorted(s.value for s in DEFAULT_SCOPES)
    known = {s.value for s in Scope}
    for i, scope in enumerate(scopes):
        if scope not in known:
            message = f"Unknown scope; one of: {', '.join(sorted(known))}."
            raise InvalidInput(
                message,
                code="unknown_scope",
                fields=[FieldError(("scopes", i), "unknown_scope", message)],
            )
    return sorted(set(scopes))


async def _audit(
    rt: Runtime, s: AsyncSession, key_id: str, action: str, actor: Actor, meta: dict[str, Any]
) -> None:
    event = AuditEvent(f"api_key_{action}", "api_key", key_id, action, meta)
    await record(s, event, actor, rt.clock.now())


async def create_key(
    rt: Runtime, name: str, scopes: tuple[str, ...] | None = None, *, actor: Actor = SYSTEM
) -> NewApiKey:
    """A new key; its secret is in the answer and nowhere else."""
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=new_id("key"), name=_check_name(name), secret_hash=secret_hash(secret),
        last4=secret[-4:], scopes=_check_scopes(scopes), created_at=rt.clock.now(),
    )  # fmt: skip
    async with rt.db.transaction() as s:
        s.add(row)
        await s.flush()
        await _audit(rt, s, row.id, "created", actor, {"name": row.name, "scopes": row.scopes})
    return NewApiKey(_info(row), secret)


async def list_keys(rt: Runtime) -> list[ApiKeyInfo]:
    """Every key, newest first (revoked ones too, with ``revoked_at``)."""
    async with rt.db.transaction() as s:
        rows = (await s.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))).all()
        return [_info(r) for r in rows]


async def revoke_key(rt: Runtime, key_id: str, *, actor: Actor = SYSTEM) -> ApiKeyInfo:
    """Revoke a key at once (idempotent: a revoked key keeps its first ``revoked_at``)."""
    if not is_valid_id(key_id, "key"):
        raise NotFound("No such API key.", code="api_key_not_found")
    async with rt.db.transaction() as s:
        row = await s.get(ApiKey, key_id, with_for_update=True)
        if row is None:
            raise NotFound("No such API key.", code="api_key_not_found")
        if row.revoked_at is None:
            row.revoked_at = rt.clock.now()
            await s.flush()
            await _audit(rt, s, row.id, "revoked", actor, {"name": row.name})
        return _info(row)


def _refused(message: str) -> Unauthorized:
    return Unauthorized(message, code="invalid_api_key")


async def _unknown_key_gate(limiter: RateLimiter | None, ip_address: str | None) -> int | None:
    """Unknown keys (guessing) write one audit row per address and minute, which counts
    the ones left out; a known key's every use is audited. None: leave this one out."""
    if limiter is None:
        return 0
    return await limiter.audit_gate("api-key-unknown", ip_address or "unknown", 60)


async def authenticate(
    rt: Runtime,
    authorization: str | None,
    scope: Scope,
    use: KeyUse,
    limiter: RateLimiter | None = None,
) -> ApiKeyInfo:
    """The live key an ``Authorization: Bearer tp_sk_…`` header names, if it has ``scope``;
    401 ``invalid_api_key`` or 403 ``api_key_scope_missing`` otherwise. The use and its
    outcome are audited, and ``last_used_at`` set, in one transaction (an unknown key's
    refusal: bounded per address by ``limiter``)."""
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(PREFIX) or len(secret) > 200:
        raise _refused("Send your API key as 'Authorization: Bearer tp_sk_…'.")
    actor = Actor(ip_address=use.ip_address, user_agent=use.user_agent)
    meta: dict[str, Any] = {"method": use.method, "path": use.path[:300]}
    async with rt.db.transaction() as s:
        row = await s.scalar(select(ApiKey).where(ApiKey.secret_hash == secret_hash(secret)))
        if row is None:
            left_out = await _unknown_key_gate(limiter, use.ip_address)
            if left_out is not None:
                extra = {"left_out": left_out} if left_out else {}
                await _audit(rt, s, "unknown", "refused", actor,
                             {**meta, "outcome": "unknown_key", **extra})  # fmt: skip
            outcome: str | None = "unknown"
        elif row.revoked_at is not None:
            await _audit(rt, s, row.id, "refused", actor, {**meta, "outcome": "revoked"})
            outcome = "revoked"
        elif scope.value not in row.scopes:
            await _audit(rt, s, row.id, "refused", actor, {**meta, "outcome": "scope_missing"})
            outcome = "scope"
        else:
            await s.execute(
                update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=rt.clock.now())
            )
            await _audit(rt, s, row.id, "used", actor, {**meta, "outcome": "accepted"})
            return _info(row)
    # Committed first: the refusal stays in the audit log.
    if outcome == "scope":
        raise Forbidden(
            f"This API key lacks the scope {scope.value}.", code="api_key_scope_missing"
        )
    raise _refused("This API key is unknown or revoked.")
