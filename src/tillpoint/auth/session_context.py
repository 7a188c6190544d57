"""Who is calling: what every handler gets of the caller's session, guest or registered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SessionContext:
    """Who is calling: the session, its cart, and the user once logged in."""

    session_id: str
    cart_id: str
    expires_at: datetime
    user_id: str | None = None
    role: str | None = None

    @property
    def is_guest(self) -> bool:
        return self.user_id is None
