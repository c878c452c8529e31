"""`postgres` probes: connect and `select 1`, and the replication lag where the server shows one."""

from __future__ import annotations

import time
from collections.abc import Mapping

import asyncpg

from vsmesh.probes.model import PostgresProbe
from vsmesh.probes.observation import Observation, failed

# A standby's lag is the age of the last replayed transaction; a primary's the worst replica's replay lag;
# a server without replication has none (NULL), and a condition on it then fails as "nothing observed".
LAG = """
select case when pg_is_in_recovery()
    then extract(epoch from now() - pg_last_xact_replay_timestamp())
    else (select extract(epoch from max(replay_lag)) from pg_stat_replication) end
"""


async def observe(probe: PostgresProbe, environ: Mapping[str, str]) -> Observation:
    dsn = probe.dsn.reveal(environ)
    started = time.perf_counter()
    try:
        conn = await asyncpg.connect(dsn, timeout=probe.timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        # The DSN holds a password: the error names where it came from, never the DSN.
        return failed(f"cannot connect to PostgreSQL ({probe.dsn.where()}): {type(e).__name__}: {_safe(e, dsn)}")
    try:
        await conn.fetchval("select 1")
        elapsed_ms = (time.perf_counter() - started) * 1000
        lag = await conn.fetchval(LAG)
    finally:
        await conn.close()
    values = {"CONNECTED": True, "RESPONSE_TIME": round(elapsed_ms, 2), "REPLICATION_LAG": _number(lag)}
    return Observation(values)


def _number(value: object) -> float | None:
    return None if value is None else round(float(value), 3)  # type: ignore[arg-type]


def _safe(error: Exception, dsn: str) -> str:
    return str(error).replace(dsn, "<dsn>")
