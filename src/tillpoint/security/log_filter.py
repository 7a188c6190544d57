"""A logging filter that scrubs every record before any handler formats it, so our JSON
logs never carry a card number, a CVV or a secret (message, arguments, extra fields and
exception text alike)."""

from __future__ import annotations

import logging
import traceback

from tillpoint.security.scrub import is_secret_key, scrub, scrub_text

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class ScrubFilter(logging.Filter):
    """Rewrites records in place; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = scrub_text(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _RESERVED:
                record.__dict__[key] = "[REDACTED]" if is_secret_key(key) else scrub(value)
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = scrub_text(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
        return True
