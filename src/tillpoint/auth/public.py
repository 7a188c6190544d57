"""What auth offers the rest of tillpoint.

Accounts and sessions: sign-up and login, guest and registered sessions, their cookies and
tokens, the login throttle, the session context a request carries, and the two session
caches (modules with the same functions; the security middleware picks one per token).

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.auth import guest_session_cache, session_cache
from tillpoint.auth.cookies import REFRESH_COOKIE_PATH, cookie_names, read_cookies, repeated_names
from tillpoint.auth.guest_sessions import (
    delete_expired_sessions,
    resolve_guest_session,
    start_guest_session,
)
from tillpoint.auth.models import ADMIN, GuestSession, RegisteredSession, User
from tillpoint.auth.next_cart import move_sessions_to_next_cart
from tillpoint.auth.service import (
    Client,
    SignedIn,
    UserInfo,
    create_user,
    get_user,
    login,
    logout,
    logout_all,
    refresh,
    register,
)
from tillpoint.auth.session_context import SessionContext
from tillpoint.auth.sessions import (
    delete_expired_registered_sessions,
    is_registered_token,
    load_session,
    resolve_registered_session,
    session_context,
)
from tillpoint.auth.throttle import LoginThrottle, login_throttle_for
from tillpoint.auth.tokens import session_id_for

__all__ = [
    "ADMIN",
    "REFRESH_COOKIE_PATH",
    "Client",
    "GuestSession",
    "LoginThrottle",
    "RegisteredSession",
    "SessionContext",
    "SignedIn",
    "User",
    "UserInfo",
    "cookie_names",
    "create_user",
    "delete_expired_registered_sessions",
    "delete_expired_sessions",
    "get_user",
    "guest_session_cache",
    "is_registered_token",
    "load_session",
    "login",
    "login_throttle_for",
    "logout",
    "logout_all",
    "move_sessions_to_next_cart",
    "read_cookies",
    "refresh",
    "register",
    "repeated_names",
    "resolve_guest_session",
    "resolve_registered_session",
    "session_cache",
    "session_context",
    "session_id_for",
    "start_guest_session",
]
