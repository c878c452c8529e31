"""A compact record of what held a process's event loop up: the loop's stalls (with the stacks that ran during
them), garbage collections and slow batches, one JSON line each, for bench/latency.py to set beside its spikes.

Off unless asked for (`VSMESH_STALL_LOG` for `vsmesh up`): it costs a thread waking every few milliseconds.
Times are wall-clock seconds (`at`), so records of two processes line up; durations are milliseconds, `ms` on
the wall clock and `cpu_ms` of the thread (for a stall: since the beat before it, BEAT_S earlier): a stall that
used the CPU ran something, one that did not waited (for a CPU on a loaded machine, or for the interpreter lock
another thread held). A GC pause in another thread than the loop's (it holds the lock all the same) names it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

BEAT_S = 0.005  # the loop's heartbeat; a beat this much late or more than `stall_ms` late is a stall
FLUSH_S = 0.25  # how often the watcher thread writes what was recorded
_STDLIB = re.compile(r"/lib/python3\.\d+/")
STACK_FRAMES = 8  # innermost frames kept of a stack sampled during a stall
SAMPLES = 4  # stack samples kept per stall


class StallLog:
    """Records, while started on a loop, every loop stall over `stall_ms`, GC pause over `gc_ms` and batch over
    `batch_ms` into `path` (appended, JSON lines). Use `start` on the loop, `stop` before the loop closes."""

    def __init__(self, path: Path, *, stall_ms: float = 20.0, gc_ms: float = 5.0, batch_ms: float = 20.0) -> None:
        self.path, self.stall_ms, self.gc_ms, self.batch_ms = path, stall_ms, gc_ms, batch_ms
        self._records: deque[dict[str, Any]] = deque()
        self._gc_started = (0.0, 0.0)  # perf_counter, thread_time
        self._due = 0.0  # when the next beat should run (perf_counter)
        self._cpu = 0.0  # the loop thread's CPU time at the last beat
        self._samples: list[list[str]] = []  # stacks the watcher sampled during the stall under way
        self._loop_thread = 0
        self._handle: asyncio.TimerHandle | None = None
        self._done = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._loop_thread = threading.get_ident()
        gc.callbacks.append(self._on_gc)
        self._due = time.perf_counter() + BEAT_S
        self._cpu = time.thread_time()
        self._handle = loop.call_later(BEAT_S, self._beat, loop)
        self._watcher = threading.Thread(target=self._watch, name="vsmesh-stall-log", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._handle is not None:
            self._handle.cancel()
        self._done.set()
        if self._watcher is not None:
            self._watcher.join(2)
        self._flush()

    def batch(self, name: str, events: int, started: float, seconds: float) -> None:
        """One applied batch of `events`, begun at perf_counter `started`, that took `seconds`."""
        if seconds * 1000 >= self.batch_ms:
            self._add("batch", started, seconds, name=name, events=events)

    def frozen(self, objects: int) -> None:
        """The process froze `objects` out of the collector's walks (runtime/heap.py)."""
        self._records.append({"kind": "frozen", "at": round(time.time(), 4), "ms": 0.0, "objects": objects})

    def _add(self, kind: str, started: float, seconds: float, **more: Any) -> None:
        at = time.time() - (time.perf_counter() - started)
        self._records.append({"kind": kind, "at": round(at, 4), "ms": round(seconds * 1000, 1), **more})

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = (time.perf_counter(), time.thread_time())
            return
        started, cpu = self._gc_started
        took = time.perf_counter() - started
        if took * 1000 >= self.gc_ms:
            thread = {} if threading.get_ident() == self._loop_thread else {"thread": threading.current_thread().name}
            self._add("gc", started, took, cpu_ms=_ms(time.thread_time() - cpu), generation=info["generation"],
                      collected=info["collected"], **thread)  # fmt: skip

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        late = now - self._due
        if late * 1000 >= self.stall_ms:
            stacks, self._samples = self._samples, []
            self._add("stall", self._due, late, cpu_ms=_ms(cpu - self._cpu), stacks=stacks)
        elif self._samples:
            self._samples = []
        self._due, self._cpu = now + BEAT_S, cpu
        self._handle = loop.call_later(BEAT_S, self._beat, loop)

    def _watch(self) -> None:
        """Samples the loop thread's stack while a beat is late; writes the records out every FLUSH_S."""
        flushed = time.perf_counter()
        while not self._done.wait(BEAT_S):
            now = time.perf_counter()
            late = now - self._due
            if late * 1000 >= self.stall_ms and len(self._samples) < SAMPLES:
                self._samples.append(_stack(self._loop_thread, late))
            if now - flushed >= FLUSH_S:
                self._flush()
                flushed = now

    def _flush(self) -> None:
        if not self._records:
            return
        lines = []
        while self._records:
            lines.append(json.dumps(self._records.popleft()))
        with self.path.open("a") as f:
            f.write("\n".join(lines) + "\n")


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 1)


def _stack(thread: int, late: float) -> list[str]:
    """The innermost frames of `thread` now, innermost last, headed by how late the beat was when sampled."""
    frame = sys._current_frames().get(thread)
    if frame is None:
        return [f"+{late * 1000:.0f} ms: (no frame)"]
    frames = traceback.extract_stack(frame)[-STACK_FRAMES:]
    return [f"+{late * 1000:.0f} ms"] + [f"{_short(f.filename)}:{f.lineno} {f.name}" for f in frames]


def _short(filename: str) -> str:
    """A file name from the package or library it belongs to, not the whole path."""
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1]
    found = _STDLIB.search(filename)
    if found is not None:
        return filename[found.end() :]
    return "/".join(filename.rsplit("/", 3)[-3:])


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records a StallLog wrote to `path`, in order; none when it wrote nothing."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
