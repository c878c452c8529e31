"""The CLI as a person's shell runs it, and what the log then holds: the people's-writes tests' helpers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path

import msgspec
from click.testing import Result
from typer.testing import CliRunner

from tests.conftest import VSMESH
from vsmesh.bus.connection import connect


def vsmesh(env: dict[str, str], *args: str) -> Result:
    """The CLI in-process (a process start costs seconds on the loaded machine), with only `env`'s VSMESH_*."""
    from vsmesh.cli.app import app

    unset = {k: None for k in os.environ if k.startswith("VSMESH_")}
    return CliRunner().invoke(app, list(args), env={**unset, **env}, catch_exceptions=False)


def login_in_background(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, str]:
    """`vsmesh login ARGS` running, and the first line it asks the person to act on (a code, or a URL)."""
    proc = subprocess.Popen(
        [*VSMESH, "login", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line, proc.stderr.read()
    return proc, line


def finished(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


def publish_claiming_another(env: dict[str, str], settings, name: str) -> tuple[tuple[str, ...], dict]:
    """`vsmesh publish` of a health check from a shell whose VSMESH_ACTOR names somebody else: the command's
    arguments, and the event as the log holds it."""
    entity = f"service/{name}-{uuid.uuid4().hex[:6]}"
    args = ("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", entity, "--data", '{"status":"green"}')
    done = vsmesh({**env, "VSMESH_ACTOR": "somebody-else"}, *args, "--json")
    assert done.exit_code == 0, done.stderr
    stored = json.loads(done.stdout)
    return args, read_event(settings, stored["stream"], stored["seq"])


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


# Run as another OS user by the system's python (the project's lives under root's 0700 home), holding nothing but
# an agent's access token (on stdin, so no `ps` shows it); the standard library's HTTP client.
SYSTEM_PYTHON = "/usr/bin/python3"
INTRUDER = """
import json, sys, urllib.error, urllib.request
gateway, admin_creds, signing_keys = sys.argv[1:4]
token = sys.stdin.read().strip()
def post(path, body):
    request = urllib.request.Request(gateway + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        answer = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as e:
        answer = e
    return [answer.status, json.loads(answer.read()).get("message", "")]
def read(path):
    try:
        open(path).read()
        return "read"
    except OSError as e:
        return type(e).__name__
me = {"role": "Owner", "holder": sys.argv[4], "scope": "*"}
print(json.dumps({
    "publish as a human": post("/people/publish", {"type": "ops-health-checked", "hub": "ops-hub",
                                                   "subject": "service/x", "data": [{"status": "green"}]}),
    "revert": post("/people/revert", {"actor": "ada", "reason": "mine now"}),
    "grant itself a mandate": post("/people/publish", {"type": "canon-mandate-granted", "hub": "canon-hub",
                                                       "subject": "mandate/me", "data": [me]}),
    "read the admin credentials": read(admin_creds),
    "read the signing keys": read(signing_keys),
}))
"""


def intruder_refused(settings, gateway_url: str, admin: Path, keys: Path, intruder: str, token: str) -> None:
    """A process of another OS user (`nobody`), holding only `intruder`'s agent token, tries what a person may do
    and to read the admin credentials and signing keys: each refused, each gateway refusal on the log as an event
    whose actor is the intruder."""
    ran = subprocess.run(
        [SYSTEM_PYTHON, "-c", INTRUDER, gateway_url, str(admin), str(keys), intruder],
        input=token, capture_output=True, text=True, user="nobody", group="nogroup", timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    tried = json.loads(ran.stdout)
    for attempt in ("publish as a human", "revert", "grant itself a mandate"):
        status, message = tried[attempt]
        assert status == 403 and message.startswith("refused: agents write through MCP"), (attempt, message)
    assert tried["read the admin credentials"] == tried["read the signing keys"] == "PermissionError"
    logged = refusals_of(settings, intruder, 3)
    assert [e["data"]["operation"] for e in logged] == [
        "publish ops-health-checked", "revert", "publish canon-mandate-granted"
    ]  # fmt: skip
    assert all(e["actorkind"] == "agent" and e["data"]["access"] == "write" for e in logged)
