"""Quarantine: an invalid message found where events are consumed is copied, bytes and headers intact,
with its reason, to the QUARANTINE stream; consumption goes on."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

log = structlog.get_logger(__name__)

REASON = "Vsmesh-Quarantine-Reason"
ORIGIN_STREAM = "Vsmesh-Origin-Stream"
ORIGIN_SEQ = "Vsmesh-Origin-Seq"
ORIGIN_SUBJECT = "Vsmesh-Origin-Subject"
FOUND_BY = "Vsmesh-Found-By"


@dataclass(frozen=True)
class Rejected:
    """A stored message that failed validation where it was consumed."""

    msg: Msg
    reason: str
    # Set when the message is a valid event that its consumer (a handler, a coupling's reaction) failed on.
    event_id: str | None = None

    @property
    def stream(self) -> str:
        return self.msg.metadata.stream

    @property
    def sequence(self) -> int:
        return self.msg.metadata.sequence.stream


def quarantine_subject(origin_subject: str) -> str:
    return f"quarantine.{origin_subject}"


async def quarantine(js: JetStreamContext, rejected: list[Rejected], *, found_by: str) -> None:
    """Copy each rejected message to QUARANTINE, once: a message that is no valid event is the same finding
    wherever it is found (its origin is the id); a valid event a consumer failed on is that consumer's."""
    for r in rejected:
        headers = {k: v for k, v in (r.msg.headers or {}).items() if not k.startswith("Nats-")}
        headers.update(
            {
                REASON: r.reason.replace("\n", " ")[:1000],
                ORIGIN_STREAM: r.stream,
                ORIGIN_SEQ: str(r.sequence),
                ORIGIN_SUBJECT: r.msg.subject,
                FOUND_BY: found_by,
                "Nats-Msg-Id": f"q:{r.stream}:{r.sequence}" + (f":{found_by}" if r.event_id else ""),
            }
        )
        await js.publish(quarantine_subject(r.msg.subject), r.msg.data, headers=headers, stream="QUARANTINE")
        log.warning(
            "event quarantined", found_by=found_by, stream=r.stream, sequence=r.sequence, event_id=r.event_id,
            reason=r.reason,
        )  # fmt: skip


@dataclass(frozen=True)
class Quarantined:
    """One quarantined message as `vsmesh quarantine` shows it."""

    seq: int
    time: str
    reason: str
    origin_stream: str
    origin_seq: int
    origin_subject: str
    found_by: str
    size: int
    data: bytes
    headers: dict[str, str]

    @classmethod
    def from_stored(cls, seq: int, time: str, data: bytes, headers: dict[str, str] | None) -> Quarantined:
        h = headers or {}
        return cls(
            seq=seq,
            time=time,
            reason=h.get(REASON, "?"),
            origin_stream=h.get(ORIGIN_STREAM, "?"),
            origin_seq=int(h.get(ORIGIN_SEQ, "0") or 0),
            origin_subject=h.get(ORIGIN_SUBJECT, "?"),
            found_by=h.get(FOUND_BY, "?"),
            size=len(data),
            data=data,
            headers={k: v for k, v in h.items() if not k.startswith(("Vsmesh-", "Nats-"))},
        )
