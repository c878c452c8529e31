"""Errors vsmesh raises; every message names the problem and the fix.

VsmeshError
 ├── ConfigError (ValueError)           settings or flags that cannot work
 │    ├── RetentionRefused              a retention change would leave a hub that cannot be rebuilt
 │    └── CommitRefused                 a repository commit with files that do not validate: nothing of it synced
 ├── NotFound (LookupError)             a hub, coupling, copy or event that does not exist
 ├── HistoryAgedOut (LookupError)       events a rebuild needs are gone, and no snapshot covers them
 ├── SnapshotMismatch (ValueError)      a snapshot's tables do not fit the hub's current tables
 ├── Busy (RuntimeError)                another process is doing that right now
 │    └── AlreadyRunning                the mesh is up in this data dir already
 ├── MeshNotRunning (ConnectionError)   no server answers where we looked
 ├── SourceUnavailable (ConnectionError) a tool a puller reads answered an error, no answer, or nonsense
 ├── PermissionDenied (PermissionError) the server refuses a subject, or no mandate allows the call
 ├── Unauthorized (PermissionError)     no verified identity: a missing, expired or invalid token
 ├── InvalidEvent (ValueError)          an event that fails its schema or limits
 │    └── UnknownEventType
 ├── PublishError (ConnectionError)     the bus did not acknowledge
 │    └── ConcurrencyConflict           the entity moved on since the writer last read it
 ├── ContractError                      a hub answered a contract request with an error
 │    └── ContractUnavailable           no answer: the hub is not running or did not answer in time
 └── OAuthError                         the gateway's issuer refuses a token request (RFC 6749 §5.2)
"""

from __future__ import annotations


class VsmeshError(Exception):
    """Root of every error vsmesh raises on purpose."""


class ConfigError(VsmeshError, ValueError):
    pass


class RetentionRefused(ConfigError):
    """A retention change would leave a hub that cannot be rebuilt (events aged out, no snapshot covering them)."""


class CommitRefused(ConfigError):
    """A commit the GitOps sync refuses as a whole; `problems` has one `file:line: field: message` line each."""

    def __init__(self, message: str, commit: str, problems: list[str]) -> None:
        super().__init__(message)
        self.commit = commit
        self.problems = problems


class NotFound(VsmeshError, LookupError):
    pass


class HistoryAgedOut(VsmeshError, LookupError):
    """Events a rebuild needs are gone from a stream, and no snapshot covers them."""


class SnapshotMismatch(VsmeshError, ValueError):
    """A snapshot's tables do not fit the hub's current tables."""


class Busy(VsmeshError, RuntimeError):
    """Another process holds what this needs (a hub's rebuild, a data dir's mesh); try again after it."""


class AlreadyRunning(Busy):
    def __init__(self, message: str, pid: int) -> None:
        super().__init__(message)
        self.pid = pid


class MeshNotRunning(VsmeshError, ConnectionError):
    pass


class SourceUnavailable(VsmeshError, ConnectionError):
    """A tool a puller reads (OpenCost, the Kubernetes API, a provider's usage API) gave nothing usable."""


class PermissionDenied(VsmeshError, PermissionError):
    pass


class Unauthorized(VsmeshError, PermissionError):
    """The caller proved no identity; `challenge` is the WWW-Authenticate value an HTTP 401 carries."""

    def __init__(self, message: str, challenge: str = "Bearer") -> None:
        super().__init__(message)
        self.challenge = challenge


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


class ContractUnavailable(ContractError):
    """The hub gave no answer (not running, or not in time): asking again later may succeed."""


class OAuthError(VsmeshError):
    """An RFC 6749 §5.2 error answer of the gateway's issuer: `error` code, one-line description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.status = error, status
