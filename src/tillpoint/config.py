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

from tillpoint.money_format import known_locale


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
    """Every knob of tillpoint; ``tillpoint settings`` renders them as docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix="TILLPOINT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    mode: Mode = Field(
        default=Mode.development,
        description="Where the app runs. `production` refuses to start without a secret key, "
        "a public base URL and a live Stripe account (live secret key and webhook secret; "
        "never the sandbox or a Stripe API base), and always sets Secure cookies.",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./tillpoint.db",
        description="SQLAlchemy async URL of the database: the SQLite file for one machine, "
        "`postgresql+asyncpg://user@host/db` for PostgreSQL and several app servers.",
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Pooled PostgreSQL connections per worker process (as many again may "
        "overflow). Raise it with the workers' concurrency, within PostgreSQL's "
        "`max_connections`.",
    )
    database_ping_idle_seconds: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description="A pooled PostgreSQL connection idle longer than this (seconds) is pinged "
        "before use and replaced if dead; busier connections skip the round trip.",
    )
    # Unset: the pool size, so admitted requests find a connection and the pool's overflow
    # is left to background work.
    max_inflight_requests: int | None = Field(
        default=None,
        ge=0,
        le=10000,
        description="Admission control per worker process: at most this many requests run at "
        "once, the rest wait in arrival order before any work. Unset: the database pool "
        "size; `0` turns admission control off.",
    )
    admission_max_queue: int = Field(
        default=1000,
        ge=0,
        le=100000,
        description="Requests that may wait for admission per worker; one more is answered "
        "`503 server_busy` at once.",
    )
    admission_queue_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="A request that waited this long (seconds) for admission is answered "
        "`503 server_busy` with `Retry-After: 5`. Raise it if a surge's longest waits pass it.",
    )
    admission_webhook_reserve: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Slots of the webhooks' own lane (`/api/webhooks/*`, "
        "`/api/inventory/webhook`) on top of the cap, so Stripe's deliveries never wait "
        "behind shoppers.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for everything app servers share: cart, session and tax caches, "
        "rate-limit counters, the login throttle and the live stock channel, e.g. "
        "`redis://127.0.0.1:6379/0`. Unset: each process keeps its own, in memory.",
    )
    secret_key: str | None = Field(
        default=None,
        min_length=32,
        description="Signing secret of CSRF tokens, access tokens and guests' order links (at "
        "least 32 characters; required in production). Unset outside production: generated "
        "once and kept in the secret key file.",
    )
    secret_key_file: Path = Field(
        default=Path(".tillpoint-secret"),
        description="Where the generated development secret is kept when no secret key is set.",
    )
    cookie_security: CookieSecurity | None = Field(
        default=None,
        description="`secure`: Secure cookies with `__Host-` names (https only); `local`: "
        "plain-http development cookies. Unset: `local` outside production; production is "
        "always `secure`.",
    )
    default_currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 currency of new carts and of the demo catalog.",
    )
    shop_name: str = Field(
        default="Tillpoint demo shop",
        min_length=1,
        max_length=100,
        description="The shop's name, as its emails sign and title it.",
    )
    shop_address: str = Field(
        default="",
        max_length=500,
        description="The shop's postal address, printed at the foot of every email (lines "
        "separated by `\\n` or commas). Many countries require one in commercial email.",
    )
    shop_locale: str = Field(
        default="en_US",
        description="Babel/CLDR locale (`en_US`, `de_DE`, `ja_JP`) for amounts in emails, "
        "and on pages when the shopper's `Accept-Language` names no locale Babel knows.",
    )

    guest_session_ttl_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="Lifetime of a guest session in seconds (7 days), sliding with use.",
    )
    csrf_rotation_seconds: int = Field(
        default=24 * 3600,
        ge=60,
        description="How often the CSRF signing key rotates, in seconds (24 h); tokens "
        "signed with the previous key stay valid.",
    )

    # Registered sessions (the seed's SessionConfig): 1 h access JWT, 7 d sliding session.
    access_token_ttl_seconds: int = Field(
        default=3600,
        ge=30,
        le=24 * 3600,
        description="Lifetime of a signed-in user's access token (HS256 JWT in an httpOnly "
        "cookie), in seconds; the page then calls `POST /api/auth/refresh`.",
    )
    session_ttl_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=300,
        description="Lifetime of a registered session in seconds (7 days), extended by "
        "activity under the `sliding-window` refresh policy.",
    )
    session_max_lifetime_seconds: int = Field(
        default=30 * 24 * 3600,
        ge=300,
        description="A registered session never slides past this age in seconds (30 days): "
        "the user signs in again.",
    )
    session_refresh_policy: RefreshPolicy = Field(
        default=RefreshPolicy.sliding_window,
        description="`sliding-window`: requests and refreshes extend a registered session; "
        "`fixed`: it ends its session lifetime after login, however active.",
    )
    session_cache_ttl_seconds: int = Field(
        default=300,
        ge=1,
        le=24 * 3600,
        description="How long Redis caches a session (seconds). Logout and revocation take "
        "effect at once regardless: their markers outlive the cache.",
    )
    password_min_length: int = Field(
        default=10,
        ge=8,
        le=128,
        description="Shortest accepted password; common passwords and the account's own "
        "email are refused too.",
    )
    # argon2id cost: OWASP's profile (19 MiB, t=2, p=1). Memory is held per concurrent
    # login, so 64 MiB profiles turn a login burst into memory pressure on small servers.
    argon2_time_cost: int = Field(
        default=2,
        ge=1,
        le=20,
        description="argon2id iterations per password hash. Changing any argon2 setting "
        "rehashes each password at its next login.",
    )
    argon2_memory_cost_kib: int = Field(
        default=19456,
        ge=8,
        le=4 * 1024 * 1024,
        description="argon2id memory per password hash in KiB (19 MiB), held once per "
        "concurrent login.",
    )
    argon2_parallelism: int = Field(
        default=1, ge=1, le=64, description="argon2id lanes per password hash."
    )

    cart_ttl_seconds: int = Field(
        default=30 * 24 * 3600,
        ge=60,
        description="A cart untouched this long (seconds; 30 days) is removed by the sweeper.",
    )
    cart_cache_ttl_seconds: int = Field(
        default=2 * 3600,
        ge=1,
        description="How long Redis caches a cart (seconds; 2 h).",
    )
    cart_max_line_quantity: int = Field(
        default=999,
        ge=1,
        le=MAX_LINE_QUANTITY,
        description="Largest quantity of one cart line (at most 100000).",
    )
    cart_max_lines: int = Field(default=100, ge=1, description="Most distinct lines in a cart.")
    cart_write_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a cart write after a transient lock failure.",
    )

    # checkout, addresses, shipping, tax (issue 4)
    checkout_ttl_seconds: int = Field(
        default=30 * 60,
        ge=60,
        description="A checkout idle this long (seconds; 30 min) expires and releases its "
        "stock; a checkout whose payment is in flight never expires for idleness.",
    )
    address_provider: Literal["none", "google"] = Field(
        default="none",
        description="`google`: ask Google Address Validation after the built-in per-country "
        "rules (the rules alone on error or timeout); `none`: the rules only.",
    )
    address_google_api_key: str | None = Field(
        default=None, description="API key for the `google` address provider."
    )
    address_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=30,
        description="Timeout of the address provider, in seconds.",
    )
    shipping_provider: Literal["table", "ups"] = Field(
        default="table",
        description="`table`: the built-in rate tables by zone; `ups`: live UPS rates first, "
        "the tables when UPS fails or times out.",
    )
    shipping_ups_endpoint: str = Field(
        default="https://onlinetools.ups.com", description="Base URL of the UPS API."
    )
    shipping_ups_token: str | None = Field(
        default=None, description="UPS OAuth bearer token for the `ups` provider."
    )
    shipping_origin_country: str = Field(
        default="US",
        pattern=r"^[A-Z]{2}$",
        description="Country parcels ship from (ISO 3166 alpha-2), for carrier quotes.",
    )
    shipping_origin_postal_code: str = Field(
        default="10001", description="Postal code parcels ship from, for carrier quotes."
    )
    shipping_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=30,
        description="Carrier timeout in seconds before falling back to the rate tables.",
    )
    shipping_cutoff_hour: int = Field(
        default=14,
        ge=0,
        le=24,
        description="Orders placed before this hour (UTC) on a business day ship the same day.",
    )
    tax_provider: Literal["manual", "stripe_tax"] = Field(
        default="manual",
        description="`manual`: the built-in rate tables per country, region and tax "
        "category; `stripe_tax`: the Stripe Tax API (when it fails, checkout refuses to "
        "price rather than guess).",
    )
    tax_prices_include_tax: bool | None = Field(
        default=None,
        description="Whether catalog prices include tax. Unset: each jurisdiction's "
        "convention (EU, UK, JP, AU inclusive; US, CA exclusive); `true`/`false` forces it.",
    )
    tax_cache_ttl_seconds: int = Field(
        default=3600,
        ge=1,
        description="How long tax results are cached by their inputs, in seconds (in Redis "
        "when configured, else in process).",
    )
    tax_stripe_api_key: str | None = Field(
        default=None, description="Stripe secret key for the `stripe_tax` provider."
    )
    tax_stripe_api_base: str | None = Field(
        default=None,
        description="Another Stripe API base URL for Stripe Tax (tests, proxies). Unset: "
        "Stripe's own.",
    )
    tax_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Timeout of Stripe Tax, in seconds."
    )
    default_phone_region: str = Field(
        default="US",
        pattern=r"^[A-Z]{2}$",
        description="Region assumed for guest phone numbers given without `+country`.",
    )
    # Promotions: the seed's CombinabilityRules (promotions/rules.py).
    coupon_max_per_order: int = Field(
        default=3, ge=1, le=20, description="Most coupons on one cart or order."
    )
    coupon_allow_percentage_with_fixed: bool = Field(
        default=True, description="Whether a percentage and a fixed-amount coupon may stack."
    )
    coupon_allow_multiple_percentage: bool = Field(
        default=False,
        description="Whether several percentage coupons may stack (they compound).",
    )
    coupon_allow_free_shipping_combination: bool = Field(
        default=True, description="Whether free shipping may stack with other coupons."
    )
    coupon_priority_order: str = Field(
        default="buy_x_get_y,percentage,fixed_amount,free_shipping",
        description="Order in which coupon types apply, comma-separated; each applies to what "
        "the previous ones left.",
    )
    coupon_item_level_first: bool = Field(
        default=True,
        description="Whether coupons limited to some products apply before order-wide ones.",
    )
    coupon_attempts_per_session: str = Field(
        default="10/15 minutes",
        description="Codes naming no usable coupon (unknown, inactive, expired) that one "
        "session or customer may try, as `N/M unit`; then every code is refused for the "
        "block time.",
    )
    coupon_attempts_per_address: str = Field(
        default="30/15 minutes",
        description="The same limit on coupon-code guessing per client IP address, over all "
        "its sessions.",
    )
    coupon_attempts_block_seconds: int = Field(
        default=15 * 60,
        ge=1,
        description="After either guessing limit, every code, the right one too, answers 429 "
        "`coupon_attempts_exceeded` for this long (seconds).",
    )

    # Inventory (issue 6): reservations, fallbacks, real-time stream, external provider.
    inventory_reservation_ttl_seconds: int = Field(
        default=15 * 60,
        ge=30,
        description="How long a stock reservation holds (seconds; 15 min) before the sweeper "
        "releases it.",
    )
    inventory_reservation_extend_seconds: int = Field(
        default=15 * 60,
        ge=30,
        description="How far extending a reservation pushes its expiry (seconds), e.g. while "
        "3-D Secure is pending.",
    )
    inventory_hold_max_per_sku: int = Field(
        default=10,
        ge=1,
        description="Most units of one SKU a session's or customer's cart may hold through "
        "`POST /api/inventory/reservations` (409 `reservation_cap_reached`); checkout's own "
        "reservation is not capped.",
    )
    inventory_hold_max_units: int = Field(
        default=50,
        ge=1,
        description="Most units in all such a hold may take.",
    )
    inventory_backorder_enabled: bool = Field(
        default=True,
        description="The backorder fallback: SKUs marked `backorder_allowed` sell beyond stock.",
    )
    inventory_backorder_estimate: str = Field(
        default="2-3 weeks",
        max_length=80,
        description="Estimated delivery shown for a backorder when the SKU has none of its own.",
    )
    inventory_substitutes_enabled: bool = Field(
        default=True,
        description="The substitute fallback: suggest in-stock products of the same category "
        "or tags.",
    )
    inventory_substitutes_limit: int = Field(
        default=3,
        ge=0,
        le=20,
        description="Most substitutes returned with an availability check.",
    )
    inventory_waitlist_enabled: bool = Field(
        default=True,
        description="The waitlist fallback: shoppers leave an email to hear when stock is back.",
    )
    inventory_waitlist_joins_per_session: str = Field(
        default="10/hour",
        description="Waitlist sign-ups one session may make, as `N/M unit` (each address is "
        "emailed on restock; 429 `waitlist_limit_reached` beyond).",
    )
    inventory_waitlist_joins_per_address: str = Field(
        default="30/hour", description="The same waitlist limit per client IP address."
    )
    inventory_stream_throttle_ms: int = Field(
        default=1000,
        ge=0,
        le=60_000,
        description="At most one live stock event per product per this interval, in milliseconds.",
    )
    inventory_stream_heartbeat_seconds: float = Field(
        default=15,
        gt=0,
        le=300,
        description="Interval of the live stock stream's heartbeat comment, in seconds.",
    )
    inventory_stream_max_products: int = Field(
        default=50,
        ge=1,
        le=500,
        description="Most product ids one live stock stream may watch.",
    )
    inventory_webhook_secret: str | None = Field(
        default=None,
        min_length=16,
        description="Shared HMAC secret (at least 16 characters) of "
        "`POST /api/inventory/webhook`. Unset: that webhook answers 503.",
    )
    inventory_webhook_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        description="How far an inventory webhook's timestamp may be from now, in seconds.",
    )
    inventory_provider: InventoryProviderKind = Field(
        default=InventoryProviderKind.internal,
        description="`internal`: stock is our `inventory` table only; `http_json`: an "
        "external JSON inventory API, synced into that table by `tillpoint inventory sync`.",
    )
    inventory_provider_url: str | None = Field(
        default=None, description="Base URL of the `http_json` inventory provider."
    )
    inventory_provider_api_key: str | None = Field(
        default=None, description="Bearer key of the `http_json` inventory provider."
    )
    inventory_provider_timeout_seconds: float = Field(
        default=10,
        gt=0,
        le=120,
        description="HTTP timeout towards the inventory provider, in seconds.",
    )
    inventory_sync_interval_seconds: int = Field(
        default=300,
        ge=5,
        description="How often `tillpoint inventory sync --watch` pulls levels, in seconds.",
    )

    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request body in bytes; larger bodies answer 413.",
    )
    audit_chains: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="Independent hash chains of the audit log; audited writes on different "
        "chains commit in parallel (PostgreSQL). Raise it freely, never lower it.",
    )

    # Security (the seed's RateLimitConfig); limits use the `limits` notation "N/M unit".
    rate_limit_enabled: bool = Field(default=True, description="Turns every rate limit on or off.")
    rate_limit_global: str = Field(
        default="1000/15 minutes",
        description="Requests per session, as `N/M unit` (health and metrics endpoints "
        "excepted; without a session only the per-address ceiling counts).",
    )
    rate_limit_checkout: str = Field(
        default="50/5 minutes",
        description="Requests to `/api/checkout` and `/api/checkout/*` per session (a "
        "purchase from the pages sends 10).",
    )
    rate_limit_create_intent: str = Field(
        default="10/5 minutes",
        description="Unsuccessful (status 400 or more) `POST /api/payment/create-intent` "
        "answers per session.",
    )
    # Why 2,400: a purchase from the pages is 45 requests over two minutes or more of
    # typing (at most ~23 a minute), so ~100 shoppers behind one address may buy at once:
    # all 126 subscribers of a carrier-grade NAT address with 512-port blocks, or one in
    # ten of a 1,000-person office. A flood from one address is held to 40 requests/s.
    rate_limit_per_address: str = Field(
        default="2400/minute",
        description="Requests per client IP address, whatever the session: the flood "
        "ceiling, set far above a crowd of shoppers behind one NAT.",
    )
    # Read by the login throttle (auth/throttle.py), not by the rate-limit middleware.
    rate_limit_login: str = Field(
        default="5/15 minutes",
        description="Failed logins per account, then the account is blocked for "
        "`rate_limit_login_block_seconds`.",
    )
    # Separate from the per-account limit so one address cannot try a password against
    # more than N accounts, yet shoppers behind one office or carrier address are not
    # blocked by each other's typos (5 per address would lock out a crowd).
    rate_limit_login_per_address: str = Field(
        default="50/15 minutes",
        description="Failed logins (and registrations of a taken email) per client IP "
        "address, then the address is blocked for `rate_limit_login_block_seconds`.",
    )
    rate_limit_login_block_seconds: int = Field(
        default=30 * 60,
        ge=1,
        description="An account or address that reaches the login limit is refused for this "
        "long (seconds; 30 min), even with the right password.",
    )
    rate_limit_adaptive: bool = Field(
        default=True, description="Shrink every limit while this instance is under load."
    )
    rate_limit_adaptive_in_flight: int = Field(
        default=100,
        ge=1,
        description="Load threshold: peak concurrent requests within a monitor interval.",
    )
    rate_limit_adaptive_lag_ms: int = Field(
        default=250, ge=1, description="Load threshold: event-loop lag in milliseconds."
    )
    rate_limit_surge_multiplier: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Every limit is multiplied by this while under load (never below 1).",
    )
    rate_limit_monitor_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often load is measured, in seconds."
    )
    rate_limit_redis_pool_size: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="Connections of the rate limiter's own Redis pool per process, so a "
        "burst never exhausts the pool sessions and caches share.",
    )
    rate_limit_redis_pool_timeout_seconds: float = Field(
        default=0.2,
        gt=0,
        le=10,
        description="How long a request waits for a rate-limiter Redis connection (seconds) "
        "before it is counted in process memory instead (never refused for it).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated CIDRs of your own reverse proxies; `X-Forwarded-For` is "
        "honoured only from them. Empty: the TCP peer is the client.",
    )
    public_base_url: str | None = Field(
        default=None,
        description="The shop's public address, `scheme://host[:port]` (required in "
        "production). Redirects point at it, never at the request's `Host`; its host is the "
        "default allowed host and its origin the default allowed origin.",
    )
    allowed_hosts: str = Field(
        default="",
        description="Host names a request's `Host` header may name, comma-separated "
        "(`*.example.com`: its subdomains, `*`: any); others answer 400 `host_not_allowed`. "
        "Empty: the base URL's host, plus the loopback names and `testserver` outside "
        "production.",
    )
    allowed_origins: str = Field(
        default="",
        description="Origins (`scheme://host[:port]`, comma-separated) besides the request's "
        "own whose pages may send state-changing requests; others answer 403 "
        "`origin_not_allowed`. Empty: the base URL's origin.",
    )
    api_docs: ApiDocs | None = Field(
        default=None,
        description="`/docs`, `/redoc` and `/openapi.json`: `on`, `off` (404) or `admin` (an "
        "admin session only). Unset: `off` in production, `on` elsewhere.",
    )
    metrics_allowed_networks: str = Field(
        default="127.0.0.0/8,::1",
        description="Comma-separated CIDRs whose clients may read `/metrics` (the address as "
        "resolved through the trusted proxies); others answer 403 `metrics_forbidden`.",
    )
    metrics_token: str | None = Field(
        default=None,
        min_length=16,
        description="A bearer token (at least 16 characters) that opens `/metrics` from "
        "anywhere (`Authorization: Bearer ...`).",
    )
    stripe_js_origin: str = Field(
        default="https://js.stripe.com",
        description="Where the checkout page loads Stripe.js v3 from (the Content-Security-"
        "Policy allows it): Stripe's own, or a stand-in such as localstripe's, which serves "
        "it under `/js.stripe.com/v3/`.",
    )
    image_origins: str = Field(
        default="'self' https:",
        pattern=r"^\s*(('self'|https?:|https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?)\s*)+$",
        description="Where product images may load from (the Content-Security-Policy's "
        "`img-src`, space-separated): `'self'`, `https:` (any HTTPS host) or origins such as "
        "`https://cdn.example.com`. Product image URLs are http(s) only; list your image "
        "host here to allow no others.",
    )
    stripe_account_country: str = Field(
        default="US",
        pattern=r"^[A-Z]{2}$",
        description="The Stripe account's country, for the Payment Request Button (Apple "
        "Pay, Google Pay).",
    )
    hsts_max_age_seconds: int = Field(
        default=2 * 365 * 24 * 3600,
        ge=0,
        description="`Strict-Transport-Security` max-age in seconds (2 years), sent only "
        "where cookies are Secure.",
    )
    log_level: str = Field(
        default="INFO",
        description="Level of the JSON logs written to stderr (`DEBUG`, `INFO`, `WARNING`, "
        "`ERROR`).",
    )
    background_tasks: bool = Field(
        default=True,
        description="Run the sweeper inside the server process. Turn it off when a separate "
        "`tillpoint sweep` job does the work.",
    )
    sweep_interval_seconds: int = Field(
        default=60, ge=1, description="How often the in-process sweeper runs, in seconds."
    )

    # --- payments (issue 7) -----------------------------------------------------------
    payment_gateway: PaymentGatewayChoice = Field(
        default=PaymentGatewayChoice.auto,
        description="`auto`: Stripe when a Stripe secret key is set, else the offline "
        "sandbox; `stripe` or `sandbox` to force one. Production never runs the sandbox.",
    )
    stripe_secret_key: str | None = Field(
        default=None, description="Secret key of the primary Stripe account."
    )
    stripe_publishable_key: str | None = Field(
        default=None,
        description="Publishable key of the primary Stripe account, handed to Stripe.js.",
    )
    stripe_webhook_secret: str | None = Field(
        default=None,
        description="Signing secret (`whsec_...`) of the primary account's webhook endpoint "
        "(required in production).",
    )
    stripe_webhook_secret_previous: str | None = Field(
        default=None,
        description="The previous webhook signing secret, accepted too while you rotate it.",
    )
    stripe_fallback_secret_key: str | None = Field(
        default=None,
        description="Secret key of a second Stripe account; new payment intents go there "
        "only when the primary is unreachable or answers 5xx (never on a decline).",
    )
    stripe_fallback_publishable_key: str | None = Field(
        default=None, description="Publishable key of the fallback Stripe account."
    )
    stripe_fallback_webhook_secret: str | None = Field(
        default=None, description="Webhook signing secret of the fallback Stripe account."
    )
    stripe_api_base: str | None = Field(
        default=None,
        description="Another Stripe API address, e.g. localstripe's `http://127.0.0.1:8420` "
        "in tests; refused in production. Unset: api.stripe.com.",
    )
    stripe_max_network_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Stripe SDK retries on network errors, 409 and 5xx (exponential backoff "
        "with jitter).",
    )
    stripe_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=120,
        description="Timeout of each Stripe API request, in seconds.",
    )
    stripe_require_3ds: ThreeDSecure = Field(
        default=ThreeDSecure.automatic,
        description="Stripe's `request_three_d_secure`: `automatic` (when the bank requires "
        "it) or `any` (whenever possible).",
    )
    stripe_automatic_payment_methods: bool = Field(
        default=True,
        description="Send `automatic_payment_methods` on payment intents (cards and wallets "
        "as the Stripe dashboard enables them); localstripe needs `false`.",
    )
    stripe_receipt_emails: bool = Field(
        default=False,
        description="Also ask Stripe to email its own receipt; the shop's order "
        "confirmation goes out regardless.",
    )
    sandbox_webhook_secret: str | None = Field(
        default=None,
        description="Signing secret of the offline sandbox's webhook events. Unset: derived "
        "from the secret key.",
    )
    sandbox_webhook_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long after the call that caused it the sandbox posts a webhook "
        "event, in seconds (Stripe takes about a second); `0` posts at once.",
    )
    webhook_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        le=3600,
        description="How far a `Stripe-Signature` timestamp may be from now, past or future, "
        "in seconds.",
    )
    webhook_allowed_ips: list[str] = Field(
        default_factory=list,
        description="JSON list of addresses or CIDRs Stripe webhooks may come from (Stripe "
        "publishes its IPs); others answer 403. Empty: any.",
    )
    payment_velocity_window_seconds: int = Field(
        default=3600,
        ge=1,
        description="Window of the payment velocity checks (the `PAYMENT_MAX_ATTEMPTS_*` "
        "settings), in seconds.",
    )
    payment_max_attempts_per_checkout: int = Field(
        default=5,
        ge=1,
        description="Payment attempts per checkout within the velocity window (429 "
        "`payment_velocity_exceeded` beyond).",
    )
    payment_max_attempts_per_session: int = Field(
        default=10, ge=1, description="Payment attempts per session within the window."
    )
    payment_max_attempts_per_email: int = Field(
        default=10, ge=1, description="Payment attempts per email address within the window."
    )
    payment_max_attempts_per_card: int = Field(
        default=5,
        ge=1,
        description="Payment attempts per card fingerprint within the window.",
    )
    payment_risk_threshold: RiskLevel = Field(
        default=RiskLevel.elevated,
        description="Stripe Radar risk level (`normal`, `elevated`, `highest`) from which a "
        "paid order is held for review instead of fulfilled.",
    )
    payment_methods: list[PaymentMethodOption] = Field(
        default_factory=lambda: list(DEFAULT_PAYMENT_METHODS),
        description="JSON list of the payment methods the checkout offers, each `{type, "
        "providers, enabled, domestic_fee_bp?, international_fee_bp?}` (fees in basis "
        "points).",
    )
    notification_smtp_host: str | None = Field(
        default=None,
        description="SMTP server for order and stock emails. Unset: emails are written to "
        "the log instead.",
    )
    notification_smtp_port: int = Field(
        default=25, ge=1, le=65535, description="Port of the SMTP server."
    )
    notification_smtp_starttls: bool = Field(
        default=False, description="Whether to upgrade the SMTP connection with STARTTLS."
    )
    owner_email: str | None = Field(
        default=None,
        max_length=320,
        description="Where the shop owner's notifications (new order, low stock) go; unset: "
        "none are sent.",
    )
    low_stock_threshold: int = Field(
        default=5,
        ge=0,
        le=1_000_000,
        description="Available units at or below which a SKU counts as low on stock, for SKUs "
        "that start being tracked (each SKU keeps its own threshold, changeable with "
        "`PUT /api/admin/inventory/{product_id}`). Crossing it sends `inventory.low_stock` "
        "and the owner's low-stock email.",
    )
    webhook_timeout_seconds: float = Field(
        default=10,
        gt=0,
        le=60,
        description="How long one outbound webhook delivery may take (connect and answer) "
        "before it counts as failed and is retried.",
    )
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        le=30,
        description="Attempts per outbound webhook delivery before it is marked `failed`.",
    )
    webhook_retry_base_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="Wait before an outbound webhook's first retry; it doubles at each "
        "further attempt (with up to 20 % random jitter), capped at 6 hours.",
    )
    webhook_secret_grace_hours: float = Field(
        default=24,
        ge=0,
        le=720,
        description="After a webhook secret rotation, how long deliveries are signed with the "
        "previous secret too, so the receiver can switch without missing one.",
    )
    webhook_allow_private_urls: bool = Field(
        default=False,
        description="Allow webhook endpoints on plain http and on loopback or private "
        "addresses in production (refused there by default: a webhook URL must not reach "
        "into the shop's own network). Outside production they are always allowed.",
    )
    # Checkout sessions by API key (issue 22): where the shopper may be sent back to.
    allowed_redirect_hosts: str = Field(
        default="",
        description="Comma-separated hosts (`shop.example`) or host:port pairs "
        "(`127.0.0.1:5001`) that a checkout session's `success_url` and `cancel_url` may "
        "point at (http or https). Empty: no checkout session can be created. A host "
        "without a port allows the scheme's default port only.",
    )
    notification_from: str = Field(
        default="orders@tillpoint.invalid", description="Sender address of the shop's emails."
    )
    notification_templates_dir: Path | None = Field(
        default=None,
        description="Folder of email templates that override the built-in ones by file name "
        "(`order_confirmation.html`, `order_confirmation.txt`, `base.html`, …; see "
        "`tillpoint email preview`). Unset: the built-in templates.",
    )

    password_reset_ttl_seconds: int = Field(
        default=3600,
        ge=60,
        le=86400,
        description="How long a password-reset link works (seconds; 1 h). Each link works once.",
    )
    email_verification_ttl_seconds: int = Field(
        default=3 * 86400,
        ge=60,
        le=30 * 86400,
        description="How long an e-mail verification link works (seconds; 3 days).",
    )
    # Every request counts (not only failures): each one mails someone, so these limits
    # keep the shop from being used to flood an inbox or to probe for accounts.
    rate_limit_account_email: str = Field(
        default="3/hour",
        description="Password-reset and verification e-mails per address asked for, as "
        "`N/M unit`; more requests answer 429.",
    )
    rate_limit_account_email_per_address: str = Field(
        default="20/hour",
        description="Password-reset and verification requests per client IP address.",
    )

    @field_validator("shop_locale")
    @classmethod
    def _babel_locale(cls, value: str) -> str:
        if not known_locale(value):
            raise ValueError("not a locale Babel knows (such as en_US, de_DE, ja_JP)")
        return value.replace("-", "_")

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
        "rate_limit_login_per_address",
        "rate_limit_account_email",
        "rate_limit_account_email_per_address",
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
    def resolved_redirect_hosts(self) -> frozenset[str]:
        """``allowed_redirect_hosts`` as lower-case host or host:port entries."""
        return frozenset(
            h.strip().lower() for h in self.allowed_redirect_hosts.split(",") if h.strip()
        )

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
