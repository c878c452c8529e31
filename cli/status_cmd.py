"""`vsmesh status`: every stream and every hub's projector position and lag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from vsmesh.bus.connection import connect
from vsmesh.bus.streams import STREAMS
from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json, table
from vsmesh.hubs import HUBS
from vsmesh.projectors.database import check_database, create_engine
from vsmesh.projectors.engine import ensure_schema, positions
from vsmesh.settings import Settings


def status(data_dir: Path | None = DataDir, as_json: bool = Json) -> None:
    """Streams (messages, bytes, sequences, retention) and projectors (position, lag)."""
    settings = settings_from(data_dir)
    result = run(_status(settings))
    if as_json:
        echo_json(result)
        return
    console.print(
        table(
            "streams",
            ["stream", "messages", "bytes", "first", "last", "retention"],
            [
                [s["stream"], s["messages"], s["bytes"], s["first_seq"], s["last_seq"], s["retention"]]
                for s in result["streams"]
            ],
        )
    )
    console.print(
        table(
            "projectors",
            ["hub", "stream", "position", "lag"],
            [[p["hub"], p["stream"], p["position"], p["lag"]] for p in result["projectors"]],
        )
    )


async def _status(settings: Settings) -> dict[str, Any]:
    nc = await connect(settings, name="vsmesh-status")
    engine = create_engine(settings)
    try:
        js = nc.jetstream()
        await check_database(engine, settings.database_url or "")
        streams = []
        for name, spec in STREAMS.items():
            info = await js.stream_info(name)
            streams.append(
                {
                    "stream": name,
                    "messages": info.state.messages,
                    "bytes": info.state.bytes,
                    "first_seq": info.state.first_seq,
                    "last_seq": info.state.last_seq,
                    "retention": f"{spec.max_age_s / 86400:.0f} days" if spec.max_age_s else "forever",
                }
            )
        projectors = []
        for package in HUBS.values():
            projection = package.projection()
            await ensure_schema(engine, projection, projection.schema)
            at = await positions(engine, projection, projection.schema)
            for stream, subject in projection.streams.items():
                position = at.get(stream, 0)
                projectors.append(
                    {
                        "hub": projection.hub,
                        "stream": stream,
                        "position": position,
                        "lag": await _lag(js, stream, subject, position),
                    }
                )
        return {"streams": streams, "projectors": projectors}
    finally:
        await engine.dispose()
        await nc.drain()


async def _lag(js: JetStreamContext, stream: str, subject: str, position: int) -> int:
    """Stored events on the hub's subjects past its position (a short-lived consumer counts them)."""
    info = await js.add_consumer(
        stream,
        ConsumerConfig(
            filter_subject=subject,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=position + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=5.0,
            mem_storage=True,
        ),
    )
    try:
        return info.num_pending
    finally:
        await js.delete_consumer(stream, info.name)
