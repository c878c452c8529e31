"""Who is calling: what a verified token says, never what a request claims."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from starlette.requests import Request

ActorKind = Literal["human", "agent", "service"]


class Principal(msgspec.Struct, frozen=True):
    """The verified caller: `subject` is the token's `sub` and becomes the event's actor."""

    subject: str
    kind: ActorKind
    name: str = ""  # a display name from the token, for pages and audit lines
    client_id: str = ""  # the OAuth client the token was issued to
    scopes: tuple[str, ...] = ()


# Resolves the caller of an HTTP request or raises gateway.errors.Unauthorized (a 401 with WWW-Authenticate).
Authenticate = Callable[["Request"], Awaitable[Principal]]
