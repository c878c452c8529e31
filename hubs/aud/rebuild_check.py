"""Each hub's live tables equal a rebuild from the log: the rebuild diff of a copy built for the purpose and
dropped after (projectors/rebuild/compare.py). A table that differs is a finding naming its rows: a read model
altered by hand, or a projector whose fold is not what its log says."""

from __future__ import annotations

from typing import Any

import structlog
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.errors import VsmeshError
from vsmesh.hubs import hub
from vsmesh.hubs.aud.findings import CheckResult, Finding
from vsmesh.projectors.rebuild.compare import compare_with_log
from vsmesh.projectors.rebuild.diff import TableDiff

log = structlog.get_logger(__name__)
CHECK = "rebuild"
COPY_PREFIX = "audit-"  # the point-in-time copy each comparison builds and drops: `vsmesh rebuild --list` shows it


async def check_rebuilds(js: JetStreamContext, engine: AsyncEngine, slugs: list[str]) -> CheckResult:
    findings: list[Finding] = []
    compared: list[str] = []
    failed: dict[str, str] = {}
    for slug in slugs:
        try:
            diff = await compare_with_log(js, engine, hub(slug).make_projection(), COPY_PREFIX + slug)
        except VsmeshError as e:  # a rebuild of that hub running, a gap no snapshot covers: the others go on
            failed[slug] = str(e)
            log.warning("hub not compared with its log", hub=slug, error=str(e))
            continue
        compared.append(slug)
        findings += [_finding(slug, t) for t in diff.tables if not t.identical]
    read = f"{len(compared)} hubs rebuilt from the log and compared: {', '.join(compared) or 'none'}"
    if failed:
        read += "; not compared: " + "; ".join(f"{s} ({why})" for s, why in failed.items())
    done = set(compared)
    return CheckResult(CHECK, read, findings, covers=lambda fid: fid.split("/")[1] in done)


def _finding(slug: str, t: TableDiff) -> Finding:
    counts = {k: n for k, n in (("changed", t.changed), ("added", t.added), ("removed", t.removed)) if n}
    rows = "; ".join(_row_words(kind, t.key, row) for kind, found in t.samples.items() for row in found)
    told = ", ".join(f"{n} {k}" for k, n in counts.items())
    # SQLAlchemy's names are str subclasses, which the event's encoder refuses: plain strings.
    evidence = {
        "hub": slug,
        "table": str(t.table),
        "key": [str(k) for k in t.key],
        **counts,
        "rows": t.samples,
        "read_as": "added: only in the rebuild; removed: only in the live table",
    }
    return Finding(
        f"{CHECK}/{slug}/{t.table}", CHECK, f"{slug} {t.table} differs from its log ({told}): {rows}", "high", evidence
    )


def _row_words(kind: str, key: list[str], row: dict[str, Any]) -> str:
    """One differing row in words: its key and, for a changed row, the columns and their two values."""
    if kind == "changed":
        named = ", ".join(f"{k}={v}" for k, v in row["key"].items())
        columns = ", ".join(f"{c}: live {v['old']!r}, log {v['new']!r}" for c, v in row["columns"].items())
        return f"{named} ({columns})"
    named = ", ".join(f"{k}={row.get(k)}" for k in key) or "a row"
    return f"{named} {'only in the log' if kind == 'added' else 'only in the live table'}"
