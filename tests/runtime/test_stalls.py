"""The record of what held an event loop up (runtime/stalls.py): a blocked loop, one kept busy, a full
collection and a slow batch each leave a line that says which, for how long and where."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

from vsmesh.runtime.stalls import StallLog, read_records


def sleep_in_a_named_call(seconds: float) -> None:
    time.sleep(seconds)  # a synchronous call on the loop, as a blocking client library would make


def spin_for_cpu(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


async def watched(path: Path, work, **thresholds: float) -> list[dict]:
    """Run `work()` on a loop watched by a StallLog, with beats before and after it; the records it wrote."""
    stalls = StallLog(path, **thresholds)
    stalls.start(asyncio.get_running_loop())
    try:
        await asyncio.sleep(0.05)
        work()
        await asyncio.sleep(0.05)
    finally:
        stalls.stop()
    return read_records(path)


def longest_stall(records: list[dict]) -> dict:
    """The longest stall recorded (a loaded machine may add short ones of its own around it)."""
    stalls = [r for r in records if r["kind"] == "stall"]
    assert stalls, f"no stall recorded: {records}"
    return max(stalls, key=lambda r: r["ms"])


async def test_a_blocked_loop_is_recorded_with_the_call_that_blocked_it_and_no_cpu(tmp_path: Path) -> None:
    records = await watched(tmp_path / "stalls.jsonl", lambda: sleep_in_a_named_call(0.2))
    stall = longest_stall(records)
    # A stall of about the sleep, spent waiting, not computing
    assert stall["ms"] >= 150
    assert stall["cpu_ms"] < stall["ms"] / 2
    # … and the stack sampled during it names the call that blocked
    assert any(any("sleep_in_a_named_call" in frame for frame in stack) for stack in stall["stacks"])


async def test_a_busy_loop_is_recorded_with_the_cpu_it_used(tmp_path: Path) -> None:
    records = await watched(tmp_path / "stalls.jsonl", lambda: spin_for_cpu(0.15))
    stall = longest_stall(records)
    assert stall["cpu_ms"] >= 150
    assert any(any("spin_for_cpu" in frame for frame in stack) for stack in stall["stacks"])


async def test_a_full_collection_is_recorded_with_its_generation(tmp_path: Path) -> None:
    held = [{"n": i} for i in range(200_000)]  # enough objects for the walk to take a few ms
    records = await watched(tmp_path / "stalls.jsonl", gc.collect, gc_ms=0.0)
    collections = [r for r in records if r["kind"] == "gc"]
    assert any(r["generation"] == 2 and r["ms"] > 0 for r in collections), records
    assert len(held) == 200_000


def test_only_batches_over_the_threshold_are_recorded(tmp_path: Path) -> None:
    stalls = StallLog(tmp_path / "stalls.jsonl", batch_ms=20.0)
    started = time.perf_counter()
    stalls.batch("ops-hub", 12, started, 0.005)
    stalls.batch("ops-hub", 340, started, 0.150)
    stalls.stop()  # never started: writes what it holds all the same
    (record,) = read_records(tmp_path / "stalls.jsonl")
    assert (record["kind"], record["name"], record["events"], record["ms"]) == ("batch", "ops-hub", 340, 150.0)
    # Times are the wall clock's, so two processes' records line up
    assert abs(record["at"] - time.time()) < 5
