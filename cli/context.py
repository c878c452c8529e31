"""The edge: settings read once from env and flags, errors turned into one clear line."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

from vsmesh.errors import VsmeshError
from vsmesh.settings import Settings

T = TypeVar("T")


def settings_from(data_dir: Path | None = None, *, discover: bool = True, **overrides: Any) -> Settings:
    """Settings from `VSMESH_*` and flags, with the running embedded mesh filled in when `discover`."""
    # Imported here, not at the top: every command module imports this one, and `--help` needs neither.
    from vsmesh.logs import configure_logging
    from vsmesh.runtime.mesh_state import with_mesh

    try:
        settings = Settings.from_env(os.environ, data_dir=data_dir, **overrides)
    except VsmeshError as e:  # a bad flag or variable is one line, not a traceback
        raise fail(str(e)) from None
    configure_logging(settings)
    return with_mesh(settings) if discover else settings


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a VsmeshError becomes `error: …` on stderr and exit code 1."""
    try:
        return asyncio.run(coro)
    except VsmeshError as e:
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """For synchronous commands: the same one-line errors as `run`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except VsmeshError as e:
            raise fail(str(e)) from None

    return wrapper


def is_terminal() -> bool:
    return sys.stdout.isatty()


async def ask_hub(
    settings: Settings, hub: str, operation: str, request: dict[str, Any] | None = None, *, timeout: float = 10.0
) -> Any:
    """One contract call on a connection of its own, for a command that asks a hub once; a write goes through the
    gateway as the signed-in person (refused in one line naming `vsmesh login` when nobody is), and so does a read
    when this shell knows no NATS server (the mesh runs as another OS user, or on another machine)."""
    from vsmesh.bus.connection import connect
    from vsmesh.bus.contract_client import ask
    from vsmesh.cli.session import as_person, call_gateway, signed_in
    from vsmesh.errors import MeshNotRunning
    from vsmesh.hubs.operations import writes

    if writes(hub, operation):
        given = {k: v for k, v in (request or {}).items() if k not in ("actor", "actor_kind")}  # the gateway's to say
        body = {"hub": hub, "operation": operation, "request": given, "timeout": timeout}
        return await asyncio.to_thread(as_person, settings, f"{operation} on {hub}", "/people/call", body)
    session = None if settings.nats_url else signed_in(settings)
    if session is not None:
        body = {"hub": hub, "operation": operation, "request": request or {}, "timeout": timeout}
        return await asyncio.to_thread(call_gateway, settings, session, "/people/read", body)
    if not settings.nats_url:
        raise MeshNotRunning(
            f"no mesh found in {settings.data_dir}: start one with `vsmesh up`, set VSMESH_NATS_URL, or sign in "
            "(`vsmesh login`) to read through the mesh's gateway"
        )
    nc = await connect(settings, name=f"vsmesh-cli-{hub}")
    try:
        return await ask(nc, hub, operation, request or {}, timeout=timeout)
    finally:
        await nc.close()
