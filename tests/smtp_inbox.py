"""A real SMTP server on loopback (aiosmtpd) for the e-mail tests. The ``smtp_port`` and
``inbox`` fixtures (tests/conftest.py) run one; a test points ``notification_smtp_host`` and
``notification_smtp_port`` at it and reads what arrived from ``inbox``."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.received.append((envelope.mail_from or "", list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        out = []
        for _, _, raw in self.received:
            parsed = message_from_bytes(raw, policy=default_policy)
            assert isinstance(parsed, EmailMessage)
            out.append(parsed)
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
