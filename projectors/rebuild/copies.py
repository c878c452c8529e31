"""Built schemas: a rebuild's staging schema, point-in-time copies, and the record each keeps of how it was built.

Names: the live hub is `ops_hub`; a rebuild writes `ops_hub__rebuild` and swaps it in; a point-in-time copy
named `june` lives in `pit__june` (no swap, until dropped). Each built schema has one `vsmesh_build` row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateTable

from vsmesh.errors import ConfigError, NotFound
from vsmesh.projectors.engine.pipeline import Until
from vsmesh.projectors.engine.projection import Projection, event_type_of

STAGING_SUFFIX = "__rebuild"
PIT_PREFIX = "pit__"
_PIT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

_build_metadata = sa.MetaData()
build_table = sa.Table(
    "vsmesh_build",
    _build_metadata,
    sa.Column("hub", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),  # rebuild | point-in-time
    sa.Column("name", sa.Text),  # the point-in-time copy's name
    sa.Column("until", sa.Text, nullable=False),  # Until, as JSON
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # log, or the snapshot it started from
    sa.Column("started_at", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("finished_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("without", sa.Text),  # a what-if copy's left-out actor, as JSON (projectors/rebuild/whatif.py)
)


@dataclass
class BuildInfo:
    """How a built schema was made (one row of `vsmesh_build`)."""

    hub: str
    kind: str
    until: Until
    fingerprint: str
    source: str = "log"
    name: str | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished_at: dt.datetime | None = None
    schema: str = ""
    without: str | None = None  # a what-if copy: whose events it leaves out, as JSON (projectors/rebuild/whatif.py)


def staging_schema(target: str) -> str:
    return target + STAGING_SUFFIX


def pit_schema(name: str) -> str:
    """The schema of a point-in-time copy; names are lower-case letters, digits, `-` and `_`."""
    if not _PIT_NAME.match(name):
        raise ConfigError(f"point-in-time name {name!r}: use up to 40 lower-case letters, digits, '-' or '_'")
    return PIT_PREFIX + name.replace("-", "_")


def fingerprint(projection: Projection) -> str:
    """A digest of the projection's tables, event types and code: a leftover build resumes only if it matches."""
    h = hashlib.sha256()
    dialect = postgresql.dialect()
    for table in projection.metadata.sorted_tables:
        h.update(str(CreateTable(table).compile(dialect=dialect)).encode())
    h.update(",".join(sorted(event_type_of(c) for c in projection.handlers)).encode())
    for path in sorted(_source_files(projection)):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _source_files(projection: Projection) -> set[Path]:
    # Every module beside a handler (the helpers it calls live there too) and every module of the projectors: a change
    # to any of them may change a row, so an interrupted build made with other code is not resumed.
    files = set(Path(__file__).parents[1].rglob("*.py"))
    for fn in (*projection.handlers.values(), projection.after_batch, projection.before_write):
        module = sys.modules.get(getattr(fn, "__module__", "") or "")
        if module is not None and getattr(module, "__file__", None):
            files.update(Path(module.__file__).parent.glob("*.py"))
    return files


async def schema_exists(conn: AsyncConnection, schema: str) -> bool:
    found = await conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema})
    return found.first() is not None


async def drop_schema(engine: AsyncEngine, schema: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def write_build_info(conn: AsyncConnection, schema: str, info: BuildInfo) -> None:
    """Record (or update) how `schema` is being built."""
    conn = await conn.execution_options(schema_translate_map={None: schema})
    await conn.run_sync(lambda sync: build_table.create(sync, checkfirst=True))
    await conn.execute(sa.delete(build_table))
    await conn.execute(
        sa.insert(build_table).values(
            hub=info.hub,
            kind=info.kind,
            name=info.name,
            until=msgspec.json.encode(info.until).decode(),
            fingerprint=info.fingerprint,
            source=info.source,
            started_at=info.started_at,
            finished_at=info.finished_at,
            without=info.without,
        )
    )


async def read_build_info(conn: AsyncConnection, schema: str) -> BuildInfo | None:
    """How `schema` was built, or None when it has no record (not one of ours, or never started)."""
    exists = await conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": f'"{schema}".vsmesh_build'})
    if exists.scalar_one() is None:
        return None
    row = (await conn.execute(sa.text(f'SELECT * FROM "{schema}".vsmesh_build'))).mappings().first()
    if row is None:
        return None
    return BuildInfo(
        hub=row["hub"],
        kind=row["kind"],
        name=row["name"],
        until=msgspec.json.decode(row["until"], type=Until),
        fingerprint=row["fingerprint"],
        source=row["source"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        schema=schema,
        without=row.get("without"),  # absent from copies built before what-if copies
    )


async def list_builds(engine: AsyncEngine) -> list[BuildInfo]:
    """Point-in-time copies and interrupted rebuilds, oldest first."""
    async with engine.connect() as conn:
        names = await conn.execute(
            sa.text(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE :pit OR nspname LIKE :staging ORDER BY nspname"
            ),
            {"pit": PIT_PREFIX.replace("_", r"\_") + "%", "staging": "%" + STAGING_SUFFIX.replace("_", r"\_")},
        )
        found = [await read_build_info(conn, name) for (name,) in names.all()]
    return sorted((b for b in found if b is not None), key=lambda b: b.started_at)


async def swap_in(conn: AsyncConnection, staging: str, live: str) -> None:
    """Replace `live` by `staging` inside the caller's transaction: readers see the old or the new, never neither.

    Renames take no table locks; the old schema is dropped after the commit (`drop_old`): dropping it here
    locked every table while readers held some of them, and PostgreSQL broke the deadlock by killing one.
    """
    await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{live}__old" CASCADE'))  # normally gone already
    if await schema_exists(conn, live):
        await conn.execute(sa.text(f'ALTER SCHEMA "{live}" RENAME TO "{live}__old"'))
    await conn.execute(sa.text(f'ALTER SCHEMA "{staging}" RENAME TO "{live}"'))


async def drop_old(engine: AsyncEngine, live: str, attempts: int = 20) -> bool:
    """Drop the schema a swap replaced, giving way to readers still in it (a short lock timeout, retried)."""
    for attempt in range(attempts):
        try:
            async with engine.begin() as conn:
                # Shorter than deadlock_timeout (1 s): the drop gives up before PostgreSQL picks a victim.
                await conn.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
                await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{live}__old" CASCADE'))
            return True
        except DBAPIError:
            await asyncio.sleep(0.05 * (attempt + 1))
    return False


async def point_in_time_schema(engine: AsyncEngine, hub: str, name: str) -> str:
    """The schema of `hub`'s finished point-in-time copy `name`; a clear error when there is none."""
    schema = pit_schema(name)
    async with engine.connect() as conn:
        info = await read_build_info(conn, schema)
    if info is None or info.kind != "point-in-time" or info.finished_at is None:
        raise NotFound(
            f"no point-in-time copy named {name!r}; build one with `vsmesh rebuild {hub} --into {name} --as-of TIME`"
        )
    if info.hub != hub:
        raise ConfigError(f"point-in-time copy {name!r} is of {info.hub}, not {hub}")
    return schema
