"""What the mesh signed, remembered outside the stream it vouches for.

A signed checkpoint lives in the chain it signs, so whoever rewrites the constitutional record with
consistent hashes can drop the `chain-checkpointed` events too, and the stream alone looks intact and never
signed. The mesh therefore keeps the newest head it signed per stream in its data dir
(`keys/chain-signed-heads.json`) and in PostgreSQL (`vsmesh_chain.signed_heads`): plain `vsmesh verify`
checks the stream still holds it. A forger then needs the data dir and the database as well as NATS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from vsmesh.bus.chain import Walk, signature_holds
from vsmesh.bus.creds import write_private
from vsmesh.settings import Settings

HEADS_FILE = Path("keys") / "chain-signed-heads.json"
SCHEMA = "vsmesh_chain"
metadata = sa.MetaData(schema=SCHEMA)
signed_heads = sa.Table(
    "signed_heads",
    metadata,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.Text, nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
    sa.Column("signed_at", sa.Text, nullable=False),
)
FIELDS = ("stream", "head_seq", "head_hash", "public_key", "signature", "signed_at")


@dataclass(frozen=True)
class Remembered:
    """A signed head as the mesh kept it, and where it was kept."""

    head: dict[str, Any]
    where: str  # "the data dir" or "PostgreSQL"


async def remember(settings: Settings, signed: dict[str, Any]) -> None:
    """Keep `signed` (a `signing.signed_head`) as the newest head signed on its stream, in both places."""
    head = {k: signed[k] for k in FIELDS}
    _remember_in_file(settings.data_dir, head)
    if settings.database_url:
        await _remember_in_database(settings, head)


async def recall(settings: Settings, stream: str) -> list[Remembered]:
    """The newest signed head of `stream` from the data dir and from PostgreSQL (where there is one)."""
    found = []
    if (head := _file_heads(settings.data_dir).get(stream)) is not None:
        found.append(Remembered(head, "the data dir"))
    if settings.database_url and (head := await _database_head(settings, stream)) is not None:
        found.append(Remembered(head, "PostgreSQL"))
    return found


def disagreement(walked: Walk, remembered: list[Remembered]) -> str | None:
    """Why the walked stream does not hold a head the mesh signed (None: it holds every one), in one line."""
    for seq, group in _by_head(remembered):
        head, where = group[0].head, " and ".join(r.where for r in group)
        if not signature_holds(head["public_key"], head["stream"], seq, head["head_hash"], head["signature"]):
            return f"the signed head remembered in {where} does not hold its signature: that record was altered"
        held = walked.hashes.get(seq)
        if held == head["head_hash"]:
            continue
        when = head["signed_at"][:16].replace("T", " ")
        now = "ends before it" if seq > walked.head.seq else "holds another event there"
        return (
            f"seq {seq}: rewritten — this mesh signed its head at seq {seq} on {when} UTC (remembered in {where}), "
            f"the stream {now} and no checkpoint says so; restore {walked.stream} from a backup holding that head "
            "and find who rewrote it (NATS admin rights)"
        )
    return None


def _by_head(remembered: list[Remembered]) -> list[tuple[int, list[Remembered]]]:
    """The remembered heads grouped by what they say, so one place or both is named once."""
    groups: dict[tuple[int, str], list[Remembered]] = {}
    for r in remembered:
        groups.setdefault((r.head["head_seq"], r.head["head_hash"]), []).append(r)
    return [(seq, group) for (seq, _), group in sorted(groups.items(), reverse=True)]


def _file_heads(data_dir: Path) -> dict[str, dict[str, Any]]:
    path = data_dir.resolve() / HEADS_FILE
    if not path.exists():
        return {}
    return msgspec.json.decode(path.read_bytes())


def _remember_in_file(data_dir: Path, head: dict[str, Any]) -> None:
    heads = _file_heads(data_dir)
    kept = heads.get(head["stream"])
    if kept is None or kept["head_seq"] <= head["head_seq"]:  # a slower signer never winds the memory back
        heads[head["stream"]] = head
        write_private(data_dir.resolve() / HEADS_FILE, msgspec.json.format(msgspec.json.encode(heads)) + b"\n")


async def _remember_in_database(settings: Settings, head: dict[str, Any]) -> None:
    from vsmesh.projectors.engine.database import create_engine

    engine = create_engine(settings)
    try:
        await _ensure_table(engine)
        upsert = insert(signed_heads).values(**head)
        newer = upsert.excluded.head_seq >= signed_heads.c.head_seq
        async with engine.begin() as conn:
            await conn.execute(upsert.on_conflict_do_update(index_elements=["stream"], set_=head, where=newer))
    finally:
        await engine.dispose()


async def _database_head(settings: Settings, stream: str) -> dict[str, Any] | None:
    from vsmesh.projectors.engine.database import create_engine

    engine = create_engine(settings)
    try:
        await _ensure_table(engine)
        query = sa.select(signed_heads).where(signed_heads.c.stream == stream)
        async with engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return dict(row) if row else None
    finally:
        await engine.dispose()


async def _ensure_table(engine: Any) -> None:
    from vsmesh.projectors.engine.batches import hub_lock_key

    async with engine.begin() as conn:
        # `IF NOT EXISTS` is no guard against a concurrent creator (`vsmesh up` signing while `verify` reads).
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(hub_lock_key(f"schema:{SCHEMA}"))))
        await conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
