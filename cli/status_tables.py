"""What `vsmesh status` prints: by default a view that fits an 80-column terminal (one line per hub, per
coupling and per timed check, errors in full below their table); with `--wide` every projector row and column."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.markup import escape

from vsmesh.cli.output import duration, last_errors, show, size, table


def show_status(result: dict[str, Any], *, wide: bool) -> None:
    show(_streams(result["streams"], wide), wide=wide)
    if wide:
        show(_projectors(result["projectors"]), wide=True)
        show(_couplings(result["couplings"]), wide=True)
        show(_checks(result["checks"]), wide=True)
    else:
        hubs = _hubs(result["projectors"])
        show(table("hubs (worst lag over their streams; --wide: every stream)", ["hub", "lag", "quarantined",
             "reverts", "running"], [[h["hub"], h["lag"], h["quarantined"], h["reverts"], h["running"]]
             for h in hubs], whole=["hub"]))  # fmt: skip
        last_errors((h["hub"], h["last_error"]) for h in hubs)
        cells = [[c["name"], "off" if not c["enabled"] else c["lag"], c["quarantined"]] for c in result["couplings"]]
        show(table("couplings", ["coupling", "lag", "quarantined"], cells, whole=["coupling"]))
        last_errors((c["name"], c["last_error"]) for c in result["couplings"])
        show(_checks_compact(result["checks"]))
    if result.get("notifier", {}).get("running"):
        n = result["notifier"]
        cells = [[n["lag"], n["pending"], n["parked"], n["delivered"], n["suppressed"], n.get("held_by") or "nobody"]]
        show(table("notifier", ["lag", "pending", "parked", "delivered", "suppressed", "running"], cells))
        last_errors([("notifier", n["last_error"])])
    if result.get("gitops"):
        show(_gitops(result["gitops"]), wide=wide)
    if result["point_in_time"]:
        cells = [[c["name"], c["hub"], c["until"], c["built"]] for c in result["point_in_time"]]
        show(table("point-in-time copies", ["name", "hub", "as of", "built"], cells, whole=["name"]), wide=wide)


def _gitops(synced: list[dict[str, Any]]) -> Any:
    """Each repository's last good commit, when it was synced, what it changed; a refused commit in red."""
    rows = []
    for s in synced:
        changed = ", ".join(f"{n} {action}" for action, n in sorted(s["changed"].items())) or "nothing yet"
        drift = f"; {s['drift']} drift undone" if s["drift"] else ""
        refused = (
            f"\n[red]refused {s['refused_commit'][:12]}[/]: {len(s['problems'])} problem(s)"
            if s["refused_commit"]
            else ""
        )
        commit = (s["commit"] or "none")[:12]
        rows.append([escape(s["repo"]), f"{commit} {s['synced_at'] or ''}", escape(changed + drift) + refused])
    return table("gitops (last good commit, synced at, what it changed)", ["repository", "commit", "changed"], rows)


def _streams(streams: list[dict[str, Any]], wide: bool) -> Any:
    rows = [
        [s["stream"], s["messages"], s["bytes"] if wide else size(s["bytes"]), s["first_seq"], s["last_seq"],
         s["retention"]]
        for s in streams
    ]  # fmt: skip
    return table("streams", ["stream", "messages", "bytes", "first", "last", "retention"], rows, whole=["stream"])


def _hubs(projectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per hub (and per partition): its worst lag and its quarantined events over its streams."""
    hubs: dict[str, dict[str, Any]] = {}
    for p in projectors:
        hub = hubs.setdefault(p["hub"], {"hub": p["hub"], "lag": 0, "quarantined": 0, "reverts": p["reverts"],
                                         "running": p["running"] or "not running", "last_error": None})  # fmt: skip
        hub["lag"] = max(hub["lag"], p["lag"])
        hub["quarantined"] += p["quarantined"]
        hub["last_error"] = hub["last_error"] or p["last_error"]
    return list(hubs.values())


def _checks_compact(checks: list[dict[str, Any]]) -> Any:
    now = dt.datetime.now(dt.UTC)
    rows = []
    for c in checks:
        ago = duration((now - dt.datetime.fromisoformat(c["ran_at"])).total_seconds())
        published = f"published {c['published']}; " if c["published"] else ""
        result = escape(f"{published}{c['result']}") if c["ok"] else f"[red]FAILED[/]: {escape(c['error'] or '')}"
        rows.append([c["check"], f"{ago} ago", result])
    return table("timed checks (canon's policies)", ["check", "last run", "result"], rows, whole=["check"])


def _projectors(projectors: list[dict[str, Any]]) -> Any:
    columns = ["hub", "stream", "position", "head", "lag", "quarantined", "events/s", "running", "last error",
               "last snapshot", "reverts"]  # fmt: skip
    rows = [
        [p["hub"], p["stream"], p["position"], p["head"], p["lag"], p["quarantined"],
         "-" if p["events_per_s"] is None else f"{p['events_per_s']:,.0f}", p["running"] or "no",
         p["last_error"] or "", p["last_snapshot"] or "", p["reverts"]]
        for p in projectors
    ]  # fmt: skip
    return table("projectors", columns, rows)


def _couplings(couplings: list[dict[str, Any]]) -> Any:
    cells = [
        [c["name"], "yes" if c["enabled"] else "no", "-" if c["lag"] is None else c["lag"], c["quarantined"],
         c["last_error"] or ""]
        for c in couplings
    ]  # fmt: skip
    return table("couplings", ["coupling", "enabled", "lag", "quarantined", "last error"], cells)


def _checks(checks: list[dict[str, Any]]) -> Any:
    cells = [
        [c["check"], c["ran_at"], "ok" if c["ok"] else "FAILED", c["published"], c["error"] or c["result"]]
        for c in checks
    ]
    return table("timed checks (canon's policies)", ["check", "last run", "", "published", "result"], cells)
