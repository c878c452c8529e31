"""The read store: one async SQLAlchemy engine per process, from the settings."""

from __future__ import annotations

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from vsmesh.errors import MeshNotRunning
from vsmesh.settings import Settings


def sqlalchemy_url(database_url: str) -> str:
    """`postgresql://…` as SQLAlchemy's asyncpg URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix) :]
    return database_url


def create_engine(settings: Settings) -> AsyncEngine:
    if not settings.database_url:
        raise MeshNotRunning(
            f"no mesh found in {settings.data_dir}: start one with `vsmesh up` or set VSMESH_DATABASE_URL"
        )
    return create_async_engine(
        sqlalchemy_url(settings.database_url),
        pool_size=4,
        connect_args={"timeout": settings.connect_timeout},
        # JSONB columns are on the hot path of every fold: msgspec, not the json module.
        json_serializer=_json_text,
        json_deserializer=msgspec.json.decode,
    )


def _json_text(value: object) -> str:
    return msgspec.json.encode(value).decode()


async def check_database(engine: AsyncEngine, url: str) -> None:
    """Fail with one clear line when PostgreSQL does not answer."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
    except (OSError, TimeoutError) as e:
        raise MeshNotRunning(
            f"cannot reach PostgreSQL at {url}: is the mesh up (`vsmesh up`) or VSMESH_DATABASE_URL right?"
        ) from e
    except Exception as e:
        if type(e).__module__.startswith(("asyncpg", "sqlalchemy")):
            raise MeshNotRunning(f"PostgreSQL at {url} refused us: {str(e).splitlines()[0]}") from e
        raise
