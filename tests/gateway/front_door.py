"""The gateway `vsmesh up` serves (the session's running mesh), reached as its users reach it: an agent is
registered with `vsmesh agent add` and gets its tokens from the gateway's `/token` endpoint (client
credentials, from the credentials file the CLI wrote); a person added with `vsmesh user add` signs in at the
issuer's login form (`/authorize`, authorization code with PKCE) and exchanges the code at `/token`; mandates
are granted with `vsmesh publish` by the session's signed-in person (`person` in tests/conftest.py), through the
gateway. Nothing is minted or folded inside the test process.
Fixture `front_door` in conftest.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
from click.testing import Result
from mcp import Client

from vsmesh.gateway.identity.agent_token import read_credentials
from vsmesh.gateway.identity.clients import credentials_path
from vsmesh.gateway.mcp.mcp_server import MCP_PATH

PERSONS_CLIENT = "vsmesh-cli"  # a public client of the issuer, as a person's command-line tool would be
LOOPBACK_REDIRECT = "http://127.0.0.1:9/callback"  # never followed: the test reads the code from the redirect


def pkce() -> tuple[str, str]:
    """(verifier, its S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class FrontDoor:
    base: str  # the gateway's root, as `vsmesh up` recorded it in its mesh state
    data_dir: Path  # the running mesh's data dir (<session dir>/up)
    cli: Callable[..., Result]  # the CLI in-process, with the session's VSMESH_* variables

    @property
    def url(self) -> str:
        """The MCP endpoint."""
        return f"{self.base}{MCP_PATH}"

    async def run(self, *args: str) -> Result:
        done = await asyncio.to_thread(self.cli, *args)
        assert done.exit_code == 0, f"vsmesh {' '.join(args)}: {done.output}"
        return done

    async def agent_token(self, name: str, kind: str = "agent") -> str:
        """Register `name` with `vsmesh agent add` and get a token as the agent does: its credentials file's
        client id and secret at the gateway's token endpoint."""
        await self.run("agent", "add", name, "--kind", kind, "--data-dir", str(self.data_dir))
        return await self.token_again(name)

    async def token_again(self, name: str) -> str:
        """Another token for an agent already added, from its credentials file."""
        creds = read_credentials(credentials_path(self.data_dir.resolve(), name), name)
        assert creds.token_url == f"{self.base}/token", creds.token_url
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                creds.token_url, data={"grant_type": "client_credentials"}, auth=(creds.client_id, creds.client_secret)
            )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    async def add_person(self, name: str, password: str) -> None:
        await self.run("user", "add", name, "--password", password, "--data-dir", str(self.data_dir))

    async def person_token(self, name: str, password: str, client_id: str = PERSONS_CLIENT) -> str:
        """A person's token: the login form answered with the password, the code exchanged with its verifier."""
        verifier, challenge = pkce()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": LOOPBACK_REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(8),
        }
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as http:
            form = await http.get("/authorize", params=params)
            assert form.status_code == 200 and 'name="password"' in form.text, form.text
            signed_in = await http.post("/authorize", data={**params, "username": name, "password": password})
            assert signed_in.status_code == 303, signed_in.text
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(signed_in.headers["location"]).query))
            assert query["state"] == params["state"]
            exchange = {
                "grant_type": "authorization_code",
                "code": query["code"],
                "redirect_uri": LOOPBACK_REDIRECT,
                "client_id": client_id,
                "code_verifier": verifier,
            }
            answer = await http.post("/token", data=exchange)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    async def publish(self, event_type: str, hub: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
        """`vsmesh publish … --json` as the session's signed-in person: the stored event's id, stream and seq."""
        done = await self.run(
            "publish", event_type, "--hub", hub, "--subject", subject, "--data", json.dumps(data), "--json"
        )
        return json.loads(done.stdout)

    async def grant(self, holder: str, scope: str, **more: Any) -> dict[str, Any]:
        """A canon-hub mandate, granted as the README shows (a governance event: a person with a fresh password)."""
        data = {"role": "Test Operator", "holder": holder, "scope": scope, **more}
        return await self.publish("canon-mandate-granted", "canon-hub", f"mandate/{holder}", data)


async def once_allowed(
    client: Client, tool: str, arguments: dict[str, Any], timeout: float = 15.0
) -> types.CallToolResult:
    """Call `tool` until the gateway allows it: a mandate just granted is in force once the gateway's own
    follower of canon-hub's events has applied it, and nothing outside that process can say when."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await client.call_tool(tool, arguments)
        text = answer.content[0].text if answer.is_error and answer.content else ""
        if not text.startswith("refused: missing mandate"):
            return answer
        assert time.monotonic() < deadline, f"{tool} still refused {timeout} s after the grant: {text}"
        await asyncio.sleep(0.05)


def refusal(answer: types.CallToolResult) -> str:
    """The text of a refused call (a tool error)."""
    assert answer.is_error, f"allowed: {answer.structured_content}"
    return answer.content[0].text
