"""What the gateway's identity rests on: where it answers, whose tokens it takes and for which audience, and
whether it is its own issuer; and the token verifier that follows from it.

    config = GatewayConfig.of(settings, url_of(sock))
    verifier = make_verifier(config)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vsmesh.gateway.identity.clients import Clients
from vsmesh.gateway.identity.issuer import IssuerConfig
from vsmesh.gateway.identity.verify import TokenVerifier
from vsmesh.settings import Settings


@dataclass(frozen=True)
class GatewayConfig:
    url: str  # where this gateway answers, e.g. http://127.0.0.1:8471
    issuer: str  # the OIDC issuer whose tokens it accepts
    audience: str  # the `aud` its tokens must carry: this gateway's resource URL
    data_dir: Path
    token_ttl_s: int
    refresh_ttl_s: int
    device_poll_s: float
    local_issuer: bool  # serve the issuer here (no VSMESH_OIDC_ISSUER)

    @classmethod
    def of(cls, settings: Settings, url: str) -> GatewayConfig:
        url = url.rstrip("/")
        return cls(
            url=url,
            issuer=(settings.oidc_issuer or url).rstrip("/"),
            audience=settings.oidc_audience or url,
            data_dir=settings.data_dir.resolve(),
            token_ttl_s=settings.token_ttl_s,
            refresh_ttl_s=settings.refresh_ttl_s,
            device_poll_s=settings.device_poll_s,
            local_issuer=settings.oidc_issuer is None,
        )

    def issuer_config(self) -> IssuerConfig:
        return IssuerConfig(
            issuer=self.issuer,
            audience=self.audience,
            data_dir=self.data_dir,
            token_ttl_s=self.token_ttl_s,
            refresh_ttl_s=self.refresh_ttl_s,
            device_poll_s=self.device_poll_s,
        )


def make_verifier(config: GatewayConfig) -> TokenVerifier:
    """The verifier of this gateway's tokens; a token without `actor_kind` is an agent's if `vsmesh agent add`
    registered its client."""
    return TokenVerifier(
        config.issuer, config.audience, gateway_url=config.url, is_agent_client=Clients(config.data_dir).is_agent
    )
