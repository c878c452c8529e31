"""Asking a hub: one request/reply on `vsmesh.{hub}.{operation}`, errors as `ContractError`."""

from __future__ import annotations

from typing import Any

import msgspec
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from vsmesh.errors import ContractError, ContractUnavailable, PermissionDenied


async def ask(
    nc: Client, hub: str, operation: str, request: dict[str, Any] | None = None, *, timeout: float = 10.0
) -> Any:
    """The hub's JSON answer; a hub that is not running is named, never a bare timeout."""
    subject = f"vsmesh.{hub}.{operation}"
    asked = nc.request(subject, msgspec.json.encode(request or {}), timeout=timeout)
    denials = getattr(nc, "denials", None)
    try:
        reply = await (denials.guard(subject, asked) if denials else asked)
    except PermissionDenied:
        user = nc.options.get("user") or "the default user"
        raise ContractError("forbidden", f"NATS user {user!r} may not call {hub}'s {operation}") from None
    except NoRespondersError:
        raise ContractUnavailable(
            "not_running", f"{hub} does not answer {operation}: is `vsmesh up` running it (see `vsmesh status`)?"
        ) from None
    except NatsTimeout:
        raise ContractUnavailable("timeout", f"{hub} did not answer {operation} within {timeout:.0f} s") from None
    answer = msgspec.json.decode(reply.data) if reply.data else None
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        raise ContractError(answer["error"].get("code", "error"), answer["error"].get("message", "unknown error"))
    return answer
