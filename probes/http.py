"""`http` probes: one request, its status, headers, body, response time and the server's certificate.

Clients are shared by TLS settings, so 500 probes of one host reuse connections instead of a handshake
per probe (bench/probes.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from vsmesh.probes.model import HttpProbe
from vsmesh.probes.observation import Observation, failed
from vsmesh.probes.tls import certificate_facts, verifying_context

BODY_LIMIT = 1 << 20  # conditions read at most this much of a body


class Clients:
    """One httpx client per (verify, CA file); closed together."""

    def __init__(self, limit: int = 100) -> None:
        self._clients: dict[tuple[bool, Path | None], httpx.AsyncClient] = {}
        self._limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)

    def get(self, verify: bool, ca_file: Path | None) -> httpx.AsyncClient:
        key = (verify, ca_file)
        if key not in self._clients:
            tls = verifying_context(ca_file) if verify else False
            self._clients[key] = httpx.AsyncClient(verify=tls, limits=self._limits)
        return self._clients[key]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def _certificate_expiry(response: httpx.Response, host: str) -> dict[str, Any] | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return certificate_facts(der, host) if der else None


async def observe(probe: HttpProbe, clients: Clients, environ: Mapping[str, str]) -> Observation:
    headers = {k: v if isinstance(v, str) else v.reveal(environ) for k, v in probe.headers.items()}
    client = clients.get(probe.verify_tls, probe.ca_file)
    started = time.perf_counter()
    try:
        async with client.stream(
            probe.method,
            probe.url,
            headers=headers,
            content=probe.body,
            follow_redirects=probe.follow_redirects,
            timeout=probe.timeout,
        ) as response:
            cert = _certificate_expiry(response, response.url.host)
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= BODY_LIMIT:
                    break
    except httpx.ConnectError as e:
        return failed(f"cannot connect to {probe.url}: {_reason(e)}")
    except httpx.TimeoutException:
        return failed(f"no answer from {probe.url} within {probe.timeout:g} s")
    except httpx.HTTPError as e:
        return failed(f"{probe.method} {probe.url} failed: {_reason(e)}")
    elapsed_ms = (time.perf_counter() - started) * 1000
    values: dict[str, Any] = {
        "CONNECTED": True,
        "STATUS": response.status_code,
        "HEADER": dict(response.headers),
        "BODY": body[:BODY_LIMIT].decode(response.encoding or "utf-8", errors="replace"),
        "RESPONSE_TIME": round(elapsed_ms, 2),
    }
    detail: dict[str, Any] = {}
    if cert:
        values["CERTIFICATE_EXPIRATION"] = cert["seconds_left"]
        detail["tls_expires_at"] = cert["expires_at"]
    return Observation(values, detail=detail)


def _reason(error: Exception) -> str:
    # httpx wraps the socket's error; its text names the cause (refused, certificate verify failed …).
    return str(error) or type(error).__name__
