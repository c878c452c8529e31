"""structlog set-up: JSON lines for services and pipes, pretty output on a terminal."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import structlog

from vsmesh.settings import Settings

_SECRET_KEYS = {"password", "nats_password", "token", "secret"}


_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^@\s]*@")
_PLAIN = (str, int, float, bool, type(None))


def redact_url(text: str) -> str:
    """`scheme://user:secret@host` → `scheme://user:***@host`."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def _redact(_logger: object, _name: str, event: dict) -> dict:
    # Secrets must never reach a log line, whatever a caller passes: secret keys, and passwords in URLs.
    for key, value in list(event.items()):
        if key.lower() in _SECRET_KEYS:
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = redact_url(value)
        elif not isinstance(value, _PLAIN):
            shown = repr(value)
            if redact_url(shown) != shown:
                event[key] = redact_url(shown)
    return event


def configure_logging(settings: Settings, *, to_file: Path | None = None) -> None:
    """Configure structlog once per process: to stderr, or as JSON lines appended to `to_file`."""
    if to_file is not None:
        to_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(to_file, "a", buffering=1)  # noqa: SIM115 - the process's log, open while it runs
    else:
        out = None
    pretty = out is None and (
        settings.log_format == "console" or (settings.log_format == "auto" and sys.stderr.isatty())
    )
    renderer = structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    # A JSON line carries the traceback of `log.exception` as its `exception` text (the console renderer
    # prints it itself); before, JSON lines said only `"exc_info": true` and the cause was lost.
    tracebacks = [] if pretty else [structlog.processors.format_exc_info]
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *tracebacks,
            _redact,  # after the traceback is text: a password in an exception's message is masked too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Resolve sys.stderr per logger: tests and tools swap it, and a captured stream may close.
        logger_factory=lambda *_: structlog.PrintLogger(file=out or sys.stderr),
        cache_logger_on_first_use=False,
    )
