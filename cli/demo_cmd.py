"""`vsmesh demo`: publish the seeds' real picture through the ordinary publisher, once.

Ids derive from stable keys, so JetStream drops a rerun within its duplicate window; beyond it, a
demo event already last on its subject (or any newer event there) is not sent again.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import echo_json
from vsmesh.errors import VsmeshError
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from vsmesh.events.envelope import Event
    from vsmesh.hubs.samples import DemoEvent
    from vsmesh.runtime.supervisor import Mesh


def demo(data_dir: Path | None = DataDir, as_json: bool = Json) -> None:
    """Publish the demo picture (ops: CoulombCore → ThreePhoenix); a second run publishes nothing new."""
    settings = settings_from(data_dir)
    new, present = run(publish_demo(settings))
    registered = run(bootstrap_shipped(settings))
    if as_json:
        echo_json({"published": new, "present": present, "manifests_published": registered})
    else:
        typer.echo(f"demo: published {new} new events ({present} already there); "
                   f"{registered} shipped hub manifests newly bootstrapped")  # fmt: skip


async def bootstrap_shipped(settings: Settings) -> int:
    """Bootstrap every shipped manifest (the seven VSM hubs), as the mesh itself; returns how many published
    anything."""
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher
    from vsmesh.hubs.registry.bootstrap import bootstrap
    from vsmesh.hubs.registry.manifest_model import load_manifest, shipped_manifests

    changed = 0
    nc = await connect(settings, name="vsmesh-hub")
    try:
        publisher = Publisher(nc.jetstream(), settings)
        for path in shipped_manifests():
            answer = await bootstrap(nc, publisher, load_manifest(path))
            changed += bool(answer["published"])
    finally:
        await nc.close()
    return changed


async def publish_demo(settings: Settings) -> tuple[int, int]:
    """Sync the example organisation repository (canon, budgets, the inventory), then publish the demo events not
    yet stored; (new, already there)."""
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher
    from vsmesh.hubs.demo import demo_events
    from vsmesh.sources.gitops.example import example_repo
    from vsmesh.sources.gitops.sync import sync

    nc = await connect(settings, name="vsmesh-demo")
    try:
        synced = await sync(nc, settings, str(example_repo()), "main")
        js = nc.jetstream()
        publisher = Publisher(js, settings, source="vsmesh/demo")
        events = demo_events()
        built = [_as_actor(publisher.build(e.type, hub=e.hub, subject=e.subject, data=e.data, event_id=e.id), e)
                 for e in events]  # fmt: skip
        todo = await _not_yet_stored(js, built)
        results = await publisher.publish_many(todo) if todo else []
    finally:
        await nc.drain()
    new = sum(not r.duplicate for r in results)
    return new + synced.published, len(built) - new + synced.declared - synced.published


def _as_actor(event: Event, demo: DemoEvent) -> Event:
    """The demo's own actor where it names one (the custodian agent's token spend), else the caller's."""
    import msgspec

    if demo.actor is None:
        return event
    return msgspec.structs.replace(event, actor=demo.actor, actorkind=demo.actor_kind or "human")


async def _not_yet_stored(js: JetStreamContext, events: list[Event]) -> list[Event]:
    from vsmesh.bus.streams import stream_for
    from vsmesh.bus.subjects import event_subject

    by_subject: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        horizon = type(event).horizon
        by_subject[(stream_for(horizon), event_subject(horizon, event.hub, event.type, event.subject))].append(event)
    todo: list[Event] = []
    for (stream, subject), mine in by_subject.items():
        last = await _last_id(js, stream, subject)
        ids = [e.id for e in mine]
        if last is None:
            todo += mine
        elif last in ids:
            todo += mine[ids.index(last) + 1 :]
        # else: something newer than the demo lives there; the demo must not overwrite it
    # Keep the demo's order (an incident opens before it is updated).
    wanted = {e.id for e in todo}
    return [e for e in events if e.id in wanted]


async def _last_id(js: JetStreamContext, stream: str, subject: str) -> str | None:
    from nats.js.errors import NotFoundError

    try:
        msg = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return None
    return (msg.headers or {}).get("Nats-Msg-Id")


def is_fresh(settings: Settings) -> bool:
    """A new data dir of the embedded mesh: the one case where `vsmesh up` adds the demo by default."""
    from vsmesh.runtime.mesh_state import state_path

    # Never by default against outside servers: they may be production.
    return settings.nats_url is None and not state_path(settings.data_dir.resolve()).exists()


async def run_mesh(mesh: Mesh, demo: bool) -> None:
    """Run the mesh; with `demo`, publish the demo picture before it says it is ready."""
    if demo:
        mesh.before_ready = _publish_picture
        mesh.inbox = True  # the demo's receivers: a webhook and a mail inbox in the data dir (notify/inbox.py)
    await mesh.run()


async def _publish_picture(settings: Settings) -> None:
    import structlog

    log = structlog.get_logger(__name__)
    try:
        new, present = await publish_demo(settings)
        registered = await bootstrap_shipped(settings)
        log.info("demo published", new=new, already_there=present, manifests_bootstrapped=registered)
    except VsmeshError as e:
        # The mesh is what matters; a demo that could not be published is reported, not fatal.
        log.warning("demo not published", error=str(e))
