"""The account e-mails: password reset and e-mail verification, one function per kind.

Plain text and a small HTML part each. Links point at the shop's public address
(``public_base_url``), never at a request's ``Host`` header, so nobody can make the shop
mail a reset link to their own host. These bodies are meant to be swapped for the shop's
e-mail templates; each returns an :class:`AccountEmail` so the swap touches one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from tillpoint.config import Settings

# Where links point when no public address is configured (local development and tests).
LOCAL_BASE_URL = "http://localhost:8000"


@dataclass(frozen=True, slots=True)
class AccountEmail:
    subject: str
    text: str
    html: str
    link: str


def account_link(settings: Settings, path: str, token: str) -> str:
    """An absolute link to ``path`` carrying ``token``."""
    base = settings.public_base_url or LOCAL_BASE_URL
    return f"{base}{path}?token={quote(token, safe='')}"


def _html(heading: str, intro: str, link: str, button: str, outro: str) -> str:
    href = escape(link, quote=True)
    return (
        '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">'
        f'<h1 style="font-size:20px">{escape(heading)}</h1><p>{escape(intro)}</p>'
        f'<p><a href="{href}" style="display:inline-block;padding:10px 16px;'
        f'background:#1d4ed8;color:#fff;text-decoration:none;border-radius:4px">'
        f"{escape(button)}</a></p><p>Or paste this address into your browser:<br>{escape(link)}</p>"
        f"<p>{escape(outro)}</p></body></html>"
    )


def password_reset_email(settings: Settings, token: str) -> AccountEmail:
    """The mail with a link to ``/account/reset`` that sets a new password."""
    link = account_link(settings, "/account/reset", token)
    minutes = settings.password_reset_ttl_seconds // 60
    intro = (
        "Someone asked to reset the password of your tillpoint account. If it was you, "
        f"choose a new password with the link below. It works once, for {minutes} minutes."
    )
    outro = "If you did not ask for this, ignore this e-mail: your password stays as it is."
    text = f"Reset your password\n\n{intro}\n\n{link}\n\n{outro}\n"
    return AccountEmail(
        subject="Reset your tillpoint password",
        text=text,
        html=_html("Reset your password", intro, link, "Choose a new password", outro),
        link=link,
    )


def verification_email(settings: Settings, token: str) -> AccountEmail:
    """The mail with a link to ``/account/verify`` that confirms the address."""
    link = account_link(settings, "/account/verify", token)
    intro = "Please confirm that this is your e-mail address by following the link below."
    outro = "If you did not create a tillpoint account, ignore this e-mail."
    text = f"Confirm your e-mail address\n\n{intro}\n\n{link}\n\n{outro}\n"
    return AccountEmail(
        subject="Confirm your e-mail address",
        text=text,
        html=_html("Confirm your e-mail address", intro, link, "Confirm my address", outro),
        link=link,
    )
