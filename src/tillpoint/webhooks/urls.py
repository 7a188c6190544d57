"""Which endpoint URLs may receive webhooks. A webhook URL is typed by an admin but
fetched by the server, so in production it must not point into the shop's own network
(SSRF): https only, and no loopback, private, link-local or reserved address, unless
``webhook_allow_private_urls``. Elsewhere loopback and http are fine (tests, a laptop)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from tillpoint.config import Mode, Settings
from tillpoint.errors import FieldError, InvalidInput


def _refuse(message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, fields=[FieldError(("url",), code, message)])


def _strict(settings: Settings) -> bool:
    return settings.mode is Mode.production and not settings.webhook_allow_private_urls


def check_url_shape(settings: Settings, url: str) -> None:
    """Refuse (422) a URL that is not absolute http(s), or plain http under the strict
    production rule."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse("The URL must be an absolute http(s) URL.", "invalid_webhook_url")
    if parts.username or parts.password:
        raise _refuse("The URL may not carry a user or password.", "invalid_webhook_url")
    if _strict(settings) and parts.scheme != "https":
        raise _refuse("Webhook URLs must use https in production.", "webhook_url_not_https")


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


async def check_url_target(settings: Settings, url: str) -> None:
    """Under the strict production rule, refuse (422 ``webhook_url_private``) a URL whose
    host is or resolves to a non-public address (every address it resolves to counts)."""
    if not _strict(settings):
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise _refuse("The URL's host does not resolve.", "webhook_url_unresolvable") from None
    if any(_is_internal(str(info[4][0])) for info in infos):
        raise _refuse("The URL points at a private or loopback address.", "webhook_url_private")


async def check_url(settings: Settings, url: str) -> None:
    """Both checks: what an endpoint's URL must pass when it is set and before each POST."""
    check_url_shape(settings, url)
    await check_url_target(settings, url)
