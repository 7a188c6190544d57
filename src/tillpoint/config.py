"""Settings from the environment (``TILLPOINT_*``) and an optional ``.env`` file.

Defaults run offline on one laptop: a SQLite file, no Redis, no Stripe keys.
"""

from __future__ import annotations

import ipaddress
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import limits
from pydantic import BaseModel, Field, field_validator, model_validator
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


class PaymentGatewayChoice(StrEnum):
    """``auto`` uses Stripe when a secret key is set and the offline sandbox otherwise."""

    auto = "auto"
    stripe = "stripe"
    sandbox = "sandbox"


class ThreeDSecure(StrEnum):
    """Stripe's ``request_three_d_secure``: ``automatic`` when needed, ``any`` when possible."""

    automatic = "automatic"
    any = "any"


class RiskLevel(StrEnum):
    """Stripe Radar's ``outcome.risk_level`` scale, lowest first."""

    normal = "normal"
    elevated = "elevated"
    highest = "highest"


class PaymentMethodOption(BaseModel):
    """One entry of the seed's ``PaymentMethodConfig.supportedMethods``; fees in basis points."""

    type: str = Field(pattern=r"^(card|digital_wallet|bank_transfer|buy_now_pay_later)$")
    providers: list[str]
    enabled: bool
    domestic_fee_bp: int | None = Field(default=None, ge=0)
    international_fee_bp: int | None = Field(default=None, ge=0)


# The most of one product a cart line may ever hold (the API documents it as the bound);
# ``cart_max_line_quantity`` sets the shop's own limit below it.
MAX_LINE_QUANTITY = 100_000

DEFAULT_PAYMENT_METHODS = [
    PaymentMethodOption(
        type="card",
        providers=["visa", "mastercard", "amex", "discover"],
        enabled=True,
        domestic_fee_bp=290,
        international_fee_bp=390,
    ),
    PaymentMethodOption(
        type="digital_wallet", providers=["apple_pay", "google_pay", "paypal"], enabled=True
    ),
    PaymentMethodOption(type="bank_transfer", providers=["ach", "wire_transfer"], enabled=False),
    PaymentMethodOption(type="buy_now_pay_later", providers=["klarna", "afterpay"], enabled=False),
]


class ApiDocs(StrEnum):
    """Who may read ``/docs``, ``/redoc`` and ``/openapi.json``."""

    on = "on"
    off = "off"
    admin = "admin"


class RefreshPolicy(StrEnum):
    """How a registered session's expiry moves: with activity, or never after login."""

    sliding_window = "sliding-window"
    fixed = "fixed"


class InventoryProviderKind(StrEnum):
    """Where stock levels come from: our own table, or an external JSON API synced into it."""

    internal = "internal"
    http_json = "http_json"


# Allowed hosts outside production when none are configured: the names a developer, the
# test client and the browser tests use (any port).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "testserver")


def _origin_problem(url: str) -> str | None:
    """Why ``url`` is not a bare ``scheme://host[:port]`` (the base URL, an origin)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL such as https://shop.example.com"
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return "must be scheme://host[:port] only: no path, query or credentials"
    return None


class Settings(BaseSettings):
    """Every knob of tillpoint. The README lists each with its meaning."""

    model_config = SettingsConfigDict(
        env_prefix="TILLPOINT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    mode: Mode = Mode.development
    database_url: str = "sqlite+aiosqlite:///./tillpoint.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # A pooled PostgreSQL connection idle longer than this is pinged before use.
    database_ping_idle_seconds: float = Field(default=1.0, ge=0, le=3600)
    # Admission control (tillpoint.web.admission), per worker process: at most this many
    # requests in flight, the rest wait in FIFO order. Unset: the pool size, so admitted
    # requests find a connection and the overflow is left to background work; 0: off.
    max_inflight_requests: int | None = Field(default=None, ge=0, le=10000)
    admission_max_queue: int = Field(default=1000, ge=0, le=100000)
    admission_queue_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Webhooks (Stripe, inventory) get their own slots, so they never queue behind shoppers.
    admission_webhook_reserve: int = Field(default=2, ge=1, le=100)
    redis_url: str | None = None
    secret_key: str | None = Field(default=None, min_length=32)
    secret_key_file: Path = Path(".tillpoint-secret")
    cookie_security: CookieSecurity | None = None
    default_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    guest_session_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    csrf_rotation_seconds: int = Field(default=24 * 3600, ge=60)

    # Registered sessions (the seed's SessionConfig): 1 h access JWT, 7 d sliding session.
    access_token_ttl_seconds: int = Field(default=3600, ge=30, le=24 * 3600)
    session_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=300)
    session_max_lifetime_seconds: int = Field(default=30 * 24 * 3600, ge=300)
    session_refresh_policy: RefreshPolicy = RefreshPolicy.sliding_window
    session_cache_ttl_seconds: int = Field(default=300, ge=1, le=24 * 3600)
    password_min_length: int = Field(default=10, ge=8, le=128)
    # argon2id cost: OWASP's profile (19 MiB, t=2, p=1). Memory is held per concurrent
    # login, so 64 MiB profiles turn a login burst into memory pressure on small servers.
    argon2_time_cost: int = Field(default=2, ge=1, le=20)
    argon2_memory_cost_kib: int = Field(default=19456, ge=8, le=4 * 1024 * 1024)
    argon2_parallelism: int = Field(default=1, ge=1, le=64)

    cart_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    cart_cache_ttl_seconds: int = Field(default=2 * 3600, ge=1)
    cart_max_line_quantity: int = Field(default=999, ge=1, le=MAX_LINE_QUANTITY)
    cart_max_lines: int = Field(default=100, ge=1)
    cart_write_retries: int = Field(default=3, ge=0, le=10)

    # checkout, addresses, shipping, tax (issue 4)
    checkout_ttl_seconds: int = Field(default=30 * 60, ge=60)
    address_provider: Literal["none", "google"] = "none"
    address_google_api_key: str | None = None
    address_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    shipping_provider: Literal["table", "ups"] = "table"
    shipping_ups_endpoint: str = "https://onlinetools.ups.com"
    shipping_ups_token: str | None = None
    shipping_origin_country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    shipping_origin_postal_code: str = "10001"
    shipping_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    shipping_cutoff_hour: int = Field(default=14, ge=0, le=24)
    tax_provider: Literal["manual", "stripe_tax"] = "manual"
    tax_prices_include_tax: bool | None = None
    tax_cache_ttl_seconds: int = Field(default=3600, ge=1)
    tax_stripe_api_key: str | None = None
    tax_stripe_api_base: str | None = None
    tax_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    # Promotions: the seed's CombinabilityRules (promotions/rules.py).
    coupon_max_per_order: int = Field(default=3, ge=1, le=20)
    coupon_allow_percentage_with_fixed: bool = True
    coupon_allow_multiple_percentage: bool = False
    coupon_allow_free_shipping_combination: bool = True
    coupon_priority_order: str = "buy_x_get_y,percentage,fixed_amount,free_shipping"
    coupon_item_level_first: bool = True
    # Coupon-code guessing (cart/coupon_guessing.py): failed codes per session (and per
    # customer) and per client address, "N/M unit"; then every code is refused this long.
    coupon_attempts_per_session: str = "10/15 minutes"
    coupon_attempts_per_address: str = "30/15 minutes"
    coupon_attempts_block_seconds: int = Field(default=15 * 60, ge=1)

    # Inventory (issue 6): reservations, fallbacks, real-time stream, external provider.
    inventory_reservation_ttl_seconds: int = Field(default=15 * 60, ge=30)
    inventory_reservation_extend_seconds: int = Field(default=15 * 60, ge=30)
    # What one session's or customer's cart may hold through POST /api/inventory/reservations
    # (a hold with no purchase behind it): units of one SKU, and units in all.
    inventory_hold_max_per_sku: int = Field(default=10, ge=1)
    inventory_hold_max_units: int = Field(default=50, ge=1)
    inventory_backorder_enabled: bool = True
    inventory_backorder_estimate: str = Field(default="2-3 weeks", max_length=80)
    inventory_substitutes_enabled: bool = True
    inventory_substitutes_limit: int = Field(default=3, ge=0, le=20)
    inventory_waitlist_enabled: bool = True
    # Waitlist joins (each address is e-mailed when stock returns), "N/M unit".
    inventory_waitlist_joins_per_session: str = "10/hour"
    inventory_waitlist_joins_per_address: str = "30/hour"
    inventory_stream_throttle_ms: int = Field(default=1000, ge=0, le=60_000)
    inventory_stream_heartbeat_seconds: float = Field(default=15, gt=0, le=300)
    inventory_stream_max_products: int = Field(default=50, ge=1, le=500)
    inventory_webhook_secret: str | None = Field(default=None, min_length=16)
    inventory_webhook_tolerance_seconds: int = Field(default=300, ge=1)
    inventory_provider: InventoryProviderKind = InventoryProviderKind.internal
    inventory_provider_url: str | None = None
    inventory_provider_api_key: str | None = None
    inventory_provider_timeout_seconds: float = Field(default=10, gt=0, le=120)
    inventory_sync_interval_seconds: int = Field(default=300, ge=5)

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Independent hash chains of the audit log; a unit of work appends to one of them, so
    # up to this many audited writes commit in parallel (PostgreSQL). Raise, never lower.
    audit_chains: int = Field(default=16, ge=1, le=1024)

    # Security (the seed's RateLimitConfig); limits use the `limits` notation "N/M unit".
    rate_limit_enabled: bool = True
    rate_limit_global: str = "1000/15 minutes"
    rate_limit_checkout: str = "50/5 minutes"
    rate_limit_create_intent: str = "10/5 minutes"
    # The ceiling per client address (the seed's limits above are per session). A whole
    # purchase from the pages is 45 requests (pages, assets, 24 API calls) over two minutes
    # or more of a customer's typing, so at most ~23 a minute per shopper; 2,400 a minute
    # lets ~100 shoppers behind one address buy at once: all 126 subscribers of a
    # carrier-grade NAT address with 512-port blocks (64,512 / 512), or one in ten of a
    # 1,000-person office. A flood from one address is held to 40 requests/s, about a
    # tenth of one core on the costliest requests (a checkout event, ~2.4 ms of CPU).
    rate_limit_per_address: str = "2400/minute"
    # Read by the login throttle (auth/throttle.py): failures per account and per IP.
    rate_limit_login: str = "5/15 minutes"
    rate_limit_login_block_seconds: int = Field(default=30 * 60, ge=1)
    rate_limit_adaptive: bool = True
    rate_limit_adaptive_in_flight: int = Field(default=100, ge=1)
    rate_limit_adaptive_lag_ms: int = Field(default=250, ge=1)
    rate_limit_surge_multiplier: float = Field(default=0.5, gt=0, le=1)
    rate_limit_monitor_interval_seconds: float = Field(default=60.0, gt=0)
    # The limiter's own Redis pool: a burst waits this long for a connection, then the
    # request is counted in process memory instead (never refused for it).
    rate_limit_redis_pool_size: int = Field(default=32, ge=1, le=1000)
    rate_limit_redis_pool_timeout_seconds: float = Field(default=0.2, gt=0, le=10)
    trusted_proxies: str = ""
    # The shop's public address, scheme://host[:port] (required in production). Redirects
    # point at it; its host is the allowed Host and its origin the allowed Origin of
    # state-changing requests unless the two settings below say otherwise.
    public_base_url: str | None = None
    # Host names a request's Host header may name, comma-separated ("*.example.com": its
    # subdomains, "*": any); others answer 400. Empty: the base URL's host, plus the
    # loopback names and "testserver" outside production.
    allowed_hosts: str = ""
    # Origins (scheme://host[:port], comma-separated) besides the request's own whose pages
    # may send state-changing requests. Empty: the base URL's origin.
    allowed_origins: str = ""
    # The interactive API docs and the OpenAPI document: on, off, or admin (an admin
    # session). Unset: off in production, on elsewhere.
    api_docs: ApiDocs | None = None
    # /metrics answers clients in these networks (comma-separated CIDRs; the address as
    # resolved through the trusted proxies) and callers with the bearer token; nobody else.
    metrics_allowed_networks: str = "127.0.0.0/8,::1"
    metrics_token: str | None = Field(default=None, min_length=16)
    # Where the page loads Stripe.js v3 from (the CSP allows it): Stripe's own, or a
    # stand-in such as localstripe's, which serves it under /js.stripe.com/v3/.
    stripe_js_origin: str = "https://js.stripe.com"
    # The Stripe account's country, for the Payment Request Button (Apple/Google Pay).
    stripe_account_country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    hsts_max_age_seconds: int = Field(default=2 * 365 * 24 * 3600, ge=0)
    log_level: str = "INFO"
    background_tasks: bool = True
    sweep_interval_seconds: int = Field(default=60, ge=1)

    # --- payments (issue 7) -----------------------------------------------------------
    payment_gateway: PaymentGatewayChoice = PaymentGatewayChoice.auto
    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_webhook_secret_previous: str | None = None
    stripe_fallback_secret_key: str | None = None
    stripe_fallback_publishable_key: str | None = None
    stripe_fallback_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    stripe_max_network_retries: int = Field(default=3, ge=0, le=10)
    stripe_timeout_seconds: float = Field(default=30.0, gt=0, le=120)
    stripe_require_3ds: ThreeDSecure = ThreeDSecure.automatic
    stripe_automatic_payment_methods: bool = True
    stripe_receipt_emails: bool = False
    sandbox_webhook_secret: str | None = None
    # The sandbox posts its webhook events this long after the call that caused them, as
    # Stripe does (about a second): the browser's confirmation usually finalizes first.
    sandbox_webhook_delay_seconds: float = Field(default=1.0, ge=0, le=60)
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    webhook_allowed_ips: list[str] = Field(default_factory=list)
    payment_velocity_window_seconds: int = Field(default=3600, ge=1)
    payment_max_attempts_per_checkout: int = Field(default=5, ge=1)
    payment_max_attempts_per_session: int = Field(default=10, ge=1)
    payment_max_attempts_per_email: int = Field(default=10, ge=1)
    payment_max_attempts_per_card: int = Field(default=5, ge=1)
    payment_risk_threshold: RiskLevel = RiskLevel.elevated
    payment_methods: list[PaymentMethodOption] = Field(
        default_factory=lambda: list(DEFAULT_PAYMENT_METHODS)
    )
    notification_smtp_host: str | None = None
    notification_smtp_port: int = Field(default=25, ge=1, le=65535)
    notification_smtp_starttls: bool = False
    notification_from: str = "orders@tillpoint.invalid"

    @field_validator("coupon_priority_order")
    @classmethod
    def _coupon_types_only(cls, value: str) -> str:
        types = [t.strip() for t in value.split(",") if t.strip()]
        allowed = {"percentage", "fixed_amount", "free_shipping", "buy_x_get_y"}
        if not set(types) <= allowed or len(types) != len(set(types)):
            raise ValueError(f"a comma-separated list of distinct coupon types from {allowed}")
        return ",".join(types)

    @field_validator(
        "rate_limit_global",
        "rate_limit_checkout",
        "rate_limit_create_intent",
        "rate_limit_login",
        "rate_limit_per_address",
    )
    @classmethod
    def _limit_notation(cls, value: str) -> str:
        limits.parse(value)  # raises ValueError on anything but "N/M unit"
        return value

    @field_validator(
        "coupon_attempts_per_session",
        "coupon_attempts_per_address",
        "inventory_waitlist_joins_per_session",
        "inventory_waitlist_joins_per_address",
    )
    @classmethod
    def _attempts_notation(cls, value: str) -> str:
        limits.parse(value)  # raises ValueError on anything but "N/M unit"
        return value

    @field_validator("trusted_proxies", "metrics_allowed_networks")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if problem := _origin_problem(value):
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip() and (problem := _origin_problem(part.strip())):
                raise ValueError(f"{part.strip()!r} {problem}")
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        require_production_ready(self)
        return self

    def production_problem(self) -> str | None:
        """Why these settings cannot run a shop in production mode, naming the setting to
        fix; None when they can (or the mode is not production)."""
        if self.mode is not Mode.production:
            return None
        if not self.secret_key:
            return "TILLPOINT_SECRET_KEY is required in production mode"
        if not self.public_base_url:
            return "TILLPOINT_PUBLIC_BASE_URL is required in production mode"
        return _payments_problem(self)

    @property
    def resolved_allowed_hosts(self) -> tuple[str, ...]:
        """The Host patterns requests may name (see ``allowed_hosts``)."""
        configured = [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
        if configured:
            return tuple(configured)
        hosts = [urlsplit(self.public_base_url).hostname or ""] if self.public_base_url else []
        if self.mode is not Mode.production:
            hosts += LOCAL_HOSTS
        return tuple(hosts)

    @property
    def resolved_api_docs(self) -> ApiDocs:
        """The API docs setting, with its default (off in production) applied."""
        if self.api_docs is not None:
            return self.api_docs
        return ApiDocs.off if self.mode is Mode.production else ApiDocs.on

    @property
    def resolved_allowed_origins(self) -> tuple[str, ...]:
        """Origins besides a request's own that may send state-changing requests."""
        configured = [o.strip() for o in self.allowed_origins.split(",") if o.strip()]
        if configured:
            return tuple(configured)
        return (self.public_base_url,) if self.public_base_url else ()

    @property
    def cookies_secure(self) -> bool:
        """Secure cookies unless explicitly local; production is always secure."""
        if self.mode is Mode.production:
            return True
        if self.cookie_security is None:
            return False
        return self.cookie_security is CookieSecurity.secure

    @property
    def uses_stripe(self) -> bool:
        """True when payments go through Stripe rather than the offline sandbox."""
        if self.payment_gateway is PaymentGatewayChoice.auto:
            return bool(self.stripe_secret_key)
        return self.payment_gateway is PaymentGatewayChoice.stripe

    @property
    def resolved_max_inflight_requests(self) -> int:
        if self.max_inflight_requests is None:
            return self.database_pool_size
        return self.max_inflight_requests

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


class UnsafeForProduction(ValueError):
    """Production mode with settings that would not take real money (or not safely); the
    message names the setting. Raised at start-up, never while serving."""


# Stripe test-mode secret keys (standard and restricted): test mode moves no money.
_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


def _payments_problem(settings: Settings) -> str | None:
    """A production shop must take real money: a live Stripe account, its webhooks heard."""
    if settings.payment_gateway is PaymentGatewayChoice.sandbox:
        return (
            "TILLPOINT_PAYMENT_GATEWAY=sandbox is refused in production mode: the offline "
            "sandbox takes no money. Use stripe (or auto) with TILLPOINT_STRIPE_SECRET_KEY."
        )
    if not settings.stripe_secret_key:
        return (
            "TILLPOINT_STRIPE_SECRET_KEY is required in production mode: without a payment "
            "gateway that takes money, orders would be paid with no money taken."
        )
    keys = {
        "TILLPOINT_STRIPE_SECRET_KEY": settings.stripe_secret_key,
        "TILLPOINT_STRIPE_FALLBACK_SECRET_KEY": settings.stripe_fallback_secret_key,
    }
    for name, key in keys.items():
        if key and key.startswith(_TEST_KEY_PREFIXES):
            return (
                f"{name} is a Stripe test-mode key, which takes no money; production mode "
                "needs a live key (sk_live_... or rk_live_...)."
            )
    if settings.stripe_api_base:
        return (
            "TILLPOINT_STRIPE_API_BASE points the Stripe SDK away from Stripe (a test "
            "double such as localstripe) and is refused in production mode."
        )
    if not settings.stripe_webhook_secret:
        return (
            "TILLPOINT_STRIPE_WEBHOOK_SECRET is required in production mode: without it "
            "every Stripe webhook (payments settled later, refunds, subscriptions) is refused."
        )
    return None


def require_production_ready(settings: Settings) -> None:
    """Raise :class:`UnsafeForProduction` if ``settings`` cannot run a production shop
    (checked when settings load, and again where the runtime, the app and the payment
    gateway are built, since settings copied with changes skip validation)."""
    problem = settings.production_problem()
    if problem is not None:
        raise UnsafeForProduction(problem)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning (tests, CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
