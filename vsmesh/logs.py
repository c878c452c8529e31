"""structlog set-up: JSON lines for services and pipes, pretty output on a terminal."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import TextIO

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


class _Diversion:
    """Where output goes once its reader is gone: `vsmesh up | cat` stopped by Ctrl-C loses `cat` with it, and a
    stop that failed on its first line left PostgreSQL running. None: nowhere (os.devnull)."""

    to: Path | None = None


def divert_broken_output_to(path: Path) -> None:
    """From now on, stdout or stderr found without a reader is pointed at `path` (the data dir's log)."""
    _Diversion.to = path


def divert(stream: TextIO) -> None:
    """Point `stream`'s descriptor, and the other standard one on the same pipe, at the diversion: whatever
    writes there later (a log line, a print, a traceback at exit) lands in the file, not on a broken pipe."""
    try:
        broken = os.fstat(stream.fileno())
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to point elsewhere
        return
    target = _Diversion.to
    try:
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target or os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
    for std in (1, 2):
        try:
            same = os.fstat(std)
        except OSError:
            continue
        if (same.st_dev, same.st_ino) == (broken.st_dev, broken.st_ino):
            os.dup2(fd, std)
    os.close(fd)


def write_or_divert(stream: TextIO, text: str) -> None:
    """Write `text` to `stream`, or, its reader gone, to the diversion: a BrokenPipeError never reaches the
    caller, whose next step may be stopping a server."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        divert(stream)
        try:
            stream.write(text)  # the failed write's text was dropped from the buffer with the error
            stream.flush()
        except (OSError, ValueError):
            pass


class _Stderr:
    """structlog's file: stderr as it is at each line (tests and tools swap it, and a captured stream may
    close), diverted when its reader is gone."""

    def write(self, text: str) -> int:
        write_or_divert(sys.stderr, text)
        return len(text)

    def flush(self) -> None:
        pass  # each write is flushed


_STDERR = _Stderr()


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
        logger_factory=lambda *_: structlog.PrintLogger(file=out or _STDERR),
        cache_logger_on_first_use=False,
    )
