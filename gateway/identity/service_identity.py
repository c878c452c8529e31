"""A service's identity from the gateway's issuer: the actor of what a program inside the mesh publishes
(the probe runner), proven by a token like an agent's, not a name the program gives itself.

    principal = await service_identity(config, "vsmesh-probes", register=True)

The service's client credentials live in `<data dir>/agents/NAME.json` (0600, as `vsmesh agent add NAME
--kind service` writes them). With the local issuer and `register`, a missing client is registered here
(`vsmesh up` does so for its probe runner); with an outside issuer (Keycloak) the file must exist. A token
is then obtained by client credentials at the issuer's token endpoint (found through its discovery
document) and verified like any caller's: the identity is the verified token's subject and actor kind.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import structlog

from vsmesh.bus.creds import write_private
from vsmesh.errors import ConfigError, Unauthorized
from vsmesh.gateway.identity.clients import AgentCredentials, Clients, credentials_path
from vsmesh.gateway.identity.config import GatewayConfig, make_verifier
from vsmesh.gateway.identity.principal import Principal

log = structlog.get_logger(__name__)


async def service_identity(
    config: GatewayConfig, name: str, *, creds: Path | None = None, register: bool = False
) -> Principal:
    """The verified identity of service `name`; ConfigError naming what to do when it cannot be had."""
    path = creds or credentials_path(config.data_dir, name)
    stored = _credentials(config, name, path, register)
    async with httpx.AsyncClient(timeout=10.0) as http:
        token = await _token(http, config, stored)
    verifier = make_verifier(config)
    try:
        principal = await verifier.verify(token)
    except Unauthorized as e:
        raise ConfigError(f"the issuer's token for {name} does not verify at this gateway: {e}") from None
    finally:
        await verifier.aclose()
    if principal.kind != "service":
        raise ConfigError(
            f"client {principal.subject!r} is registered as {principal.kind}, not as a service;"
            f" `vsmesh agent remove {name}` and `vsmesh agent add {name} --kind service`"
        )
    log.info("service identity verified", service=name, actor=principal.subject, kind=principal.kind)
    return principal


def _credentials(config: GatewayConfig, name: str, path: Path, register: bool) -> AgentCredentials:
    if path.exists():
        return msgspec.json.decode(path.read_bytes(), type=AgentCredentials)
    if not (register and config.local_issuer):
        raise ConfigError(
            f"no credentials for service {name} at {path}: `vsmesh agent add {name} --kind service` on the mesh's"
            " data dir writes them (with an outside issuer, create the client there and write that file)"
        )
    clients = Clients(config.data_dir)
    if name in clients.load().clients:  # registered, but its secret (kept only hashed) is lost with the file
        clients.remove_client(name)
    secret = clients.add_client(name, "service")
    stored = AgentCredentials(
        client_id=name, client_secret=secret, token_url=f"{config.issuer}/token", issuer=config.issuer, kind="service"
    )
    write_private(path, msgspec.json.format(msgspec.json.encode(stored)) + b"\n")
    log.info("service client registered", service=name, credentials=str(path))
    return stored


async def _token(http: httpx.AsyncClient, config: GatewayConfig, stored: AgentCredentials) -> str:
    """An access token for this gateway (RFC 8707 `resource`: an issuer that follows it makes a JWT for the gateway
    only when asked) by client credentials at the token endpoint the issuer's discovery names."""
    issuer = config.issuer
    form = {"grant_type": "client_credentials", "resource": config.audience}
    try:
        discovery = (await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")).raise_for_status()
        url = discovery.json()["token_endpoint"]
        answer = await http.post(url, data=form, auth=(stored.client_id, stored.client_secret))
    except (httpx.HTTPError, ValueError, KeyError) as e:
        raise ConfigError(f"cannot get a token from the issuer {issuer} ({type(e).__name__}); is it running?") from None
    if answer.status_code != 200:
        body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        reason = body.get("error_description") or body.get("error") or f"HTTP {answer.status_code}"
        raise ConfigError(f"the issuer refused a token to {stored.client_id}: {reason}")
    return answer.json()["access_token"]
