"""A coupling only the SIGKILL tests run (in its own reactor process): each sigkill/* decision → one message, but
none for a sigkill/*/quiet/* one."""

from __future__ import annotations

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.core import MessageSent
from vsmesh.events.schemas.dev import DevDecisionRecorded
from vsmesh.projectors.couplings.coupling import Coupling, Emit

NAME = "test-sigkill-echo"


def echo(event: Event) -> list[Emit]:
    if not (event.subject or "").startswith("sigkill/") or "/quiet/" in event.subject:
        return []
    return [Emit("message-sent", "dev-hub", event.subject, {"to": "sigkill", "body": event.id})]


def couplings() -> list[Coupling]:
    return [
        Coupling(
            name=NAME,
            source_hub="dev-hub",
            target_hub="dev-hub",
            reacts_to=(DevDecisionRecorded,),
            react=echo,
            emits=(MessageSent,),
        )
    ]
