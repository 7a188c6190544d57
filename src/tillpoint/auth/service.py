"""Accounts: register, log in, log out (one session or all), refresh, who am I.

Login and register turn the caller's guest session into a registered one: the guest
cart is merged into the user's cart (or adopted when the user has none), the guest's
checkout data moves to the new session, the guest session row is deleted, and the new
session gets a new id (no fixation). Failures of login never say whether the email
exists: the same 401 ``invalid_credentials``, after the same argon2 work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.audit.service import Actor, AuditEvent, record
from tillpoint.auth import guest_session_cache as guest_cache
from tillpoint.auth import sessions
from tillpoint.auth.emails import email_fingerprint, normalize_email
from tillpoint.auth.models import CUSTOMER, ROLES, GuestSession, RegisteredSession, User
from tillpoint.auth.passwords import check_password_policy, hash_password, verify_password
from tillpoint.auth.session_cache import LiveSession
from tillpoint.auth.session_context import SessionContext
from tillpoint.auth.throttle import ADDRESS_KEY, LoginThrottle
from tillpoint.auth.tokens import issue_access_token, session_id_for
from tillpoint.auth.verification import queue_verification
from tillpoint.cart import public as cart_public
from tillpoint.cart.public import (
    ACTIVE,
    Cart,
    CouponRevalidator,
    MergeReport,
    create_cart,
    holds_locked_lines,
    lock_cart,
    merge_carts,
    revalidate_applied_coupons,
)
from tillpoint.errors import Conflict, InvalidInput, RateLimited, Unauthorized
from tillpoint.ids import new_id
from tillpoint.runtime import Runtime
from tillpoint.security.attempts import Attempt

INVALID_CREDENTIALS = "Email or password is incorrect."


class CheckoutAdopter(Protocol):
    """Inside the sign-in's unit of work: the guest session's live checkouts follow it to
    the new session, and to ``to_cart_id`` when the guest cart was merged there. The
    checkout feature's ``adopt_checkouts``; the caller passes it, as checkouts sit above
    accounts."""

    async def __call__(
        self,
        s: AsyncSession,
        *,
        old_session_id: str,
        new_session_id: str,
        user_id: str | None,
        from_cart_id: str | None = None,
        to_cart_id: str | None = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request comes from, and the session it arrived with (if any)."""

    ip_address: str | None = None
    user_agent: str | None = None
    session_token: str | None = None

    def actor(self, *, session_id: str | None = None, user_id: str | None = None) -> Actor:
        return Actor(
            session_id=session_id,
            user_id=user_id,
            ip_address=self.ip_address,
            user_agent=self.user_agent,
        )


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: str
    email: str
    role: str
    created_at: datetime | None
    email_verified: bool = False


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new registered session and everything the response must set."""

    user: UserInfo
    session_token: str
    refresh_token: str
    access_token: str
    access_expires_at: datetime
    context: SessionContext
    merge: MergeReport | None
    changed_carts: tuple[str, ...] = ()  # to drop from the cart cache once committed


def _info(user: User) -> UserInfo:
    return UserInfo(
        id=user.id,
        email=user.email,
        role=user.role,
        created_at=user.created_at,
        email_verified=user.email_verified_at is not None,
    )


# --- users ---------------------------------------------------------------------------------


async def create_user(rt: Runtime, *, email: str, password: str, role: str = CUSTOMER) -> UserInfo:
    """Create an account (the CLI's create-admin, fixtures). 422 on a bad email or weak
    password, 409 ``email_unavailable`` if the address already has an account."""
    if role not in ROLES:
        raise InvalidInput(f"Role must be one of {', '.join(ROLES)}.", code="invalid_role")
    normalized = normalize_email(email)
    check_password_policy(rt.settings, password, email=normalized)
    password_hash = await hash_password(rt.settings, password)
    async with rt.db.transaction() as s:
        user = await _insert_user(s, normalized, password_hash, role)
        await record(
            s,
            AuditEvent("user_created", "user", user.id, "create", {"role": role}),
            Actor(user_id=user.id),
            rt.clock.now(),
        )
        return _info(user)


async def _insert_user(s: AsyncSession, email: str, password_hash: str, role: str) -> User:
    if await s.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("This email cannot be used to register.", code="email_unavailable")
    user = User(id=new_id("user"), email=email, password_hash=password_hash, role=role)
    s.add(user)
    await s.flush()
    return user


async def get_user(rt: Runtime, user_id: str) -> UserInfo | None:
    """The account ``user_id``, or None."""
    async with rt.db.transaction() as s:
        user = await s.get(User, user_id)
        return _info(user) if user is not None else None


# --- register and login ---------------------------------------------------------------------


def _throttle_keys(email_key: str, ip: str | None) -> list[str]:
    keys = [f"acct:{email_fingerprint(email_key)}"]
    if ip:
        keys.append(f"{ADDRESS_KEY}{ip}")
    return keys


async def _admit(rt: Runtime, throttle: LoginThrottle, keys: list[str]) -> Attempt:
    """A slot on every key for one password check, or 429 ``login_blocked``."""
    attempt = await throttle.begin(keys, rt.clock.now())
    if not attempt.admitted:
        message = (
            "Too many failed logins; try again later."
            if attempt.blocked
            else "Too many login attempts at once; try again in a moment."
        )
        raise RateLimited(
            message,
            code="login_blocked",
            retry_after=attempt.retry_after,
            details={"retry_after": attempt.retry_after},
        )
    return attempt


async def register(
    rt: Runtime,
    throttle: LoginThrottle,
    *,
    email: str,
    password: str,
    client: Client,
    adopt: CheckoutAdopter,
    revalidate: CouponRevalidator = revalidate_applied_coupons,
) -> SignedIn:
    """Create a customer account and log it in, merging the caller's guest cart; a
    verification link is mailed (through the outbox) with the account's commit.

    422 for a bad email or weak password; 409 ``email_unavailable`` if taken (which also
    counts as a failed attempt from this IP, to slow down probing for accounts).
    """
    normalized = normalize_email(email)
    check_password_policy(rt.settings, password, email=normalized)
    attempt = await _admit(rt, throttle, _throttle_keys(normalized, client.ip_address)[1:])
    try:
        password_hash = await hash_password(rt.settings, password)
        async with rt.db.transaction() as s:
            user = await _insert_user(s, normalized, password_hash, CUSTOMER)
            await queue_verification(rt, s, user_id=user.id, email=normalized, now=rt.clock.now())
            signed = await _sign_in(rt, s, user, client, revalidate, adopt)
            # After the sign-in's cart and session locks: the audit head is the last lock.
            await record(
                s,
                AuditEvent("user_registered", "user", user.id, "register", {}),
                client.actor(user_id=user.id),
                rt.clock.now(),
            )
    except Conflict:
        await throttle.failed(attempt, rt.clock.now())
        raise
    except BaseException:
        await throttle.release(attempt)
        raise
    await throttle.release(attempt)
    await _after_sign_in(rt, client, signed)
    return signed


async def login(
    rt: Runtime,
    throttle: LoginThrottle,
    *,
    email: str,
    password: str,
    client: Client,
    adopt: CheckoutAdopter,
    revalidate: CouponRevalidator = revalidate_applied_coupons,
) -> SignedIn:
    """Check the credentials and open a registered session, merging the guest cart.

    401 ``invalid_credentials`` for an unknown email and a wrong password alike;
    429 ``login_blocked`` (with ``retry_after``) once the account or the IP has failed
    as often as ``rate_limit_login`` allows, for ``rate_limit_login_block_seconds``.
    """
    try:
        email_key = normalize_email(email)
    except InvalidInput:
        email_key = email.strip().lower()  # cannot exist; fail like any unknown email
    keys = _throttle_keys(email_key, client.ip_address)
    attempt = await _admit(rt, throttle, keys)
    try:
        async with rt.db.transaction() as s:
            user = await s.scalar(select(User).where(User.email == email_key))
        stored = user.password_hash if user is not None and user.is_active else None
        checked = await verify_password(rt.settings, stored, password)
    except BaseException:  # never got to an answer: the slot goes back
        await throttle.release(attempt)
        raise
    if user is None or stored is None or not checked.ok:
        await _failed_login(rt, throttle, attempt, user, email_key, client)
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    await throttle.release(attempt, forget=keys[:1])
    new_hash = await hash_password(rt.settings, password) if checked.needs_rehash else None
    async with rt.db.transaction() as s:
        fresh = await s.get(User, user.id, populate_existing=True)
        if fresh is None:  # deleted in between
            raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
        if new_hash is not None:
            fresh.password_hash = new_hash
        signed = await _sign_in(rt, s, fresh, client, revalidate, adopt)
    await _after_sign_in(rt, client, signed)
    return signed


async def _failed_login(
    rt: Runtime,
    throttle: LoginThrottle,
    attempt: Attempt,
    user: User | None,
    email_key: str,
    client: Client,
) -> None:
    now = rt.clock.now()
    blocked = await throttle.failed(attempt, now)
    entity = user.id if user is not None else "unknown"
    meta: dict[str, Any] = {
        "email_sha256": email_fingerprint(email_key),
        "reason": "unknown_email" if user is None else "wrong_password",
    }
    async with rt.db.transaction() as s:
        await record(
            s,
            AuditEvent("login_failed", "user", entity, "login", meta),
            client.actor(user_id=user.id if user else None),
            now,
        )
        for key in blocked:
            await record(
                s,
                AuditEvent(
                    "lockout",
                    "user",
                    entity,
                    "block",
                    {
                        "key": key.split(":", 1)[0],
                        "email_sha256": meta["email_sha256"],
                        "seconds": rt.settings.rate_limit_login_block_seconds,
                    },
                ),
                client.actor(user_id=user.id if user else None),
                now,
            )


async def _sign_in(
    rt: Runtime,
    s: AsyncSession,
    user: User,
    client: Client,
    revalidate: CouponRevalidator,
    adopt: CheckoutAdopter,
) -> SignedIn:
    """Inside ``s``: retire the caller's session, settle the cart, open a registered session."""
    now = rt.clock.now()
    # The user's row first: audit rows (a new cart's, the login's) come after every lock.
    user.last_login_at = now
    await s.flush()
    guest = await _current_guest(s, client.session_token, now)
    if client.session_token and sessions.is_registered_token(client.session_token):
        await sessions.revoke_session(rt, s, session_id_for(client.session_token), "replaced")
    cart_id, merge = await _settle_cart(rt, s, user, guest, revalidate)
    opened = await sessions.open_session(
        rt,
        s,
        user=user,
        cart_id=cart_id,
        ip_address=client.ip_address,
        user_agent=client.user_agent,
        checkout_data=carry_over_checkout(guest),
    )
    if guest is not None:
        await adopt(
            s,
            old_session_id=guest.id,
            new_session_id=opened.live.session_id,
            user_id=user.id,
            from_cart_id=guest.cart_id,
            to_cart_id=cart_id,
        )
        # A statement, not ORM delete: a concurrent login of the same guest may have won.
        await s.execute(delete(GuestSession).where(GuestSession.id == guest.id))
    actor = client.actor(session_id=opened.live.session_id, user_id=user.id)
    await record(s, AuditEvent("login_succeeded", "user", user.id, "login", {}), actor, now)
    if merge is not None:
        await record(
            s, AuditEvent("cart_merged", "cart", cart_id, "merge", merge.as_dict()), actor, now
        )
    signed = _signed_in(rt, user, opened.token, opened.refresh_token, opened.live, merge)
    changed = (cart_id,) + ((guest.cart_id,) if guest is not None else ())
    return dataclasses.replace(signed, changed_carts=changed)


async def _after_sign_in(rt: Runtime, client: Client, signed: SignedIn) -> None:
    """After the unit of work: drop the carts it changed from the cache, and make the
    replaced registered session read as revoked."""
    await cart_public.invalidate(rt, *signed.changed_carts)
    if client.session_token and sessions.is_registered_token(client.session_token):
        await sessions.publish_revocation(rt, session_id_for(client.session_token))
    elif client.session_token:  # the guest row was deleted: no cached copy may open it
        await guest_cache.mark_gone(rt, session_id_for(client.session_token))


def _signed_in(
    rt: Runtime,
    user: User,
    token: str,
    refresh: str,
    live: LiveSession,
    merge: MergeReport | None,
) -> SignedIn:
    access, access_expires = issue_access_token(
        rt.settings.resolved_secret_key,
        user_id=user.id,
        session_id=live.session_id,
        role=user.role,
        now=rt.clock.now(),
        ttl_seconds=rt.settings.access_token_ttl_seconds,
    )
    return SignedIn(
        user=_info(user),
        session_token=token,
        refresh_token=refresh,
        access_token=access,
        access_expires_at=access_expires,
        context=sessions.session_context(live),
        merge=merge,
    )


async def _current_guest(s: AsyncSession, token: str | None, now: datetime) -> GuestSession | None:
    if not token or sessions.is_registered_token(token) or len(token) > 128:
        return None
    guest = await s.get(GuestSession, session_id_for(token))
    return guest if guest is not None and guest.expires_at > now else None


async def _settle_cart(
    rt: Runtime,
    s: AsyncSession,
    user: User,
    guest: GuestSession | None,
    revalidate: CouponRevalidator,
) -> tuple[str, MergeReport | None]:
    """The user's cart after login: theirs with the guest's merged in, the guest's adopted
    when they have none, or a new empty one. A cart a payment in flight holds is merged
    into nothing and takes nothing in: if it is the user's, the guest's cart is adopted."""
    owned = await s.scalar(
        select(Cart.id)
        .where(Cart.user_id == user.id, Cart.status == ACTIVE)
        .order_by(Cart.created_at.desc(), Cart.id)
        .limit(1)
    )
    guest_cart = await s.get(Cart, guest.cart_id) if guest is not None else None
    if owned is None:
        adopted = await _adopt(s, guest_cart, user) if guest_cart is not None else None
        return adopted or (await create_cart(rt, s, user_id=user.id)).id, None
    if guest_cart is None or (not guest_cart.items and not guest_cart.coupons):
        return owned, None
    if holds_locked_lines(guest_cart):  # a checkout session's cart goes on as it is
        return await _adopt(s, guest_cart, user) or owned, None
    # merge_carts locks both carts in id order and re-checks that both are still active.
    report = await merge_carts(
        rt, s, source_id=guest_cart.id, target_id=owned, revalidate=revalidate
    )
    if report.held_cart == owned:  # being paid for on another device: keep the guest's lines
        return await _adopt(s, guest_cart, user) or owned, None
    return owned, None if report.held_cart else report


async def _adopt(s: AsyncSession, cart: Cart, user: User) -> str | None:
    """The guest's cart becomes the user's (its id), unless it is closed or someone else's."""
    adopted = await lock_cart(s, cart.id)
    if adopted.status != ACTIVE or adopted.user_id not in (None, user.id):
        return None
    adopted.user_id = user.id
    adopted.version += 1
    await s.flush()
    return adopted.id


def carry_over_checkout(guest: GuestSession | None) -> dict[str, Any] | None:
    """The checkout data a guest session hands to the registered session. (Checkout rows
    follow through the :class:`CheckoutAdopter`.)"""
    return dict(guest.checkout_data) if guest is not None and guest.checkout_data else None


# --- refresh and logout -----------------------------------------------------------------------


async def refresh(
    rt: Runtime, *, session_token: str, refresh_token: str, client: Client
) -> SignedIn:
    """Rotate the refresh token and issue a new access token (see
    :func:`tillpoint.auth.sessions.rotate_refresh_token` for the 401 codes)."""
    rotation = await sessions.rotate_refresh_token(
        rt, session_token=session_token, presented=refresh_token, actor=client.actor()
    )
    async with rt.db.transaction() as s:
        user = await s.get(User, rotation.live.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Your session has ended; log in again.", code="session_expired")
    return _signed_in(rt, user, session_token, rotation.refresh_token, rotation.live, None)


async def logout(rt: Runtime, *, session_token: str, client: Client) -> bool:
    """End the registered session the cookie token opens; False if it was not one."""
    if not sessions.is_registered_token(session_token):
        return False
    sid = session_id_for(session_token)
    async with rt.db.transaction() as s:
        await sessions.revoke_session(rt, s, sid, "logout")
        live_user = await s.scalar(
            select(User.id)
            .join(RegisteredSession, RegisteredSession.user_id == User.id)
            .where(RegisteredSession.id == sid)
        )
        if live_user is not None:
            await record(
                s,
                AuditEvent("logout", "user", live_user, "logout", {}),
                client.actor(session_id=sid, user_id=live_user),
                rt.clock.now(),
            )
    await sessions.publish_revocation(rt, sid)
    return True


async def logout_all(rt: Runtime, *, user_id: str, client: Client) -> int:
    """End every session of ``user_id`` (this one included); returns how many."""
    async with rt.db.transaction() as s:
        ids = await sessions.revoke_user_sessions(rt, s, user_id, "logout_all")
        await record(
            s,
            AuditEvent("logout_all", "user", user_id, "logout", {"sessions": len(ids)}),
            client.actor(user_id=user_id),
            rt.clock.now(),
        )
    await sessions.publish_revocation(rt, *ids)
    return len(ids)
