"""`http` probes: one request, its status, headers, body, response time and the server's certificate.

Each probe has a client of its own that keeps its connection alive between runs (Clients below).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from vsmesh.probes.model import HttpProbe
from vsmesh.probes.observation import Observation, failed
from vsmesh.probes.tls import certificate_facts, verifying_context

BODY_LIMIT = 1 << 20  # conditions read at most this much of a body


class Clients:
    """One small httpx client per probe, sharing TLS contexts by (verify, CA file); closed together.

    Not one shared pool: httpcore's pool scans every connection for every queued request, and with 500
    probes on one pool that scan took half the runner's CPU (docs/performance.md §Probes). A probe's own
    client keeps its one connection alive between runs instead.
    """

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._tls: dict[tuple[bool, Path | None], ssl.SSLContext | bool] = {}

    def get(self, probe: HttpProbe) -> httpx.AsyncClient:
        client = self._clients.get(probe.name)
        if client is None:
            key = (probe.verify_tls, probe.ca_file)
            if key not in self._tls:  # a context loads the CA store: once, not per probe
                self._tls[key] = verifying_context(probe.ca_file) if probe.verify_tls else False
            limits = httpx.Limits(max_connections=2, max_keepalive_connections=1)
            client = self._clients[probe.name] = httpx.AsyncClient(verify=self._tls[key], limits=limits)
        return client

    def prepare(self, probes: Iterable[HttpProbe]) -> None:
        """Build these probes' clients now: the first one loads the CA store (0.05-0.25 s of blocked loop),
        which, inside the first probe's slot, made every probe due meanwhile start at once (no jitter left)."""
        for probe in probes:
            self.get(probe)

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
    client = clients.get(probe)
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
