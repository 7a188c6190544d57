"""The account e-mails: password reset and e-mail verification.

Each is the shop's e-mail template of its kind (``tillpoint.mail``: text and HTML, a
shop may override them) queued in the caller's unit of work. Links point at the shop's
public address (``public_base_url``), never at a request's ``Host`` header, so nobody can
make the shop mail a reset link to their own host.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.config import Settings
from tillpoint.mail.kinds import EmailVerification, PasswordReset
from tillpoint.mail.render import absolute_url
from tillpoint.mail.send import queue_email


def account_link(settings: Settings, path: str, token: str) -> str:
    """An absolute link to ``path`` carrying ``token``."""
    return absolute_url(settings, f"{path}?token={quote(token, safe='')}")


def queue_password_reset_email(
    s: AsyncSession, settings: Settings, *, token: str, token_id: str, to: str, now: datetime
) -> None:
    """Queue the mail with a link to ``/account/reset`` that sets a new password."""
    link = account_link(settings, "/account/reset", token)
    data = PasswordReset(reset_url=link, expires_minutes=settings.password_reset_ttl_seconds // 60)
    queue_email(
        s, settings, data, recipient=to, dedupe_key=f"password_reset:{token_id[:32]}",
        refs={"link": link}, now=now,
    )  # fmt: skip


def queue_verification_email(
    s: AsyncSession, settings: Settings, *, token: str, to: str, now: datetime
) -> None:
    """Queue the mail with a link to ``/account/verify`` that confirms the address."""
    link = account_link(settings, "/account/verify", token)
    minutes = settings.email_verification_ttl_seconds // 60
    data = EmailVerification(verify_url=link, expires_minutes=minutes)
    queue_email(
        s, settings, data, recipient=to, dedupe_key=f"verify_email:{token[:16]}",
        refs={"link": link}, now=now,
    )  # fmt: skip
