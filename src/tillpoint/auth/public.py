"""What auth offers the rest of tillpoint.

Accounts and sessions: sign-up and login, guest and registered sessions, their cookies and
tokens, the login throttle, the session context a request carries, and the two session
caches (modules with the same functions; the security middleware picks one per token).

Other packages import this feature through this module only (checked by import-linter's
"public" contract and tests/unit/test_feature_boundaries.py)."""

from tillpoint.auth import guest_session_cache, session_cache
from tillpoint.auth.account_tokens import delete_stale_account_tokens
from tillpoint.auth.address_book import (
    SavedAddressInfo,
    add_address,
    delete_address,
    list_addresses,
)
from tillpoint.auth.cookies import REFRESH_COOKIE_PATH, cookie_names, read_cookies, repeated_names
from tillpoint.auth.guest_sessions import (
    delete_expired_sessions,
    resolve_guest_session,
    start_guest_session,
)
from tillpoint.auth.mail_throttle import AccountMailThrottle, account_mail_throttle_for
from tillpoint.auth.models import ADMIN, GuestSession, RegisteredSession, User
from tillpoint.auth.next_cart import move_sessions_to_next_cart
from tillpoint.auth.password_reset import confirm_password_reset, request_password_reset
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
from tillpoint.auth.verification import resend_verification, verify_email

__all__ = [
    "ADMIN",
    "REFRESH_COOKIE_PATH",
    "AccountMailThrottle",
    "Client",
    "GuestSession",
    "LoginThrottle",
    "RegisteredSession",
    "SavedAddressInfo",
    "SessionContext",
    "SignedIn",
    "User",
    "UserInfo",
    "account_mail_throttle_for",
    "add_address",
    "confirm_password_reset",
    "cookie_names",
    "create_user",
    "delete_address",
    "delete_expired_registered_sessions",
    "delete_expired_sessions",
    "delete_stale_account_tokens",
    "get_user",
    "guest_session_cache",
    "is_registered_token",
    "list_addresses",
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
    "request_password_reset",
    "resend_verification",
    "resolve_guest_session",
    "resolve_registered_session",
    "session_cache",
    "session_context",
    "session_id_for",
    "start_guest_session",
    "verify_email",
]
