"""What the server logs when a checkout fails carries no personal data: the real log
output (the root JSON handler, its filter and formatter) of a real storage fault during a
guest checkout holds neither the guest's e-mail, names, phone and address nor a card."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.api.test_checkout import fill_cart, send, start
from tests.support import Api, error_code
from tillpoint.logs import JsonFormatter
from tillpoint.runtime import Runtime

PERSON = {
    "email": "grace.quillfeather@example.org",
    "first_name": "Gracewina",
    "last_name": "Quillfeather",
    "phone": "+44 20 7946 0958",
}
ADDRESS = {
    "first_name": "Gracewina",
    "last_name": "Quillfeather",
    "street1": "17 Marrowbone Lane",
    "street2": "Flat 3",
    "city": "wexbridge",  # standardised to upper case: a suggestion
    "state": "NY",
    "zip_code": "10118",
    "country": "US",
    "phone": "+44 20 7946 0958",
}
SECRETS = [
    "grace.quillfeather",
    "Gracewina",
    "Quillfeather",
    "7946 0958",
    "2079460958",  # the phone as normalised (E.164)
    "Marrowbone",
    "Flat 3",
    "Wexbridge",
]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The app's own log handler, writing into a buffer for the test."""
    handler = next(
        h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)
    )
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


_PG_FAULT = [
    "CREATE FUNCTION tp_test_fault() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'simulated storage fault'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER tp_test_fault BEFORE UPDATE ON checkouts "
    "FOR EACH ROW EXECUTE FUNCTION tp_test_fault()",
]
_PG_CLEAR = [
    "DROP TRIGGER IF EXISTS tp_test_fault ON checkouts",
    "DROP FUNCTION IF EXISTS tp_test_fault()",
]
_SQLITE_FAULT = [
    "CREATE TRIGGER tp_test_fault BEFORE UPDATE ON checkouts "
    "BEGIN SELECT RAISE(ABORT, 'simulated storage fault'); END",
]
_SQLITE_CLEAR = ["DROP TRIGGER IF EXISTS tp_test_fault"]


@pytest.fixture
async def storage_fault(rt: Runtime) -> AsyncIterator[object]:
    """Arm with ``await arm()``: every UPDATE of a checkout row then fails in the database."""
    clear = _PG_CLEAR if rt.db.is_postgres else _SQLITE_CLEAR

    async def run(statements: list[str]) -> None:
        async with rt.db.engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))

    async def arm() -> None:
        await run(_PG_FAULT if rt.db.is_postgres else _SQLITE_FAULT)

    yield arm
    await run(clear)


async def test_a_server_error_in_checkout_logs_no_personal_data(
    api: Api, rt: Runtime, log_output: io.StringIO, storage_fault: object
) -> None:
    await fill_cart(api, rt)
    cid = (await start(api))["id"]
    assert (await send(api, cid, "SELECT_GUEST")).status_code == 200
    assert (await send(api, cid, "SUBMIT_GUEST_INFO", **PERSON)).status_code == 200
    await storage_fault()  # type: ignore[operator]
    r = await send(api, cid, "SUBMIT_SHIPPING", address=ADDRESS)
    assert r.status_code == 500 and error_code(r) == "internal_error"
    logged = log_output.getvalue()
    records = [json.loads(line) for line in logged.splitlines()]
    failure = next(rec for rec in records if rec["msg"] == "unhandled error")
    assert "simulated storage fault" in failure["exc"]  # the error itself is still there
    print(logged)
    leaked = [s for s in SECRETS if s.lower() in logged.lower()]
    assert leaked == [], logged


async def test_database_errors_do_not_carry_statement_parameters(rt: Runtime) -> None:
    # Positional parameters (a name in an INSERT) have no key a log filter could see:
    # the engine itself keeps them out of every error's text.
    with pytest.raises(DBAPIError) as err:
        async with rt.db.transaction() as s:
            await s.execute(text("INSERT INTO no_such_table VALUES (:v)"), {"v": "Gracewina"})
    assert "no_such_table" in str(err.value)
    assert "Gracewina" not in str(err.value)
