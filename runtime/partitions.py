"""A partitioned rebuild's processes: one per partition, side by side on the cores.

`forked_runner` forks this process for each partition: the child has every module and the projection
already (importing vsmesh cost a worker 1-2.5 s of CPU, as much as folding 100k events,
docs/performance.md §Partitions), and runs its replay on an event loop of its own, in a new thread (the
forked thread still holds the parent's running loop).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

from nats.js import JetStreamContext

from vsmesh.bus.connection import connect
from vsmesh.bus.streams import stream_info
from vsmesh.errors import VsmeshError
from vsmesh.projectors.distribution.partitioned import RunPartition
from vsmesh.projectors.engine.batches import positions
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.partitions import Partition
from vsmesh.projectors.engine.pipeline import READ_AHEAD, Replayed, Until, replay
from vsmesh.projectors.engine.projection import Projection
from vsmesh.settings import Settings


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of a worker: ours, with the servers this process resolved (the embedded mesh's too)."""
    env = dict(os.environ)
    for name in ("nats_url", "nats_user", "nats_password", "database_url"):
        value = getattr(settings, name)
        if value:
            env[f"VSMESH_{name.upper()}"] = str(value)
    env.setdefault("VSMESH_LOG_LEVEL", "warning")
    return env


def forked_runner(settings: Settings, projection: Projection, *, batch_size: int) -> RunPartition:
    """Runs one partition's replay in a fork of this process; a failed worker raises with its last words."""
    context = multiprocessing.get_context("fork")

    async def run(partition: Partition, schema: str) -> Replayed:
        receive, send = context.Pipe(duplex=False)
        worker = context.Process(
            target=_replay_forked, args=(settings, projection.for_partition(partition), schema, batch_size, send),
            name=f"vsmesh-{projection.hub}-{partition.label}", daemon=True,
        )  # fmt: skip
        worker.start()
        send.close()
        try:
            answer = await asyncio.to_thread(_answer, receive)
        except asyncio.CancelledError:
            worker.kill()  # the rebuild was stopped: its workers stop with it
            raise
        finally:
            receive.close()
            # Its exit (closing its connections, freeing its pages) took the last worker 20-40 ms after its
            # answer: waited for aside, not by the rebuild.
            threading.Thread(target=worker.join, args=(5,), name=f"reap-{worker.name}", daemon=True).start()
        if isinstance(answer, str):
            raise VsmeshError(
                f"partition {partition.label} of {projection.hub} failed: {answer}; run the rebuild again (it resumes) "
                "or with --partitions 1"
            )
        return answer

    return run


def _answer(receive: Connection) -> Replayed | str:
    try:
        return receive.recv()
    except EOFError:
        return "its process ended without an answer (killed?)"


def _replay_forked(settings: Settings, part: Projection, schema: str, batch_size: int, send: Connection) -> None:
    """The forked worker: the partition's replay on a new loop, in a new thread; its outcome sent back as soon
    as it is known (its writes are committed by then), before its connections close."""
    told: list[bool] = []

    def tell(outcome: Replayed | str) -> None:
        if not told:
            told.append(True)
            send.send(outcome)

    def work() -> None:
        try:
            asyncio.run(_replay_partition(settings, part, schema, batch_size, tell))
        except BaseException as e:  # noqa: BLE001 - told to the parent, which raises it
            tell(_last_words(e))

    thread = threading.Thread(target=work, name="replay")
    thread.start()
    thread.join()
    tell("no outcome")
    send.close()


def _last_words(e: BaseException) -> str:
    """The failure on one line, for the parent's error (SQLAlchemy's add the statement and a link below)."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else repr(e)


async def _replay_partition(
    settings: Settings, part: Projection, schema: str, batch_size: int, tell: Callable[[Replayed], None]
) -> None:
    nc = await connect(settings, name=f"vsmesh-{part.hub}-{part.partition.label if part.partition else ''}")
    engine = create_engine(settings)
    try:
        js = nc.jetstream()
        start = await positions(engine, part, schema)
        batch_size = await share_batch(js, part, start, batch_size)
        tell(await replay(js, engine, part.reading_shares(), schema, start, until=Until(), batch_size=batch_size))
    finally:
        await engine.dispose()
        await nc.close()


async def share_batch(js: JetStreamContext, part: Projection, start: dict[str, int], batch_size: int) -> int:
    """The batch a partition folds its share in: all of it at once when its largest stream's share is no more
    than one projector holds at a time (a batch and the reader's read-ahead), else `batch_size`. One batch
    folds each entity once and writes its rows once: the two workers of a 200k-event rebuild used ~0.1-0.4 s
    less CPU (Python and PostgreSQL) than with a batch and its remainder (docs/performance.md §Partitions)."""
    if not part.shares or any(start.get(stream) for stream in part.shares):
        return batch_size  # a resumed build reads the rest of its share: no count of that at hand
    largest = max([(await stream_info(js, share.name)).state.messages for share in part.shares.values()])
    return largest if batch_size < largest <= batch_size + READ_AHEAD else batch_size
