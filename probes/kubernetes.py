"""`kubernetes` probes: the API server's /readyz and /livez and how many nodes are Ready, with a bearer token.

The server, its CA and the token come from the probe (`api`, `ca_file`, `token`) or from a kubeconfig's
current context; a token is read when the probe runs and never reaches an event.
"""

from __future__ import annotations

import base64
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from vsmesh.errors import ConfigError
from vsmesh.probes.model import KubernetesProbe
from vsmesh.probes.observation import Observation, failed


def _current(config: dict[str, Any], section: str, name: str | None) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if entry.get("name") == name:
            return entry.get(section.rstrip("s")) or {}
    return {}


def from_kubeconfig(path: Path) -> tuple[str, str | None, str | None]:
    """(server, CA PEM, token) of the kubeconfig's current context; ConfigError when it has none."""
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read kubeconfig {path}: {e}") from None
    context = _current(config, "contexts", config.get("current-context"))
    cluster = _current(config, "clusters", context.get("cluster"))
    user = _current(config, "users", context.get("user"))
    if not cluster.get("server"):
        raise ConfigError(f"kubeconfig {path} has no server for its current context; set current-context")
    ca = cluster.get("certificate-authority-data")
    ca_pem = base64.b64decode(ca).decode() if ca else None
    if ca_pem is None and cluster.get("certificate-authority"):
        ca_pem = Path(cluster["certificate-authority"]).read_text()
    return cluster["server"], ca_pem, user.get("token")


def _client(probe: KubernetesProbe, environ: Mapping[str, str]) -> tuple[httpx.AsyncClient, str]:
    server, ca_pem, token = probe.api, None, None
    if probe.kubeconfig is not None:
        server, ca_pem, token = from_kubeconfig(probe.kubeconfig)
        server = probe.api or server
    if probe.token is not None:
        token = probe.token.reveal(environ)
    if not probe.verify_tls:
        verify: ssl.SSLContext | bool = False
    else:
        verify = ssl.create_default_context(
            cafile=str(probe.ca_file) if probe.ca_file else None, cadata=None if probe.ca_file else ca_pem
        )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=str(server), verify=verify, headers=headers, timeout=probe.timeout), str(server)


def _ready_nodes(body: dict[str, Any]) -> tuple[int, int]:
    ready = 0
    items = body.get("items") or []
    for node in items:
        conditions = (node.get("status") or {}).get("conditions") or []
        ready += any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ready, len(items) - ready


async def observe(probe: KubernetesProbe, environ: Mapping[str, str]) -> Observation:
    client, server = _client(probe, environ)
    started = time.perf_counter()
    try:
        async with client:
            readyz = await client.get("/readyz")
            elapsed_ms = (time.perf_counter() - started) * 1000
            livez = await client.get("/livez")
            nodes = await client.get("/api/v1/nodes")
    except httpx.TimeoutException:
        return failed(f"no answer from {server} within {probe.timeout:g} s")
    except httpx.HTTPError as e:
        return failed(f"cannot reach the API server {server}: {e}")
    values: dict[str, Any] = {
        "CONNECTED": True,
        "READYZ": readyz.status_code,
        "LIVEZ": livez.status_code,
        "RESPONSE_TIME": round(elapsed_ms, 2),
    }
    error = None
    if nodes.status_code == 200:
        values["NODES_READY"], values["NODES_NOT_READY"] = _ready_nodes(nodes.json())
    else:
        error = f"listing nodes answered {nodes.status_code} (may the token list nodes?)"
    return Observation(values, error=error)
