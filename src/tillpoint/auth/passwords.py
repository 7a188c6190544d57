"""Password policy and argon2id hashing (argon2-cffi).

Hashing and verifying are deliberately slow, so both run in a worker thread and
never block the event loop. A login for an unknown email still verifies against a
dummy hash made with the same parameters, so both failures cost the same time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tillpoint.config import Settings
from tillpoint.errors import FieldError, InvalidInput

MAX_PASSWORD_LENGTH = 256  # argon2 takes any length; this only bounds the work per request


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    needs_rehash: bool = False


@cache
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> tuple[PasswordHasher, str]:
    """One hasher per parameter set and a dummy hash made with it (for unknown emails)."""
    hasher = PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )
    return hasher, hasher.hash("tillpoint-dummy-password-for-timing")


def hasher_for(settings: Settings) -> tuple[PasswordHasher, str]:
    return _hasher(
        settings.argon2_time_cost, settings.argon2_memory_cost_kib, settings.argon2_parallelism
    )


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of the most common passwords, lower-cased."""
    text = files("tillpoint.auth").joinpath("common_passwords.txt").read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line.lower() for line in lines if line and not line.startswith("#"))


def check_password_policy(settings: Settings, password: str, *, email: str | None = None) -> None:
    """Raise 422 ``weak_password`` (field ``password``) unless the policy holds:
    at least ``password_min_length`` characters, not a common password, not the email."""
    problem: tuple[str, str] | None = None
    lowered = password.lower()
    if len(password) < settings.password_min_length:
        problem = (
            "password_too_short",
            f"Use at least {settings.password_min_length} characters.",
        )
    elif len(password) > MAX_PASSWORD_LENGTH:
        problem = ("password_too_long", f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    elif lowered in common_passwords() or (email and lowered == email.lower()):
        problem = ("password_too_common", "This password is too common; choose another.")
    if problem is not None:
        code, message = problem
        raise InvalidInput(
            message, code="weak_password", fields=[FieldError(("password",), code, message)]
        )


async def hash_password(settings: Settings, password: str) -> str:
    """The argon2id hash of ``password`` with the configured parameters."""
    hasher, _ = hasher_for(settings)
    return await asyncio.to_thread(hasher.hash, password)


def _verify(hasher: PasswordHasher, stored: str, password: str) -> Verification:
    try:
        hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verification(ok=False)
    return Verification(ok=True, needs_rehash=hasher.check_needs_rehash(stored))


async def verify_password(settings: Settings, stored: str | None, password: str) -> Verification:
    """Check ``password`` against ``stored``; with ``stored=None`` (no such user) burn the
    same time on a dummy hash and fail. ``needs_rehash`` says the parameters changed."""
    hasher, dummy = hasher_for(settings)
    if stored is None:
        await asyncio.to_thread(_verify, hasher, dummy, password)
        return Verification(ok=False)
    return await asyncio.to_thread(_verify, hasher, stored, password)
