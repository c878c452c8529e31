"""The CLI as a person's shell runs it, and what the log then holds: the people's-writes tests' helpers."""

from __future__ import annotations

import asyncio
import os

import msgspec
from click.testing import Result
from typer.testing import CliRunner

from vsmesh.bus.connection import connect


def vsmesh(env: dict[str, str], *args: str) -> Result:
    """The CLI in-process (a process start costs seconds on the loaded machine), with only `env`'s VSMESH_*."""
    from vsmesh.cli.app import app

    unset = {k: None for k in os.environ if k.startswith("VSMESH_")}
    return CliRunner().invoke(app, list(args), env={**unset, **env}, catch_exceptions=False)


def error_line(result: Result) -> str:
    """The one `error:` line a refused command prints (the gateway, in this process, logs to stderr too)."""
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return line


def read_event(settings, stream: str, seq: int) -> dict:
    async def get() -> dict:
        nc = await connect(settings)
        try:
            return msgspec.json.decode((await nc.jetstream().get_msg(stream, seq)).data)
        finally:
            await nc.close()

    return asyncio.run(get())


def refusals_of(settings, actor: str, count: int) -> list[dict]:
    """The `canon-call-refused` events whose actor is `actor`, from the constitutional stream."""

    async def read() -> list[dict]:
        nc = await connect(settings)
        try:
            subject = f"constitutional.canon-hub.canon-call-refused.actor:{actor}"
            sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
            return [msgspec.json.decode((await sub.next_msg(timeout=10)).data) for _ in range(count)]
        finally:
            await nc.close()

    return asyncio.run(read())
