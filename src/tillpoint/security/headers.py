"""The security headers every response carries, built once from settings.

The Content-Security-Policy allows exactly what the checkout page needs: our own
scripts, styles and API, and Stripe.js (its origin is a setting, so the offline
stand-in works too) with the frames and API calls it makes. Nothing inline, no
framing of our pages. The interactive API docs get a looser policy of their own
because Swagger UI and ReDoc boot with an inline script and inline styles (their files
are ours, served from the package: no other origin is allowed).

Caching is refused by default: every answer that does not set its own ``Cache-Control``
gets ``no-store``, so a personal or authenticated answer (a cart, an order, the caller's
account, an admin list, an error that echoes any of them) is never kept by a browser or a
shared cache, whichever route forgets to say so. Only the public catalog (the catalog page,
the product pages and ``/api/products``) is marked ``no-cache``: any cache may keep it,
revalidating each time.
"""

from __future__ import annotations

from dataclasses import dataclass

from tillpoint.config import Settings

STRIPE_JS = "https://js.stripe.com"
DOCS_PATHS = ("/docs", "/redoc")
PUBLIC_PATHS = frozenset({"/", "/api/products"})
PUBLIC_PREFIXES = ("/api/products/", "/products/")
# Never public, whatever a public rule above may come to match: the shopper's account and
# the owner's dashboard (its assets under /admin/static set their own ``no-cache``).
PRIVATE_PREFIXES = ("/account", "/admin", "/api/admin/")


def _stripe_sources(js_origin: str) -> tuple[list[str], list[str], list[str]]:
    """(script-src, frame-src, connect-src) additions for Stripe.js at ``js_origin``."""
    origin = js_origin.rstrip("/")
    if origin == STRIPE_JS:
        return (
            [STRIPE_JS, "https://*.js.stripe.com"],
            [STRIPE_JS, "https://*.js.stripe.com", "https://hooks.stripe.com"],
            ["https://api.stripe.com"],
        )
    # A stand-in (localstripe) serves its script, frames and API from one origin.
    return [origin], [origin], [origin]


def content_security_policy(settings: Settings) -> str:
    """The strict policy for the API and the pages."""
    scripts, frames, connects = _stripe_sources(settings.stripe_js_origin)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *scripts],
        "style-src": ["'self'"],
        # Product images live on the shop's own or an image host (``image_origins``).
        "img-src": [*dict.fromkeys(["'self'", *settings.image_origins.split(), "data:"])],
        "font-src": ["'self'"],
        "connect-src": ["'self'", *connects],
        "frame-src": frames,
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def docs_content_security_policy() -> str:
    """Swagger UI / ReDoc: their inline boot script and styles, ReDoc's blob: worker;
    still only our own origin, never framed."""
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


@dataclass(frozen=True, slots=True)
class SecurityHeaders:
    """Header lists ready for ASGI: one for everything, one for the public catalog, one
    for the docs pages."""

    default: tuple[tuple[bytes, bytes], ...]
    public: tuple[tuple[bytes, bytes], ...]
    docs: tuple[tuple[bytes, bytes], ...]

    def for_path(self, path: str) -> tuple[tuple[bytes, bytes], ...]:
        if path.startswith(DOCS_PATHS):
            return self.docs
        if path.startswith(PRIVATE_PREFIXES):
            return self.default
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return self.public
        return self.default


def security_headers(settings: Settings) -> SecurityHeaders:
    """Build both header sets. HSTS only where cookies are Secure (not local http dev)."""
    common = [
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        (
            "Permissions-Policy",
            "payment=(self), camera=(), microphone=(), geolocation=(), usb=()",
        ),
    ]
    if settings.cookies_secure and settings.hsts_max_age_seconds > 0:
        common.append(
            (
                "Strict-Transport-Security",
                f"max-age={settings.hsts_max_age_seconds}; includeSubDomains",
            )
        )

    def encode(csp: str, cache: str = "no-store") -> tuple[tuple[bytes, bytes], ...]:
        pairs = [*common, ("Content-Security-Policy", csp), ("Cache-Control", cache)]
        return tuple((k.lower().encode(), v.encode()) for k, v in pairs)

    csp = content_security_policy(settings)
    return SecurityHeaders(
        default=encode(csp),
        public=encode(csp, "no-cache"),
        docs=encode(docs_content_security_policy()),
    )
