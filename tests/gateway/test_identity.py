"""The identity plane over real HTTP: the local issuer, the verifier, and the 401s an MCP client expects."""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import time
import urllib.parse

import httpx
import msgspec
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.conftest import server_dir
from tests.gateway.issuer_gateway import IssuerGateway, start_gateway
from vsmesh.errors import Unauthorized
from vsmesh.gateway.identity.clients import Clients
from vsmesh.gateway.identity.keys import drop_retired, rotate
from vsmesh.gateway.identity.verify import TokenVerifier

METADATA = '/.well-known/oauth-protected-resource"'


def challenge(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    return response.headers["www-authenticate"]


def assert_invalid_token(response: httpx.Response, reason: str) -> None:
    value = challenge(response)
    assert value.startswith('Bearer resource_metadata="http://127.0.0.1:') and METADATA in value
    assert 'error="invalid_token"' in value and reason in value, value


def test_discovery_and_jwks_describe_the_issuer(issuer_gateway: IssuerGateway):
    discovery = httpx.get(f"{issuer_gateway.url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == issuer_gateway.url
    assert discovery["token_endpoint"] == f"{issuer_gateway.url}/token"
    assert "S256" in discovery["code_challenge_methods_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(discovery["token_endpoint_auth_methods_supported"])
    keys = httpx.get(discovery["jwks_uri"]).json()["keys"]
    assert keys and all(k["kty"] == "EC" and "d" not in k for k in keys)  # public halves only
    resource = httpx.get(f"{issuer_gateway.url}/.well-known/oauth-protected-resource").json()
    assert resource["authorization_servers"] == [issuer_gateway.url] and resource["resource"] == issuer_gateway.url


async def test_a_client_credentials_token_verifies_as_the_agent(issuer_gateway: IssuerGateway, agent):
    client_id, secret = agent
    # client_secret_basic and client_secret_post both work
    basic = issuer_gateway.client_token(client_id, secret)
    async with httpx.AsyncClient(base_url=issuer_gateway.url) as http:
        post = await http.post(
            "/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        )
        jwks = (await http.get("/jwks")).json()
    assert post.status_code == 200 and post.json()["token_type"] == "Bearer"
    assert post.json()["expires_in"] == 600
    claims = jwt.decode(basic, ECKey.import_key(jwks["keys"][-1])).claims
    assert {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "name", "actor_kind"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 600

    verifier = TokenVerifier(issuer_gateway.url, issuer_gateway.url, gateway_url=issuer_gateway.url)
    principal = await verifier.verify(post.json()["access_token"])
    assert (principal.subject, principal.kind, principal.client_id) == (client_id, "agent", client_id)
    await verifier.aclose()
    assert issuer_gateway.whoami(basic).json() == {
        "subject": client_id,
        "kind": "agent",
        "name": client_id,
        "client_id": client_id,
        "scopes": [],
    }


def test_a_wrong_secret_or_unknown_client_gets_no_token(issuer_gateway: IssuerGateway, agent):
    client_id, _ = agent
    for who, secret in ((client_id, "not-the-secret"), ("nobody", "whatever")):
        answer = httpx.post(
            f"{issuer_gateway.url}/token", data={"grant_type": "client_credentials"}, auth=(who, secret)
        )
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_no_token_gets_a_challenge_without_error(issuer_gateway: IssuerGateway):
    value = challenge(issuer_gateway.whoami(None))
    assert value == f'Bearer resource_metadata="{issuer_gateway.url}/.well-known/oauth-protected-resource"'
    value = challenge(httpx.get(f"{issuer_gateway.url}/whoami", headers={"Authorization": "Basic eDp5"}))
    assert "error=" not in value


def test_expired_tokens_are_refused(issuer_gateway: IssuerGateway, agent):
    old = issuer_gateway.issuer().mint(subject=agent[0], name=agent[0], client_id=agent[0], actor_kind="agent", now=0)
    assert_invalid_token(issuer_gateway.whoami(old), "expired")
    early = issuer_gateway.issuer().mint(
        subject=agent[0], name=agent[0], client_id=agent[0], actor_kind="agent", now=time.time() + 3600
    )
    assert_invalid_token(issuer_gateway.whoami(early), "not valid yet")


def test_a_tampered_token_is_refused(issuer_gateway: IssuerGateway, agent):
    header, payload, signature = issuer_gateway.client_token(*agent).split(".")
    claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"  # the same signature over other claims
    forged = base64.urlsafe_b64encode(msgspec.json.encode(claims)).rstrip(b"=").decode()
    assert_invalid_token(issuer_gateway.whoami(f"{header}.{forged}.{signature}"), "signature")


def test_another_issuer_or_audience_is_refused(issuer_gateway: IssuerGateway, agent):
    name = agent[0]
    # Signed with this gateway's own key, so only the claim is wrong.
    other_iss = issuer_gateway.issuer(issuer="http://elsewhere.example").mint(
        subject=name, name=name, client_id=name, actor_kind="agent"
    )
    assert_invalid_token(issuer_gateway.whoami(other_iss), "wrong iss")
    other_aud = issuer_gateway.issuer(audience="http://other-issuer_gateway.example").mint(
        subject=name, name=name, client_id=name, actor_kind="agent"
    )
    assert_invalid_token(issuer_gateway.whoami(other_aud), "wrong aud")


def test_a_key_the_issuer_never_published_is_refused(issuer_gateway: IssuerGateway):
    stranger = ECKey.generate_key("P-256")
    claims = {"iss": issuer_gateway.url, "aud": issuer_gateway.url, "sub": "x", "exp": int(time.time()) + 60}
    token = jwt.encode({"alg": "ES256", "kid": "not-a-published-key"}, claims, stranger)
    assert_invalid_token(issuer_gateway.whoami(token), "unknown signing key")
    # A symmetric algorithm is refused before any key is looked at (the public key must not be an HMAC secret).
    hs = ".".join(
        base64.urlsafe_b64encode(msgspec.json.encode(part)).rstrip(b"=").decode()
        for part in ({"alg": "HS256", "typ": "JWT"}, claims)
    )
    assert_invalid_token(issuer_gateway.whoami(hs + ".c2ln"), "algorithm")


@pytest.fixture(scope="module")
def rotating():
    """A gateway of its own: rotation changes its keys for every later test."""
    path = server_dir()
    yield from start_gateway(path)
    shutil.rmtree(path, ignore_errors=True)


async def test_rotation_keeps_old_tokens_valid_and_dropping_a_key_refuses_them(rotating: IssuerGateway):
    secret = Clients(rotating.data_dir).add_client("rotating-agent", "agent")
    before = rotating.client_token("rotating-agent", secret)
    assert rotating.whoami(before).status_code == 200  # the app's verifier now caches the first key

    new_kid, kept = rotate(rotating.data_dir, token_ttl_s=600)
    after = rotating.client_token("rotating-agent", secret)
    async with httpx.AsyncClient() as http:
        kids = [k["kid"] for k in (await http.get(f"{rotating.url}/jwks")).json()["keys"]]
    assert new_kid in kids and set(kept) <= set(kids) and len(kids) == 2
    # The new key's token makes the verifier fetch the JWKS again; the old token still holds.
    assert rotating.whoami(after).json()["subject"] == "rotating-agent"
    assert rotating.whoami(before).json()["subject"] == "rotating-agent"

    assert drop_retired(rotating.data_dir) == kept  # a leaked key: published no more
    fresh = TokenVerifier(rotating.url, rotating.url, gateway_url=rotating.url)
    try:
        with pytest.raises(Unauthorized, match="unknown signing key") as refused:
            await fresh.verify(before)
        assert 'error="invalid_token"' in refused.value.challenge and METADATA in refused.value.challenge
        assert (await fresh.verify(after)).subject == "rotating-agent"
    finally:
        await fresh.aclose()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge_ = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge_


def test_a_person_signs_in_with_pkce(issuer_gateway: IssuerGateway):
    Clients(issuer_gateway.data_dir).set_person("ada", "correct horse battery")
    verifier, code_challenge = pkce()
    redirect = "http://127.0.0.1:8765/callback"
    params = {
        "response_type": "code",
        "client_id": "vsmesh-cli",
        "redirect_uri": redirect,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "state": "s-42",
    }
    with httpx.Client(base_url=issuer_gateway.url) as browser:
        # The login page, as a person sees it
        page = browser.get("/authorize", params=params)
        assert page.status_code == 200 and "Sign in to vsmesh" in page.text and 'name="password"' in page.text
        assert page.headers["x-frame-options"] == "DENY"
        # A wrong password: the page again, no code
        wrong = browser.post("/authorize", data={**params, "username": "ada", "password": "nope-nope"})
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        # The right one: back to the client's loopback redirect with a code and the state
        signed_in = browser.post("/authorize", data={**params, "username": "ada", "password": "correct horse battery"})
        assert signed_in.status_code == 303
        location = urllib.parse.urlsplit(signed_in.headers["location"])
        assert location._replace(query="").geturl() == redirect
        query = dict(urllib.parse.parse_qsl(location.query))
        assert query["state"] == "s-42"
        exchange = {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": redirect,
            "client_id": "vsmesh-cli",
        }
        # A wrong verifier burns the code (single use)
        bad = browser.post("/token", data={**exchange, "code_verifier": pkce()[0]})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
        again = browser.post("/token", data={**exchange, "code_verifier": verifier})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

        # A fresh sign-in, exchanged with the right verifier
        signed_in = browser.post("/authorize", data={**params, "username": "ada", "password": "correct horse battery"})
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(signed_in.headers["location"]).query))["code"]
        token = browser.post("/token", data={**exchange, "code": code, "code_verifier": verifier})
        assert token.status_code == 200, token.text
    me = issuer_gateway.whoami(token.json()["access_token"]).json()
    assert (me["subject"], me["kind"], me["client_id"]) == ("ada", "human", "vsmesh-cli")


def test_the_login_page_redirects_only_to_loopback(issuer_gateway: IssuerGateway):
    _, code_challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": "x",
        "redirect_uri": "https://attacker.example/cb",
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    page = httpx.get(f"{issuer_gateway.url}/authorize", params=params)
    assert page.status_code == 400 and "loopback" in page.text
    plain = httpx.get(f"{issuer_gateway.url}/authorize", params={**params, "code_challenge_method": "plain"})
    assert plain.status_code == 400 and "PKCE" in plain.text


def test_the_actor_kind_comes_from_the_claim_else_from_the_registered_client():
    """An outside issuer (Keycloak) without the `actor_kind` mapper: a person, unless the client is an agent."""
    verifier = TokenVerifier(
        "https://kc.example/realms/r", "http://gw", gateway_url="http://gw", is_agent_client={"bot"}.__contains__
    )
    base = {"sub": "f3a1", "preferred_username": "ada"}
    assert verifier.principal({**base, "azp": "web"}).kind == "human"
    assert verifier.principal({**base, "azp": "bot"}).kind == "agent"
    assert verifier.principal({**base, "client_id": "web", "actor_kind": "service"}).kind == "service"
    assert verifier.principal({**base, "azp": "bot", "actor_kind": "superuser"}).kind == "agent"  # not a kind
    assert verifier.principal(base).name == "ada"
