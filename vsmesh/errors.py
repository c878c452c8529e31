"""Errors vsmesh raises; every message names the problem and the fix.

VsmeshError
 ├── ConfigError (ValueError)           settings or flags that cannot work
 ├── MeshNotRunning (ConnectionError)   no server answers where we looked
 ├── PermissionDenied (PermissionError) the server refuses a subject to this NATS user
 ├── InvalidEvent (ValueError)          an event that fails its schema or limits
 │    └── UnknownEventType
 ├── PublishError (ConnectionError)     the bus did not acknowledge
 │    └── ConcurrencyConflict           the entity moved on since the writer last read it
 └── ContractError                      a hub answered a contract request with an error
"""

from __future__ import annotations


class VsmeshError(Exception):
    """Root of every error vsmesh raises on purpose."""


class ConfigError(VsmeshError, ValueError):
    pass


class MeshNotRunning(VsmeshError, ConnectionError):
    pass


class PermissionDenied(VsmeshError, PermissionError):
    pass


class InvalidEvent(VsmeshError, ValueError):
    pass


class UnknownEventType(InvalidEvent):
    pass


class PublishError(VsmeshError, ConnectionError):
    pass


class ConcurrencyConflict(PublishError):
    """A stale writer: the entity has newer events than the sequence it expected."""


class ContractError(VsmeshError):
    """A hub's contract answered with an error; `code` is machine-readable (e.g. invalid_request)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
