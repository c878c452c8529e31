"""The horizon streams of DESIGN.md, created idempotently and reconciled when their config drifts."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import NotFoundError, ServiceUnavailableError

from vsmesh.errors import MeshNotRunning
from vsmesh.events.envelope import Horizon

log = structlog.get_logger(__name__)
T = TypeVar("T")

DAY = 24 * 3600


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_s: float  # 0 keeps forever
    locked: bool = False  # deny delete and purge

    def config(self, replicas: int, max_msg_bytes: int) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=self.max_age_s,
            max_msg_size=max_msg_bytes,
            num_replicas=replicas,
            discard=DiscardPolicy.OLD,
            duplicate_window=120.0,
            deny_delete=self.locked,
            deny_purge=self.locked,
            allow_direct=True,
        )


STREAMS: dict[str, StreamSpec] = {
    "OPERATIONAL": StreamSpec("OPERATIONAL", ("operational.>",), 90 * DAY),
    "TACTICAL": StreamSpec("TACTICAL", ("tactical.>",), 2 * 365 * DAY),
    "STRATEGIC": StreamSpec("STRATEGIC", ("strategic.>",), 10 * 365 * DAY),
    "CONSTITUTIONAL": StreamSpec("CONSTITUTIONAL", ("constitutional.>",), 0, locked=True),
    "QUARANTINE": StreamSpec("QUARANTINE", ("quarantine.>",), 30 * DAY),
}
HORIZON_STREAMS = ("OPERATIONAL", "TACTICAL", "STRATEGIC", "CONSTITUTIONAL")
# Stream metadata key set by `vsmesh streams retention`: the max age was chosen (and checked against every
# hub's rebuild), so reconciling leaves it alone instead of restoring the default.
RETENTION_SET = "vsmesh.retention"
# ...and who chose it: the verified person the gateway changed it for.
RETENTION_BY = "vsmesh.retention-by"


def stream_for(horizon: Horizon | str) -> str:
    return str(horizon).upper()


def keep_chosen_retention(current: StreamConfig, wanted: StreamConfig) -> StreamConfig:
    """`wanted` with the max age `vsmesh streams retention` chose, when it chose one (and a duplicate window
    no longer than it: the server refuses a longer one)."""
    if RETENTION_SET not in (current.metadata or {}):
        return wanted
    window = min(wanted.duplicate_window or 0, current.max_age) if current.max_age else wanted.duplicate_window
    return dataclasses.replace(
        wanted, max_age=current.max_age, duplicate_window=window, metadata=dict(current.metadata or {})
    )


def _drifted(current: StreamConfig, wanted: StreamConfig) -> list[str]:
    fields = ("subjects", "max_age", "max_msg_size", "deny_delete", "deny_purge", "duplicate_window")
    return [f for f in fields if _norm(getattr(current, f)) != _norm(getattr(wanted, f))]


async def patiently(call: Callable[[], Awaitable[T]], what: str, *, patience: float = 30.0) -> T:
    """`call()`, asked again while JetStream does not answer (no answer, or 503: a cluster electing a leader,
    a node just restarted) for up to `patience` s; then its error. `call` must be safe to repeat."""
    deadline = time.monotonic() + patience
    delay = 0.2
    while True:
        try:
            return await call()
        except (NatsTimeout, ServiceUnavailableError) as e:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("JetStream request retried", what=what, error=repr(e))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def stream_info(js: JetStreamContext, name: str, *, patience: float = 30.0) -> StreamInfo:
    """The stream's info, waiting out a cluster that is electing a leader (no answer, or 503) for `patience` s."""
    return await patiently(lambda: js.stream_info(name), f"stream info {name}", patience=patience)


def _norm(value: object) -> object:
    if isinstance(value, list):
        return sorted(value)
    if isinstance(value, float):
        value = round(value, 3)
    return value or None  # the server reports "unset" as 0, None or False interchangeably


async def ensure_streams(
    js: JetStreamContext, *, replicas: int = 1, max_msg_bytes: int = 1 << 20, patience: float = 30.0
) -> None:
    """Create every stream that is missing and update any whose config differs from its spec.

    A JetStream that does not answer yet (a cluster electing its leaders: two `vsmesh up` starting side by side
    on the local cluster saw a 5 s time-out) is asked again for `patience` s, then named in one line."""
    for spec in STREAMS.values():
        wanted = spec.config(replicas, max_msg_bytes)
        try:
            info = await stream_info(js, spec.name, patience=patience)
        except (NatsTimeout, ServiceUnavailableError):
            raise MeshNotRunning(
                f"JetStream did not answer about stream {spec.name} for {patience:g} s: run nats-server with "
                "JetStream on (-js, as `vsmesh up` does), or, on a cluster, wait until most of its nodes are up"
            ) from None
        except NotFoundError:
            await js.add_stream(wanted)
            log.info("stream created", stream=spec.name)
            continue
        wanted = keep_chosen_retention(info.config, wanted)
        drift = _drifted(info.config, wanted)
        if drift:
            await js.update_stream(wanted)
            log.info("stream reconciled", stream=spec.name, fields=drift)
