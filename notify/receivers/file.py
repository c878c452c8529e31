"""A file: a JSON line per notification appended, a local inbox (the demo's) that needs no server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from vsmesh.events.schemas.notification import FileReceiver
from vsmesh.notify.message import DELIVERED, Message, Outcome, failed


async def append_line(receiver: FileReceiver, message: Message, data_dir: Path) -> Outcome:
    """The notification as one JSON line (its id, kind, route, CloudEvents) at the end of the file."""
    path = data_dir / receiver.path
    line = msgspec.json.encode({"webhook-id": message.notification_id, "kind": message.kind, "route": message.route,
                                "title": message.title, "events": message.events}) + b"\n"  # fmt: skip

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as out:
            out.write(line)

    try:
        await asyncio.to_thread(write)
    except OSError as e:
        return failed(f"cannot append to {path}: {e.strerror}")
    return DELIVERED
