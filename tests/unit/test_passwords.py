"""Password policy and argon2id hashing, including rehash when parameters change."""

from __future__ import annotations

import pytest

from tillpoint.auth.emails import normalize_email
from tillpoint.auth.passwords import (
    check_password_policy,
    common_passwords,
    hash_password,
    verify_password,
)
from tillpoint.config import Settings, load_settings
from tillpoint.errors import InvalidInput


def _settings(**kw: object) -> Settings:
    values: dict[str, object] = {
        "secret_key": "x" * 40,
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 1024,
        "argon2_parallelism": 1,
    }
    values.update(kw)
    return load_settings(**values)


def _refusal(password: str, email: str | None = None) -> str:
    with pytest.raises(InvalidInput) as err:
        check_password_policy(_settings(), password, email=email)
    assert err.value.code == "weak_password"
    assert err.value.fields[0].path == ("password",)
    return err.value.fields[0].code


def test_short_common_and_email_passwords_are_refused() -> None:
    assert _refusal("short-pw") == "password_too_short"
    assert _refusal("Password123") == "password_too_common"
    assert _refusal("qwertyuiop") == "password_too_common"
    assert _refusal("1234567890") == "password_too_common"
    assert _refusal("Someone@Example.com", email="someone@example.com") == "password_too_common"
    assert _refusal("x" * 300) == "password_too_long"


def test_a_long_uncommon_password_passes() -> None:
    check_password_policy(_settings(), "plum-orchard-lantern-7")


def test_bundled_list_is_large_and_lower_case() -> None:
    words = common_passwords()
    assert len(words) > 2000
    assert "password" in words and "iloveyou" in words
    assert all(w == w.lower() and not w.startswith("#") for w in words)


async def test_hash_is_argon2id_and_verifies() -> None:
    settings = _settings()
    stored = await hash_password(settings, "plum-orchard-lantern-7")
    assert stored.startswith("$argon2id$")
    assert (await verify_password(settings, stored, "plum-orchard-lantern-7")).ok
    assert not (await verify_password(settings, stored, "plum-orchard-lantern-8")).ok
    assert not (await verify_password(settings, None, "plum-orchard-lantern-7")).ok
    assert not (await verify_password(settings, "not-a-hash", "x")).ok


async def test_changed_parameters_ask_for_a_rehash() -> None:
    stored = await hash_password(_settings(), "plum-orchard-lantern-7")
    same = await verify_password(_settings(), stored, "plum-orchard-lantern-7")
    stronger = await verify_password(
        _settings(argon2_time_cost=2), stored, "plum-orchard-lantern-7"
    )
    assert same.ok and not same.needs_rehash
    assert stronger.ok and stronger.needs_rehash


def test_emails_are_normalised_and_validated() -> None:
    assert normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    with pytest.raises(InvalidInput) as err:
        normalize_email("not-an-email")
    assert err.value.code == "invalid_email" and err.value.fields[0].path == ("email",)
