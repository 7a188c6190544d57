"""Emails from Jinja2 templates: a subject, a plain-text part and an HTML part per kind.

Templates are looked up first in ``notification_templates_dir`` (a shop overrides any
file by giving one of the same name there), then in the package's ``templates/``. HTML
templates autoescape; text templates do not. Amounts go through ``money``, which formats
minor units in the email's currency for the shop's locale with Babel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from tillpoint.config import Settings
from tillpoint.mail.kinds import EmailData, RenderedEmail
from tillpoint.money_format import format_money

_DEV_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class ShopIdentity:
    """Who the email is from, as every template's header and footer show it."""

    name: str
    address_lines: tuple[str, ...]
    base_url: str


def shop_identity(settings: Settings) -> ShopIdentity:
    raw = settings.shop_address.replace("\\n", "\n")
    sep = "\n" if "\n" in raw else ","
    lines = tuple(part.strip() for part in raw.split(sep) if part.strip())
    return ShopIdentity(settings.shop_name, lines, shop_base_url(settings))


def shop_base_url(settings: Settings) -> str:
    """The public address links in emails start with (a local one in development)."""
    return settings.public_base_url or _DEV_BASE_URL


def absolute_url(settings: Settings, path: str) -> str:
    """``/orders/ord_…?token=…`` → ``https://shop.example/orders/ord_…?token=…``."""
    return shop_base_url(settings) + path


@functools.lru_cache(maxsize=8)
def _environment(override_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if override_dir:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.PackageLoader("tillpoint.mail", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # Only the HTML parts escape: a product called "<b>" must read so in the text part.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,  # a template naming a missing field fails loudly
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def environment(settings: Settings) -> jinja2.Environment:
    folder = settings.notification_templates_dir
    return _environment(str(folder) if folder else None)


def render_email(
    data: EmailData, settings: Settings, *, locale: str | None = None
) -> RenderedEmail:
    """Render ``data`` (its class names the kind) for the shop in ``settings``; amounts
    in ``locale`` (default: the shop's ``shop_locale``)."""
    env = environment(settings)
    used_locale = locale or settings.shop_locale
    currency: str | None = getattr(data, "currency", None)

    def money(amount: int, code: str | None = None) -> str:
        chosen = code or currency
        if chosen is None:
            raise ValueError("this email has no currency")
        return format_money(amount, chosen, used_locale)

    context: dict[str, Any] = {
        "email": data,
        "shop": shop_identity(settings),
        "money": money,
        "locale": used_locale,
        "duration": _duration,
    }
    kind = data.kind.value
    subject = env.get_template(f"{kind}.subject.txt").render(context)
    return RenderedEmail(
        kind=data.kind,
        # One line (a header cannot hold a newline); a no-break space in "25,00 €" stays.
        subject=" ".join(part.strip() for part in subject.splitlines() if part.strip()),
        text=env.get_template(f"{kind}.txt").render(context),
        html=env.get_template(f"{kind}.html").render(context),
    )


def _duration(minutes: int) -> str:
    """``30`` → ``30 minutes``; ``1440`` → ``24 hours`` (whole hours from two on)."""
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


def template_names() -> list[str]:
    """The built-in template files (what a shop may override by name)."""
    folder = Path(__file__).parent / "templates"
    return sorted(p.name for p in folder.iterdir() if p.is_file())
