"""`vsmesh login` against the local issuer, and a person's writes through the gateway: the device grant end to end,
PKCE with a real loopback redirect, refresh tokens rotated, governance refused to a stale sign-in and allowed
after a step-up, and another OS user holding only an agent's token refused everything a person may do.

The gateway here is the app `vsmesh up` serves (issuer + people's writes) on the session's real nats-server, with
a short step-up window so a sign-in goes stale within the test.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.conftest import server_dir
from tests.gateway.issuer_gateway import IssuerGateway, people_writes, start_gateway
from tests.gateway.people_cli import (
    error_line,
    finished,
    intruder_refused,
    login_in_background,
    publish_claiming_another,
    read_event,
    refusals_of,
    vsmesh,
)
from tests.signing_in import USER_CODE, approve, sign_in
from vsmesh.cli.session import save
from vsmesh.errors import Unauthorized
from vsmesh.gateway.identity.clients import Clients
from vsmesh.settings import Settings

STEP_UP_S = 300  # the default
PERSON, PASSWORD = "ada", "correct horse battery"


@pytest.fixture(scope="module")
def gateway(mesh_env, streams) -> Iterator[IssuerGateway]:
    """The issuer and people's writes on the session's NATS (as the mesh's own connection: its admin)."""
    path = server_dir()

    env = {**mesh_env, "VSMESH_STEP_UP_S": str(STEP_UP_S), "VSMESH_DEVICE_POLL_S": "1"}
    started = start_gateway(path, env, routes=people_writes)
    served = next(started)
    Clients(path).set_person(PERSON, PASSWORD)
    yield served
    started.close()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cli_env(gateway, mesh_env, tmp_path) -> dict[str, str]:
    """A user's shell: the gateway's URL and a config dir of its own; the mesh's data dir is not this one."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")},
        "VSMESH_GATEWAY_URL": gateway.url,
        "VSMESH_CONFIG_DIR": str(tmp_path / "config"),
        "VSMESH_DATA_DIR": str(tmp_path / "no-mesh-here"),
        "VSMESH_LOG_FORMAT": "json",
    }


def test_device_login_signs_in_and_the_gateway_publishes_as_the_person(gateway, cli_env, settings, tmp_path):
    proc, line = login_in_background(cli_env, "--device")
    code = USER_CODE.search(line).group(1)
    # A wrong password approves nothing; the right one does, and the terminal is signed in.
    assert approve(gateway.url, code, PERSON, "wrong password").status_code == 401
    assert approve(gateway.url, code, PERSON, PASSWORD).status_code == 200
    assert f"signed in as {PERSON}" in finished(proc)

    # The tokens are the user's own: a 0700 dir, a 0600 file.
    config = tmp_path / "config"
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    assert stat.S_IMODE((config / "session.json").stat().st_mode) == 0o600
    who = json.loads(vsmesh(cli_env, "whoami", "--json").stdout)
    assert (who["subject"], who["kind"], who["issuer"]) == (PERSON, "human", gateway.url)

    # A write goes through the gateway and is stored as the verified person, whatever the shell says.
    args, event = publish_claiming_another(cli_env, settings, "login")
    assert (event["actor"], event["actorkind"], event["source"]) == (PERSON, "human", "vsmesh/gateway")
    # --actor may only repeat the person: one line naming the fix.
    forged = vsmesh(cli_env, *args, "--actor", "grace")
    assert forged.exit_code == 1
    assert "signed in as ada, you publish as ada (human): drop --actor" in error_line(forged)

    # Signed out, the tokens are gone and the issuer ends the sign-in.
    refresh = json.loads((config / "session.json").read_text())["refresh_token"]
    assert vsmesh(cli_env, "logout").stdout.strip() == f"signed out {PERSON}"
    assert not (config / "session.json").exists()
    again = httpx.post(f"{gateway.url}/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                                     "client_id": "vsmesh-cli"})  # fmt: skip
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_the_device_endpoint_answers_pending_slow_down_and_denied(gateway):
    start = httpx.post(f"{gateway.url}/device_authorization", data={"client_id": "vsmesh-cli"}).json()
    assert {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    } <= set(start)
    discovery = httpx.get(f"{gateway.url}/.well-known/openid-configuration").json()
    assert discovery["device_authorization_endpoint"] == f"{gateway.url}/device_authorization"
    assert "urn:ietf:params:oauth:grant-type:device_code" in discovery["grant_types_supported"]
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": start["device_code"],
            "client_id": "vsmesh-cli"}  # fmt: skip
    # Polls in a row, faster than the 1 s interval: the first is pending, then the client is told to slow down
    # (and, its interval now 6 s, stays told so).
    errors = [httpx.post(f"{gateway.url}/token", data=poll).json()["error"] for _ in range(4)]
    assert errors[0] == "authorization_pending" and errors[-1] == "slow_down", errors
    # The person types the code in lower case, and denies: the terminal hears so at its next poll.
    assert approve(gateway.url, start["user_code"].lower(), PERSON, PASSWORD, "deny").status_code == 200
    assert httpx.post(f"{gateway.url}/token", data=poll).json()["error"] == "access_denied"
    assert httpx.post(f"{gateway.url}/token", data=poll).json()["error"] == "invalid_grant"  # spent


def test_browser_login_uses_pkce_with_a_loopback_redirect(gateway, cli_env):
    proc, line = login_in_background({**cli_env, "BROWSER": "true"}, "--browser")
    url = line.split("Sign in in your browser: ", 1)[1].strip()
    assert "code_challenge_method=S256" in url and "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in url
    with httpx.Client(timeout=30) as browser:
        form = browser.get(url)
        assert form.status_code == 200 and 'name="password"' in form.text
        params = dict(httpx.URL(url).params)
        answered = browser.post(url.split("?")[0], data={**params, "username": PERSON, "password": PASSWORD})
        assert answered.status_code == 303
        back = browser.get(answered.headers["location"])  # the redirect, to the CLI's own loopback server
    assert back.status_code == 200 and "Signed in" in back.text
    assert f"signed in as {PERSON}" in finished(proc)


def test_refresh_tokens_rotate_and_a_spent_one_ends_the_sign_in(gateway, cli_env, tmp_path):
    from vsmesh.cli.session import fresh, signed_in
    from vsmesh.settings import Settings

    config = tmp_path / "config"
    first = sign_in(gateway.url, config, PERSON, PASSWORD)
    settings = Settings(config_dir=config, gateway_url=gateway.url)
    renewed = fresh(settings, first, force=True)  # what a command does when the access token is near its end
    assert renewed.refresh_token != first.refresh_token and renewed.access_token != first.access_token
    assert renewed.auth_time == first.auth_time  # a refresh renews access, never the password's freshness
    assert signed_in(settings).refresh_token == renewed.refresh_token  # kept at once
    # The spent token is refused, and its reuse ends the whole sign-in: the new one is refused too.
    for token, reason in ((first.refresh_token, "already used"), (renewed.refresh_token, "unknown")):
        answer = httpx.post(f"{gateway.url}/token", data={"grant_type": "refresh_token", "refresh_token": token,
                                                          "client_id": "vsmesh-cli"})  # fmt: skip
        assert answer.status_code == 400 and reason in answer.json()["error_description"], answer.text
    with pytest.raises(Unauthorized, match="sign in again"):
        fresh(settings, renewed, force=True)


def people_publish(gateway, token: str, event_type: str, hub: str, data: dict) -> httpx.Response:
    """The gateway's people's write, as `vsmesh publish` sends it (straight over HTTP: no process start)."""
    body = {"type": event_type, "hub": hub, "subject": "mandate/nobody", "data": [data]}
    return httpx.post(f"{gateway.url}/people/publish", json=body, headers={"Authorization": f"Bearer {token}"})


def test_governance_needs_a_fresh_password(gateway, cli_env, settings):
    config = Path(cli_env["VSMESH_CONFIG_DIR"])
    revocation = {"mandate_id": str(uuid.uuid4()), "reason": "test"}
    revoke = ("publish", "canon-mandate-revoked", "--hub", "canon-hub", "--subject", "mandate/nobody",
              "--data", json.dumps(revocation), "--json")  # fmt: skip
    # Nobody signed in: refused before anything is sent, naming the step-up.
    alone = vsmesh(cli_env, *revoke)
    assert alone.exit_code == 1 and "needs a signed-in person: run `vsmesh login --step-up`" in error_line(alone)

    # Signed in long ago (the issuer's own token of a password entered ten minutes back, as a session an agent
    # kept refreshing would hold): the gateway refuses, one line naming the step-up, and records the attempt.
    session = sign_in(gateway.url, config, PERSON, PASSWORD)
    stale = gateway.issuer().mint(subject=PERSON, name=PERSON, client_id="vsmesh-cli", actor_kind="human",
                                  auth_time=int(time.time()) - 600)  # fmt: skip
    save(Settings(config_dir=config), msgspec.structs.replace(session, access_token=stale))
    refused = vsmesh(cli_env, *revoke)
    assert refused.exit_code == 1
    assert f"needs a password entered within the last {STEP_UP_S} s; {PERSON} entered it 6" in error_line(refused)
    assert error_line(refused).endswith("run `vsmesh login --step-up`")
    assert people_publish(gateway, stale, "canon-mandate-revoked", "canon-hub", revocation).status_code == 403

    # The step-up: the password again; the new token is fresh, the same write is allowed.
    proc, line = login_in_background(cli_env, "--step-up")
    assert approve(gateway.url, USER_CODE.search(line).group(1), PERSON, PASSWORD).status_code == 200
    finished(proc)
    allowed = vsmesh(cli_env, *revoke)
    assert allowed.exit_code == 0, allowed.stderr
    event = read_event(settings, "CONSTITUTIONAL", json.loads(allowed.stdout)["seq"])
    assert (event["type"], event["actor"], event["actorkind"]) == ("canon-mandate-revoked", PERSON, "human")
    refusal = refusals_of(settings, PERSON, 1)[-1]
    assert refusal["data"]["operation"] == "publish canon-mandate-revoked" and "--step-up" in refusal["data"]["reason"]


def test_another_os_user_with_an_agents_token_is_refused_everything(gateway, settings, session_dir):
    from vsmesh.bus.creds import creds_path
    from vsmesh.gateway.identity.keys import keys_path

    intruder = f"intruder-{uuid.uuid4().hex[:6]}"
    token = gateway.client_token(intruder, Clients(gateway.data_dir).add_client(intruder, "agent"))
    admin, keys = creds_path(session_dir, "admin"), keys_path(gateway.data_dir)
    assert admin.exists() and keys.exists()
    intruder_refused(settings, gateway.url, admin, keys, intruder, token)
