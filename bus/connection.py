"""Connecting to NATS with errors a person can act on."""

from __future__ import annotations

from nats.aio.client import Client
from nats.errors import Error as NatsError

from vsmesh.errors import MeshNotRunning
from vsmesh.settings import Settings


async def connect(settings: Settings, *, name: str = "vsmesh") -> Client:
    """Connect to the mesh's NATS; a missing server or refused login is one clear `MeshNotRunning`.

    The first connect tries once; after that the client reconnects forever (a NATS restart must
    not stop a projector).
    """
    if not settings.nats_url:
        raise MeshNotRunning(f"no mesh found in {settings.data_dir}: start one with `vsmesh up` or set VSMESH_NATS_URL")
    nc = Client()
    seen: list[Exception] = []

    async def remember(error: Exception) -> None:
        # nats-py would print every reconnect attempt; we keep them to explain a failed connect.
        seen.append(error)

    try:
        await nc.connect(
            # A cluster is a comma-separated list; the client fails over between them.
            [u.strip() for u in settings.nats_url.split(",") if u.strip()],
            name=name,
            user=settings.nats_user,
            password=settings.nats_password,
            connect_timeout=settings.connect_timeout,
            reconnect_time_wait=0.5,
            max_reconnect_attempts=1,  # 0 would mean "forever" to nats-py
            error_cb=remember,
        )
    except (NatsError, OSError, TimeoutError) as e:
        if any("authorization" in str(err).lower() for err in [*seen, e]):
            raise MeshNotRunning(
                f"NATS at {settings.nats_url} refused the login: check VSMESH_NATS_USER and VSMESH_NATS_PASSWORD"
            ) from e
        raise MeshNotRunning(
            f"cannot reach NATS at {settings.nats_url}: is the mesh up (`vsmesh up`) or VSMESH_NATS_URL right?"
        ) from e
    nc.options["max_reconnect_attempts"] = -1
    return nc
