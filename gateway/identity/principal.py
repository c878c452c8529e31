"""Who is calling: what a verified token says, never what a request claims."""

from __future__ import annotations

from typing import Literal

import msgspec

ActorKind = Literal["human", "agent", "service"]


class Principal(msgspec.Struct, frozen=True):
    """The verified caller: `subject` is the token's `sub` and becomes the event's actor."""

    subject: str
    kind: ActorKind
    name: str = ""  # a display name from the token, for pages and audit lines
    client_id: str = ""  # the OAuth client the token was issued to
    scopes: tuple[str, ...] = ()
