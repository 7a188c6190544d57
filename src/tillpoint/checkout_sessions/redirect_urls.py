"""Where a checkout session may send the shopper: ``success_url`` and ``cancel_url`` must
be absolute http(s) URLs on a host the shop allowed (``TILLPOINT_ALLOWED_REDIRECT_HOSTS``).

Checked when the session is made, on the parsed URL, strictly: no user info (``http://
allowed@evil.example``), no backslashes or control characters (browsers read ``\\`` as
``/``), no scheme-relative ``//host``, no other scheme, and the port must be allowed too
(a bare host allows only its scheme's default port). Never an open redirect."""

from __future__ import annotations

from urllib.parse import urlsplit

from tillpoint.config import Settings
from tillpoint.errors import FieldError, InvalidInput

PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        message,
        code="redirect_host_not_allowed",
        fields=[FieldError((field,), "redirect_host_not_allowed", message)],
    )


def _allowed_authority(url: str) -> tuple[str, int] | None:
    """(host, port) of an absolute http(s) URL without user info; None otherwise."""
    if any(ch == "\\" or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return None
    return parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def check_redirect_url(settings: Settings, field: str, url: str) -> str:
    """``url`` if it may be redirected to; 422 ``redirect_host_not_allowed`` at ``field``."""
    allowed = settings.resolved_redirect_hosts
    if not allowed:
        raise _refuse(
            field,
            "No redirect hosts are allowed: set TILLPOINT_ALLOWED_REDIRECT_HOSTS to your "
            "shop's host before creating checkout sessions.",
        )
    authority = _allowed_authority(url)
    if authority is None:
        raise _refuse(field, "Use an absolute http(s) URL on one of the allowed hosts.")
    host, port = authority
    scheme = url.split(":", 1)[0].lower()
    bare_ok = port == _DEFAULT_PORTS[scheme] and host in allowed
    if not bare_ok and f"{host}:{port}" not in allowed:
        raise _refuse(field, f"{host}:{port} is not one of the allowed redirect hosts.")
    return url


def success_url_for(success_url: str, session_id: str) -> str:
    """Stripe's convention: ``{CHECKOUT_SESSION_ID}`` becomes the session's id."""
    return success_url.replace(PLACEHOLDER, session_id)
