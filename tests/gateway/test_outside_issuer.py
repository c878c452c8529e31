"""vsmesh against a real outside issuer: panva's oidc-provider, a certified OpenID Provider, set up as vsmesh's
Keycloak realm would be (outside_provider.py, tests/outside_issuer/provider.mjs) and served over HTTPS with a
certificate of the test's own CA; a gateway with `VSMESH_OIDC_ISSUER` naming it, on the session's nats-server.
`vsmesh login --issuer URL` (device grant, PKCE), refresh, step-up and logout; the pages' sign-in; an agent's and a
service's client credentials. The person approves on the provider's own pages; nothing here mints a token.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest
from joserfc import jws

from tests.conftest import server_dir
from tests.gateway.issuer_gateway import IssuerGateway, people_writes, start_gateway
from tests.gateway.outside_provider import Browser, Tls, make_tls, provider
from tests.gateway.people_cli import (
    error_line,
    finished,
    login_in_background,
    publish_claiming_another,
    read_event,
    vsmesh,
)
from tests.signing_in import USER_CODE
from vsmesh.cli.session import Session, begin, fresh, signed_in
from vsmesh.errors import Unauthorized
from vsmesh.gateway.identity import person_token
from vsmesh.gateway.identity.clients import AgentCredentials
from vsmesh.gateway.identity.issuer import PAGES_CALLBACK, PAGES_CLIENT
from vsmesh.gateway.identity.service_identity import service_identity
from vsmesh.gateway.identity.signin import SESSION_COOKIE, SignIn
from vsmesh.gateway.identity.verify import TokenVerifier
from vsmesh.gateway.server import bind
from vsmesh.settings import Settings

PERSON, PASSWORD = "ada", "correct horse battery"
AGENT = ("release-bot", "s3cret-of-the-agent")
SERVICE = ("vsmesh-probes", "s3cret-of-the-probes")
CONFIDENTIAL = {AGENT[0]: (AGENT[1], "agent"), SERVICE[0]: (SERVICE[1], "service")}
STEP_UP_S = 6  # short: the first sign-in goes stale in the test; enough for a loaded machine to use the step-up


@dataclass(frozen=True)
class Outside:
    issuer: str
    gateway: IssuerGateway
    tls: Tls

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.tls.ca_file)


async def people_and_pages_sign_in(settings: Settings, verifier: TokenVerifier, stack) -> list:
    """People's writes, and the pages' sign-in at the outside issuer (as `vsmesh up` serves them)."""
    sign_in = SignIn(verifier.issuer, verifier, local_issuer=False)
    return [*await people_writes(settings, verifier, stack), *sign_in.routes()]


@pytest.fixture(scope="module")
def outside(mesh_env, streams, tmp_path_factory) -> Iterator[Outside]:
    """The provider and a gateway relying on it: the provider's socket is made first (the gateway must name
    its issuer), the gateway next (the provider's access tokens name the gateway as their audience)."""
    here = tmp_path_factory.mktemp("outside-issuer")
    tls = make_tls(here)
    sock = bind("127.0.0.1", 0, who="the outside issuer")
    issuer = f"https://127.0.0.1:{sock.getsockname()[1]}"
    path = server_dir()

    env = {**mesh_env, "VSMESH_OIDC_ISSUER": issuer, "VSMESH_STEP_UP_S": str(STEP_UP_S)}
    # The gateway trusts the issuer's CA as a deployment would, by the standard variable its HTTP client reads.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(tls.ca_file))
        started = start_gateway(path, env, routes=people_and_pages_sign_in)
        gateway = next(started)
    try:
        with provider(sock, tls, gateway.url, {PERSON: PASSWORD}, CONFIDENTIAL, here / "provider.log") as served:
            sock.close()  # the provider holds it now
            yield Outside(served, gateway, tls)
    finally:
        sock.close()
        started.close()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cli_env(outside: Outside, tmp_path) -> dict[str, str]:
    """A user's shell: the gateway's URL and step-up window, the issuer's CA trusted, a config dir of its own, no
    mesh here."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")},
        "VSMESH_GATEWAY_URL": outside.gateway.url,
        "VSMESH_CONFIG_DIR": str(tmp_path / "config"),
        "VSMESH_DATA_DIR": str(tmp_path / "no-mesh-here"),
        "VSMESH_LOG_FORMAT": "json",
        "VSMESH_STEP_UP_S": str(STEP_UP_S),  # as the gateway's: what `whoami` and a step-up hold the sign-in to
        "SSL_CERT_FILE": str(outside.tls.ca_file),
    }


@pytest.fixture
def browser(outside: Outside) -> Iterator[Browser]:
    opened = Browser(outside.tls.ca_file)
    yield opened
    opened.close()


def device_login(outside: Outside, browser: Browser, env: dict[str, str], *args: str) -> bool:
    """`vsmesh login --issuer URL ARGS` by the device grant, approved in `browser`; whether the password was
    asked."""
    return approve_login(browser, *login_in_background(env, "--issuer", outside.issuer, *args))


def approve_login(browser: Browser, proc: subprocess.Popen, line: str) -> bool:
    """The person approves, in `browser`, the code a running `vsmesh login` showed (`line`); whether the password
    was asked."""
    url = line.split("open ", 1)[1].split()[0]
    asked, page = browser.approve_device(url, USER_CODE.search(line).group(1), PERSON, PASSWORD)
    assert "Sign-in Success" in page.text, page.text[:500]
    assert f"signed in as {PERSON}" in finished(proc)
    return asked


def auth_time(token: str) -> int:
    return json.loads(jws.extract_compact(token.encode()).payload)["auth_time"]


def test_a_person_signs_in_at_the_outside_issuer_and_governs_after_a_step_up(
    outside, cli_env, browser, settings, monkeypatch
):
    # The device grant, approved on the provider's own pages: the person's password is asked and checked.
    assert device_login(outside, browser, cli_env)
    who = json.loads(vsmesh(cli_env, "whoami", "--json").stdout)
    assert (who["subject"], who["kind"], who["issuer"]) == (PERSON, "human", outside.issuer)

    # A write is stored as the verified person, whatever the shell says.
    _, event = publish_claiming_another(cli_env, settings, "outside")
    assert (event["actor"], event["actorkind"], event["source"]) == (PERSON, "human", "vsmesh/gateway")

    # A refresh rotates the refresh token (refresh_rotates).
    monkeypatch.setenv("SSL_CERT_FILE", cli_env["SSL_CERT_FILE"])  # the CLI's refresh, here in the test's process
    config = Settings(
        config_dir=Path(cli_env["VSMESH_CONFIG_DIR"]), gateway_url=outside.gateway.url, step_up_s=STEP_UP_S
    )
    first = signed_in(config)
    refresh_rotates(outside, config, first)

    # The person starts the step-up now (the command's start overlaps the wait below); it is approved after it.
    with ThreadPoolExecutor(1) as pool:
        step_up = pool.submit(login_in_background, cli_env, "--issuer", outside.issuer, "--step-up")
        # Once the sign-in is older than the step-up window, governance is refused, one line naming the step-up.
        time.sleep(max(0.0, first.auth_time + STEP_UP_S + 1 - time.time()))  # the clock, not a server, is waited on
        revocation = {"mandate_id": str(uuid.uuid4()), "reason": "outside issuer test"}
        revoke = ("publish", "canon-mandate-revoked", "--hub", "canon-hub", "--subject", "mandate/nobody",
                  "--data", json.dumps(revocation), "--json")  # fmt: skip
        refused = vsmesh(cli_env, *revoke)
        assert refused.exit_code == 1
        assert f"needs a password entered within the last {STEP_UP_S} s; {PERSON} entered it" in error_line(refused)

        # Without asking for a fresh sign-in, the provider reuses the browser's session: that is no step-up.
        a_reused_session_is_no_step_up(outside, browser, config, first.auth_time)

        # The step-up asks for a sign-in a second old (max_age): the password is asked again, and the new token's
        # auth_time allows the same write.
        assert approve_login(browser, *step_up.result(60))
    allowed = vsmesh(cli_env, *revoke)
    assert allowed.exit_code == 0, allowed.stderr
    event = read_event(settings, "CONSTITUTIONAL", json.loads(allowed.stdout)["seq"])
    assert (event["type"], event["actor"], event["actorkind"]) == ("canon-mandate-revoked", PERSON, "human")


def refresh_rotates(outside: Outside, config: Settings, first: Session) -> None:
    """A refresh rotates the refresh token and keeps when the password was entered; the spent one is refused,
    and its reuse ends the whole sign-in."""
    renewed = fresh(config, first, force=True)
    assert renewed.refresh_token != first.refresh_token and renewed.access_token != first.access_token
    assert auth_time(renewed.access_token) == auth_time(first.access_token) == first.auth_time
    assert signed_in(config).refresh_token == renewed.refresh_token
    form = {"grant_type": "refresh_token", "refresh_token": first.refresh_token, "client_id": "vsmesh-cli"}
    spent = httpx.post(renewed.endpoints.token_endpoint, data=form, verify=outside.trust())
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant", spent.text
    with pytest.raises(Unauthorized, match="the issuer refused"):
        fresh(config, renewed, force=True)


def a_reused_session_is_no_step_up(outside: Outside, browser: Browser, config: Settings, signed_in_at: int) -> None:
    """A sign-in that asks for no fresh password, approved in the browser that holds a session at the provider:
    no password is asked, the token keeps the old auth_time, and a step-up refuses to keep it."""
    endpoints = person_token.discover(outside.issuer, outside.gateway.url)
    started = person_token.start_device(endpoints)
    asked, _ = browser.approve_device(started.verification_uri, started.user_code, PERSON, PASSWORD)
    assert not asked
    reused = person_token.poll_device(endpoints, started)
    assert auth_time(reused.access_token) == signed_in_at
    with pytest.raises(Unauthorized, match="did not ask for the password again"):
        begin(config, endpoints, outside.gateway.url, reused, step_up=True)


def test_a_person_signs_in_to_the_pages_at_the_outside_issuer(outside, browser):
    # The gateway's sign-in sends the browser to the provider's login page, and the code back to its callback.
    page = browser.open(f"{outside.gateway.url}/signin?next=/healthz")
    assert page.url.host == "127.0.0.1" and str(page.url).startswith(outside.issuer), page.url
    assert 'name="password"' in page.text
    back = browser.submit(page, login=PERSON, password=PASSWORD)
    assert [str(r.url).split("?")[0] for r in back.history][-1] == f"{outside.gateway.url}{PAGES_CALLBACK}"
    # The session cookie holds the provider's token for the gateway, which takes it for the person.
    token = browser.http.cookies.get(SESSION_COOKIE)
    assert token, back.text[:500]
    me = outside.gateway.whoami(token).json()
    assert (me["subject"], me["kind"], me["client_id"]) == (PERSON, "human", PAGES_CLIENT)


def credentials_file(outside: Outside, path: Path, client: tuple[str, str], kind: str) -> Path:
    """The credentials file of a client made at the outside issuer, written as the README says (`vsmesh agent add`
    writes none for an outside issuer)."""
    stored = AgentCredentials(
        client_id=client[0], client_secret=client[1], token_url=f"{outside.issuer}/token", issuer=outside.issuer,
        kind=kind,
    )  # fmt: skip
    path.write_bytes(msgspec.json.encode(stored))
    return path


def test_an_agents_token_from_the_outside_issuer_is_refused_at_people(outside, cli_env, tmp_path):
    # `vsmesh gateway token` at the provider (client credentials, for the gateway's resource): the gateway takes
    # the JWT for the agent its actor_kind says.
    creds = credentials_file(outside, tmp_path / "release-bot.json", AGENT, "agent")
    printed = vsmesh(cli_env, "gateway", "token", AGENT[0], "--creds", str(creds))
    assert printed.exit_code == 0, printed.stderr
    token = printed.stdout.strip()
    assert outside.gateway.whoami(token).json() == {
        "subject": AGENT[0], "kind": "agent", "name": AGENT[0], "client_id": AGENT[0], "scopes": [],
    }  # fmt: skip
    # Agents write through MCP, under their mandates: never at /people.
    body = {"type": "ops-health-checked", "hub": "ops-hub", "subject": "service/x", "data": [{"status": "green"}]}
    refused = httpx.post(
        f"{outside.gateway.url}/people/publish", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 403 and refused.json()["message"].startswith("refused: agents write through MCP")


async def test_a_service_proves_its_identity_with_the_outside_issuer(outside, tmp_path, monkeypatch):
    """What `vsmesh up` does for its probe runner, hooks and notifier with an outside issuer."""
    monkeypatch.setenv("SSL_CERT_FILE", str(outside.tls.ca_file))
    creds = credentials_file(outside, tmp_path / "vsmesh-probes.json", SERVICE, "service")
    who = await service_identity(outside.gateway.config, SERVICE[0], creds=creds)
    assert (who.subject, who.kind) == (SERVICE[0], "service")


def test_an_issuer_whose_certificate_is_not_trusted_is_named_with_the_fix(outside, cli_env):
    """Not "is it running?": the issuer answers, on a CA this shell does not trust."""
    untrusting = {k: v for k, v in cli_env.items() if k != "SSL_CERT_FILE"}
    failed = vsmesh(untrusting, "login", "--issuer", outside.issuer)
    assert failed.exit_code == 1
    line = error_line(failed)
    assert f"cannot reach {outside.issuer}/.well-known/openid-configuration: its certificate is not trusted" in line
    assert line.endswith("set SSL_CERT_FILE to a file holding it")


def test_browser_login_at_the_outside_issuer_uses_pkce_with_a_loopback_redirect(outside, cli_env, browser):
    proc, line = login_in_background({**cli_env, "BROWSER": "true"}, "--issuer", outside.issuer, "--browser")
    url = line.split("Sign in in your browser: ", 1)[1].strip()
    assert url.startswith(f"{outside.issuer}/auth?") and "code_challenge_method=S256" in url
    # The provider's sign-in page; the code goes back to the terminal's own loopback port, and only the verifier
    # the terminal kept turns it into tokens.
    page = browser.open(url)
    assert 'name="password"' in page.text, page.text[:500]
    back = browser.submit(page, login=PERSON, password=PASSWORD)
    assert back.url.host == "127.0.0.1" and back.url.path == "/callback" and "Signed in" in back.text
    assert f"signed in as {PERSON}" in finished(proc)
    who = json.loads(vsmesh(cli_env, "whoami", "--json").stdout)
    assert (who["subject"], who["kind"], who["issuer"]) == (PERSON, "human", outside.issuer)

    # Signed out, the provider has revoked the sign-in: its refresh token no longer works.
    session = json.loads((Path(cli_env["VSMESH_CONFIG_DIR"]) / "session.json").read_text())
    assert vsmesh(cli_env, "logout").stdout.strip() == f"signed out {PERSON}"
    form = {"grant_type": "refresh_token", "refresh_token": session["refresh_token"], "client_id": "vsmesh-cli"}
    again = httpx.post(f"{outside.issuer}/token", data=form, verify=outside.trust())
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
