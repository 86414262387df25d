"""Log lines: text for people, JSON for log collectors (``BILLOW_LOG_FORMAT``), with the request id.

The transport (:mod:`billow.transport`) sets :data:`request_id` for the time of each HTTP request; the
context is copied into the threads that run the request's synchronous code, so every line logged on
behalf of a request carries its ``X-Request-Id``. In JSON, one object per line: ``timestamp`` (UTC,
ISO 8601), ``level``, ``logger``, ``message``, ``request_id`` (``null`` outside a request), ``exception``
(the traceback, when there is one) and the ``extra`` fields given to the call.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")

#: The id of the HTTP request being served (``None`` outside one).
request_id: ContextVar[str | None] = ContextVar("billow_request_id", default=None)

#: The attributes every LogRecord has: anything else was given through ``extra=``.
#: (uvicorn's ``color_message``: its message with terminal colours.)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` (when the call did not) from :data:`request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in FORMATS:
        raise ValueError(f"BILLOW_LOG_FORMAT must be text or json, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def handler(log_format: str) -> logging.Handler:
    """A stderr handler writing ``log_format`` lines, with the request id."""
    found = logging.StreamHandler()
    found.setFormatter(formatter(log_format))
    found.addFilter(RequestIdFilter())
    return found


def configure(log_format: str, level: str, loggers: tuple[str, ...] = ("billow",)) -> None:
    """Send the records of ``loggers`` (``""``: the root) to stderr in ``log_format``, at ``level``;
    once (a logger that has handlers already is left alone)."""
    for name in loggers:
        logger = logging.getLogger(name)
        if logger.handlers:
            continue
        logger.addHandler(handler(log_format))
        logger.setLevel(level.upper())


def uvicorn_options(log_format: str, level: str) -> dict[str, Any]:
    """``uvicorn.run``'s log options: the level, and in JSON its own and its access lines as JSON too."""
    if log_format != "json":
        return {"log_level": level}
    return {"log_level": level, "log_config": uvicorn_config(log_format, level)}


def uvicorn_config(log_format: str, level: str) -> dict[str, Any]:
    """uvicorn's ``log_config`` writing ``log_format`` lines."""
    chosen = {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    handler_config = {
        "class": "logging.StreamHandler",
        "formatter": "billow",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"billow": chosen},
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "handlers": {"billow": handler_config},
        "loggers": {
            "uvicorn": {"handlers": ["billow"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["billow"], "level": level.upper(), "propagate": False},
            "billow": {"handlers": ["billow"], "level": level.upper(), "propagate": False},
        },
    }
