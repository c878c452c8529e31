"""Whose tokens a gateway takes, through the front door: a gateway whose issuer is another gateway (an outside
issuer, `VSMESH_OIDC_ISSUER` and `VSMESH_OIDC_AUDIENCE`: here the session mesh's own gateway), and
`vsmesh gateway rotate-key` on the running mesh, seen by it and by that relying gateway."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest
from joserfc import jws

from tests.conftest import server_dir
from tests.gateway.front_door import FrontDoor
from tests.gateway.issuer_gateway import IssuerGateway, start_gateway
from vsmesh.gateway.identity.issuer import Issuer, IssuerConfig
from vsmesh.runtime.mesh_state import load_state


def kid(token: str) -> str:
    return jws.extract_compact(token.encode()).protected["kid"]


async def who(url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(f"{url}/whoami", headers={"Authorization": f"Bearer {token}"})


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url)


async def published(gateway: str) -> set[str]:
    """The key ids of the gateway's JWKS."""
    return {k["kid"] for k in (await get(f"{gateway}/jwks")).json()["keys"]}


def refused(answer: httpx.Response, reason: str) -> bool:
    return answer.status_code == 401 and reason in answer.headers["www-authenticate"]


@pytest.fixture(scope="module")
def issuer_url(running_mesh, session_dir) -> str:
    found = load_state(session_dir / "up").gateway_url
    assert found, "vsmesh up recorded no gateway URL in its mesh state"
    return found


@pytest.fixture(scope="module")
def relying(issuer_url: str) -> Iterator[IssuerGateway]:
    """A second gateway told to take the session mesh's tokens: their issuer, and the audience they carry."""
    path = server_dir()
    yield from start_gateway(path, {"VSMESH_OIDC_ISSUER": issuer_url, "VSMESH_OIDC_AUDIENCE": issuer_url})
    shutil.rmtree(path, ignore_errors=True)


async def test_a_gateway_takes_the_tokens_of_the_issuer_it_names(front_door: FrontDoor, relying, tmp_path):
    issuer = front_door.base
    agent, ada = f"outside-{uuid.uuid4().hex[:8]}", f"ada-{uuid.uuid4().hex[:8]}"
    token = await front_door.agent_token(agent)
    await front_door.add_person(ada, "correct horse battery")
    person = await front_door.person_token(ada, "correct horse battery")

    # The issuer's agents and people are who its tokens say, at a gateway that only relies on it.
    assert (await who(relying.url, token)).json() == {
        "subject": agent, "kind": "agent", "name": agent, "client_id": agent, "scopes": [],
    }  # fmt: skip
    me = (await who(relying.url, person)).json()
    assert (me["subject"], me["kind"], me["client_id"]) == (ada, "human", "vsmesh-cli")
    # It sends clients to that issuer, and serves none itself.
    metadata = (await get(f"{relying.url}/.well-known/oauth-protected-resource")).json()
    assert metadata["authorization_servers"] == [issuer] and metadata["resource"] == issuer
    for path in ("/.well-known/openid-configuration", "/jwks", "/authorize", "/token"):
        assert (await get(f"{relying.url}{path}")).status_code == 404, path

    # A token claiming that issuer but signed with a key it never published is refused.
    stranger = Issuer(IssuerConfig(issuer=issuer, audience=issuer, data_dir=tmp_path / "stranger"))
    forged = stranger.mint(subject=agent, name=agent, client_id=agent, actor_kind="agent")
    assert refused(await who(relying.url, forged), "unknown signing key")

    # Without the audience setting a gateway takes only tokens made for its own URL: the issuer's are not.
    path = server_dir()
    try:
        with closing(start_gateway(path, {"VSMESH_OIDC_ISSUER": issuer})) as started:
            own_audience = next(started)
            assert refused(await who(own_audience.url, token), "wrong aud")
            assert own_audience.url != issuer
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def test_rotate_key_keeps_old_tokens_until_drop_old(front_door: FrontDoor, relying, agent_name):
    """`vsmesh gateway rotate-key` on the running mesh: new tokens are signed with a new key while the old ones
    stay published, so no holder is logged out; `--drop-old` stops publishing them, and a token they signed is
    refused as soon as a gateway renews its keys (a token of the new key makes it, or the 5-minute cache)."""
    first = await front_door.agent_token(agent_name)

    rotated = await front_door.run("gateway", "rotate-key", "--data-dir", str(front_door.data_dir))
    [second_kid] = re.findall(r"^signing with key (\S+)$", rotated.stdout, re.MULTILINE)
    assert re.search(r"^kept \d+ older keys until their tokens expire \(at most 600 s\)$", rotated.stdout, re.MULTILINE)
    assert {kid(first), second_kid} <= await published(front_door.base) and kid(first) != second_kid
    second = await front_door.token_again(agent_name)
    assert kid(second) == second_kid
    # Both tokens hold at the mesh's gateway and at the one relying on it (each fetched the new key for it).
    for gateway in (front_door.base, relying.url):
        assert [(await who(gateway, t)).status_code for t in (second, first)] == [200, 200], gateway

    dropped = await front_door.run("gateway", "rotate-key", "--drop-old", "--data-dir", str(front_door.data_dir))
    [third_kid] = re.findall(r"^signing with key (\S+)$", dropped.stdout, re.MULTILINE)
    assert re.search(r"^dropped \d+ older keys: tokens they signed are refused$", dropped.stdout, re.MULTILINE)
    assert await published(front_door.base) == {third_kid}
    third = await front_door.token_again(agent_name)
    for gateway in (front_door.base, relying.url):
        assert (await who(gateway, third)).json()["subject"] == agent_name  # the new key: its keys are renewed
        for old in (first, second):
            assert refused(await who(gateway, old), "unknown signing key"), gateway
    # A person signed in before the drop goes on writing: the CLI renews the token whose key is gone.
    kept = ("--hub", "ops-hub", "--subject", "service/kept", "--data", '{"status": "green"}')
    await front_door.run("publish", "ops-health-checked", *kept)
