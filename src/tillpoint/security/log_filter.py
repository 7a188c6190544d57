"""A logging filter that scrubs every record before any handler formats it, so our JSON
logs never carry a card number, a CVV, a secret or a shopper's personal data (e-mail,
names, phone, address): message, arguments, extra fields, exception and stack text
alike."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from tillpoint.security.personal_data import (
    REDACTED,
    is_personal_key,
    scrub_personal,
    scrub_personal_text,
)
from tillpoint.security.scrub import is_secret_key, scrub, scrub_text

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def scrub_log_text(text: str) -> str:
    """Card data, secrets and personal data out of free text."""
    return scrub_personal_text(scrub_text(text))


def _scrub_extra(key: str, value: Any) -> Any:
    if is_secret_key(key) or (is_personal_key(key) and isinstance(value, str | int)):
        return REDACTED
    return scrub_personal(scrub(value))


class ScrubFilter(logging.Filter):
    """Rewrites records in place; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = scrub_log_text(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _RESERVED:
                record.__dict__[key] = _scrub_extra(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = scrub_log_text(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_log_text(record.stack_info)
        return True
