"""The spikes of a latency run and what ran then: events over a threshold grouped by publish time, each beside the
records of loop stalls, GC pauses and slow batches (runtime/stalls.py) that overlap it, from every process
that kept one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GAP_S = 0.5  # spiking events published closer together than this are one spike
CAUSES = 4  # the longest records named per spike


@dataclass
class Spike:
    at: float  # wall-clock time the worst event of it was published
    ms: float  # its latency
    events: int  # how many events of it were over the threshold
    first: float  # wall-clock time the first of them was published
    last: float
    causes: list[str] = field(default_factory=list)

    def line(self, start: float) -> str:
        causes = "; ".join(self.causes) or "nothing recorded"
        return f"spike at +{self.at - start:.2f} s: {self.ms:.0f} ms ({self.events} events over) — {causes}"

    def as_json(self, start: float) -> dict[str, Any]:
        return {"at_s": round(self.at - start, 2), "ms": round(self.ms, 1), "events": self.events,
                "causes": self.causes}  # fmt: skip


def spikes(published: list[tuple[float, float]], over_ms: float) -> list[Spike]:
    """Group (publish wall time, latency s) pairs whose latency is over `over_ms` into spikes, in time order."""
    out: list[Spike] = []
    for at, latency in sorted(p for p in published if p[1] * 1000 > over_ms):
        if out and at - out[-1].last <= GAP_S:
            s = out[-1]
            s.events, s.last = s.events + 1, at
            if latency * 1000 > s.ms:
                s.at, s.ms = at, latency * 1000
        else:
            out.append(Spike(at, latency * 1000, 1, at, at))
    return out


def explain(found: list[Spike], records: dict[str, list[dict[str, Any]]], most: int = CAUSES) -> None:
    """Name, for each spike, the longest records (of each process in `records`, by name) that overlap its worst
    event's way from publish to visible."""
    for spike in found:
        until = spike.at + spike.ms / 1000
        overlapping = [
            (r["ms"], f"{process} {describe(r)} at {r['at'] - spike.at:+.2f} s")
            for process, recs in records.items()
            for r in recs
            if r["kind"] != "frozen" and r["at"] <= until and r["at"] + r["ms"] / 1000 >= spike.at
        ]
        overlapping.sort(reverse=True)
        spike.causes = [text for _, text in overlapping[:most]]
        if len(overlapping) > most:
            spike.causes.append(f"{len(overlapping) - most} shorter")


def describe(record: dict[str, Any]) -> str:
    """One record, short: `gc gen2 131 ms (cpu 120)`, `stall 140 ms (cpu 2) in file:line fn`, `batch 60 ms (12)`."""
    kind, ms = record["kind"], record["ms"]
    cpu = f" (cpu {record['cpu_ms']:.0f})" if "cpu_ms" in record else ""
    if kind == "gc":
        thread = f" in {record['thread']}" if "thread" in record else ""
        return f"gc gen{record['generation']} {ms:.0f} ms{cpu}{thread}"
    if kind == "batch":
        return f"batch {ms:.0f} ms ({record['events']} events)"
    stacks = record.get("stacks") or []
    where = f" in {stacks[0][-1]}" if stacks and len(stacks[0]) > 1 else " (no stack sampled)"
    return f"{kind} {ms:.0f} ms{cpu}{where}"


def summary(records: dict[str, list[dict[str, Any]]], start: float, end: float) -> dict[str, str]:
    """Per process, what it froze at start, and how many of each kind of record fell in [start, end] with the
    longest of them."""
    out = {}
    for process, recs in records.items():
        told = [f"froze {r['objects']:,} objects at start" for r in recs if r["kind"] == "frozen"]
        kinds: dict[str, list[tuple[float, float]]] = {}
        for r in recs:
            if r["kind"] != "frozen" and start <= r["at"] <= end:
                key = f"gc gen{r['generation']}" if r["kind"] == "gc" else r["kind"]
                kinds.setdefault(key, []).append((r["ms"], r.get("cpu_ms", 0.0)))
        for kind, seen in sorted(kinds.items()):
            ms, cpu = max(seen)
            told.append(f"{len(seen)} {kind} (max {ms:.0f} ms" + (f", cpu {cpu:.0f})" if cpu else ")"))
        out[process] = ", ".join(told) or "none"
    return out
