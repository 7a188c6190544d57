"""Every record reaches the one scrubbing handler, uvicorn's too: configure_logging routes
loggers that came with handlers of their own (uvicorn configures its loggers before our
app exists) into the root JSON handler, so none of them can bypass the scrub."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
import uvicorn.config

from tillpoint.logs import JsonFormatter, configure_logging


@pytest.fixture
def app_log() -> Iterator[io.StringIO]:
    """uvicorn's own logging set up first (as ``uvicorn tillpoint.web.asgi:app`` does),
    then ours; the app handler writes into a buffer."""
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    configure_logging("INFO")
    handler = next(
        h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)
    )
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)
    configure_logging("WARNING")


def _records(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_access_log_lines_are_scrubbed_query_strings_included(app_log: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "203.0.113.9:5123",
        "GET",
        "/api/orders?email=ada%40example.com&first_name=Ada&token=0123456789abcdef",
        "1.1",
        200,
    )
    [record] = _records(app_log)
    assert record["logger"] == "uvicorn.access" and "/api/orders?" in str(record["msg"])
    assert "ada" not in str(record["msg"]).lower()
    assert "0123456789abcdef" not in str(record["msg"])


def test_uvicorn_errors_go_through_the_scrubbing_handler(app_log: io.StringIO) -> None:
    try:
        raise RuntimeError("checkout for ada@example.com failed: {'last_name': 'Lovelace'}")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    [record] = _records(app_log)
    assert record["msg"] == "Exception in ASGI application"
    assert "RuntimeError" in str(record["exc"])
    assert "ada@example.com" not in str(record["exc"]) and "Lovelace" not in str(record["exc"])


def test_extra_fields_lose_personal_data_at_any_depth(app_log: io.StringIO) -> None:
    context = {
        "guest_info": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        "shipping_address": {"street1": "350 Fifth Avenue", "city": "New York", "state": "NY"},
        "state": "payment_processing",
    }
    logging.getLogger("tillpoint.checkout").warning(
        "step failed", extra={"context": context, "email": "ada@example.com", "checkout": "chk_1"}
    )
    [record] = _records(app_log)
    text = json.dumps(record)
    for value in ("ada@example.com", "Lovelace", "350 Fifth", "New York", '"Ada"'):
        assert value not in text, value
    assert record["checkout"] == "chk_1" and record["context"]["state"] == "payment_processing"  # type: ignore[index]
