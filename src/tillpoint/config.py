"""Settings from the environment (``TILLPOINT_*``) and an optional ``.env`` file.

Defaults run offline on one laptop: a SQLite file, no Redis, no Stripe keys.
"""

from __future__ import annotations

import ipaddress
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import limits
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(StrEnum):
    """Where the app runs; production refuses unsafe defaults."""

    development = "development"
    production = "production"
    test = "test"


class CookieSecurity(StrEnum):
    """``secure`` sets Secure cookies and the ``__Host-`` prefix; ``local`` allows plain http."""

    secure = "secure"
    local = "local"


class Settings(BaseSettings):
    """Every knob of tillpoint. The README lists each with its meaning."""

    model_config = SettingsConfigDict(
        env_prefix="TILLPOINT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    mode: Mode = Mode.development
    database_url: str = "sqlite+aiosqlite:///./tillpoint.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    redis_url: str | None = None
    secret_key: str | None = Field(default=None, min_length=32)
    secret_key_file: Path = Path(".tillpoint-secret")
    cookie_security: CookieSecurity | None = None
    default_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    guest_session_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    csrf_rotation_seconds: int = Field(default=24 * 3600, ge=60)

    cart_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    cart_cache_ttl_seconds: int = Field(default=2 * 3600, ge=1)
    cart_max_line_quantity: int = Field(default=999, ge=1)
    cart_max_lines: int = Field(default=100, ge=1)
    cart_write_retries: int = Field(default=3, ge=0, le=10)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    # Security (the seed's RateLimitConfig); limits use the `limits` notation "N/M unit".
    rate_limit_enabled: bool = True
    rate_limit_global: str = "1000/15 minutes"
    rate_limit_checkout: str = "50/5 minutes"
    rate_limit_create_intent: str = "10/5 minutes"
    rate_limit_login: str = "5/15 minutes"
    rate_limit_login_block_seconds: int = Field(default=30 * 60, ge=0)
    rate_limit_adaptive: bool = True
    rate_limit_adaptive_in_flight: int = Field(default=100, ge=1)
    rate_limit_adaptive_lag_ms: int = Field(default=250, ge=1)
    rate_limit_surge_multiplier: float = Field(default=0.5, gt=0, le=1)
    rate_limit_monitor_interval_seconds: float = Field(default=60.0, gt=0)
    trusted_proxies: str = ""
    stripe_js_origin: str = "https://js.stripe.com"
    hsts_max_age_seconds: int = Field(default=2 * 365 * 24 * 3600, ge=0)
    log_level: str = "INFO"
    background_tasks: bool = True
    sweep_interval_seconds: int = Field(default=60, ge=1)

    @field_validator(
        "rate_limit_global", "rate_limit_checkout", "rate_limit_create_intent", "rate_limit_login"
    )
    @classmethod
    def _limit_notation(cls, value: str) -> str:
        limits.parse(value)  # raises ValueError on anything but "N/M unit"
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.mode is Mode.production and not self.secret_key:
            raise ValueError("TILLPOINT_SECRET_KEY is required in production mode")
        return self

    @property
    def cookies_secure(self) -> bool:
        """Secure cookies unless explicitly local; production is always secure."""
        if self.mode is Mode.production:
            return True
        if self.cookie_security is None:
            return False
        return self.cookie_security is CookieSecurity.secure

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def resolved_secret_key(self) -> str:
        """The signing secret: configured, or generated once and kept in a local file."""
        if self.secret_key:
            return self.secret_key
        path = self.secret_key_file
        if path.exists():
            key = path.read_text().strip()
            if len(key) >= 32:
                return key
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning (tests, CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
