"""checkout's statements that differ between PostgreSQL and SQLite (the service carries
no dialect branch): noting a checkout on the caller's session row, and the sweep's claim
of an expiring checkout."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, String, bindparam, case, func, literal_column, update
from sqlalchemy.ext.asyncio import AsyncSession

from tillpoint.auth.public import GuestSession, RegisteredSession
from tillpoint.checkout.models import Checkout


def _with_checkout_id(column: Any, pg: bool) -> Any:
    """``column`` (a session's ``checkout_data``) with ``checkout_id`` set to the bound
    ``checkout_id``; anything but a JSON object (NULL, JSON null) counts as empty."""
    if pg:
        data = case(
            (func.jsonb_typeof(column) == "object", column), else_=literal_column("'{}'::jsonb")
        )
        return data.op("||")(
            func.jsonb_build_object("checkout_id", bindparam("checkout_id", type_=String()))
        )
    data = case((func.json_type(column) == "object", column), else_=literal_column("'{}'"))
    return func.json_set(data, "$.checkout_id", bindparam("checkout_id", type_=String()))


def _remember_statement(model: type[GuestSession] | type[RegisteredSession], pg: bool) -> Any:
    return (
        update(model)
        .where(model.id == bindparam("session_id"))
        .values(checkout_data=_with_checkout_id(model.__table__.c.checkout_data, pg))
    )


# (guest first?, PostgreSQL?) -> the two UPDATEs in the order to try them.
_REMEMBER = {
    (guest, pg): tuple(
        _remember_statement(model, pg)
        for model in (
            (GuestSession, RegisteredSession) if guest else (RegisteredSession, GuestSession)
        )
    )
    for guest in (True, False)
    for pg in (True, False)
}


def remember_checkout_statements(s: AsyncSession, *, guest: bool) -> tuple[Any, ...]:
    """The two UPDATEs that note a checkout on a session row, the likelier table first."""
    return _REMEMBER[(guest, s.get_bind().dialect.name == "postgresql")]


def claim_expiring(s: AsyncSession, query: Select[Checkout]) -> Select[Checkout]:
    """The sweep's SELECT of one expiring checkout, claiming it: ``FOR UPDATE SKIP LOCKED``
    on PostgreSQL, so a request or another sweeper holding it is skipped, not waited for."""
    if s.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query
