"""Running a probe file: each probe on its own schedule, a bounded number at once, each within its timeout.

Each probe is a task of its own that sleeps until its next slot (`start + jitter + k * interval`, so it
never drifts) and then waits for one of `probes_concurrency` slots; a probe that hangs holds its slot only
until its timeout, so one probe never blocks another. Its result is evaluated, published as evidence
on ops-hub (an unchanged result at most every `probes_unchanged_every` seconds, and always well inside the
staleness window that turns evidence amber), then its consequences (consequences.py) and, for a probe with
`drift:` checks, the comparison with what the inventory declares (drift.py).

The runner publishes as a verified identity, never as a name it gives itself: `Identity` is what a token of
the gateway's issuer says (gateway/identity/service_identity.py), obtained by `vsmesh up` or `vsmesh probe run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.aio.client import Client

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Published, Publisher
from vsmesh.errors import ContractError, ContractUnavailable, VsmeshError
from vsmesh.probes import backup, dns, http, kubernetes, postgres, tcp, tls
from vsmesh.probes.conditions import evaluate
from vsmesh.probes.consequences import Consequences, Pending
from vsmesh.probes.drift import DriftWatch
from vsmesh.probes.evidence import Result, evidence
from vsmesh.probes.model import (
    BackupProbe,
    DnsProbe,
    HttpProbe,
    KubernetesProbe,
    PostgresProbe,
    ProbeBase,
    ProbeFile,
    TcpProbe,
    TlsProbe,
)
from vsmesh.probes.observation import Observation, failed
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

HUB = "ops-hub"


@dataclass
class RunnerStats:
    """What `vsmesh probe run` reports as it goes, and the benchmark reads."""

    runs: int = 0
    published: int = 0
    unchanged_skipped: int = 0
    publish_errors: int = 0
    max_late_s: float = 0.0  # slot to the start of the observation (waiting for a free slot included)
    late_over_1s: int = 0
    max_wake_late_s: float = 0.0  # slot to the task waking: the scheduler's own lateness
    cpu_s: float = 0.0  # process CPU spent inside probe runs and publishing (time.process_time)
    last: dict[str, Result] = field(default_factory=dict)

    @property
    def failing(self) -> list[str]:
        return sorted(n for n, r in self.last.items() if not r.passed)


@dataclass(frozen=True)
class Identity:
    """Who the runner publishes as: a verified token's subject and actor kind (a service's)."""

    actor: str
    kind: str = "service"


def unchanged_every(settings: Settings) -> float:
    """How long an unchanged result may go unpublished: the setting, but at most half the amber staleness
    window, so evidence of a healthy entity never ages to amber between publications."""
    return min(settings.probes_unchanged_every, settings.ops_stale_amber_minutes * 60 / 2)


class ProbeRunner:
    """Runs one probe file against the mesh as the runner's own service identity."""

    def __init__(
        self,
        probes: ProbeFile,
        nc: Client,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        identity: Identity,
        on_result: Callable[[Result], None] | None = None,
        on_published: Callable[[Published, float], None] | None = None,
    ) -> None:
        self.probes = probes
        self.nc = nc
        self.settings = settings
        self.environ = environ  # secrets named in the probe file are read from here when a probe runs
        self.identity = identity
        publishing = settings.model_copy(update={"actor": identity.actor, "actor_kind": identity.kind})
        self.publisher = Publisher(nc.jetstream(), publishing, source="vsmesh/probes")
        self.drift = DriftWatch()
        self.consequences = Consequences(probes, settings.ops_cert_warn_days)
        self.stats = RunnerStats()
        self.on_result = on_result or (lambda result: None)
        # (stored, perf_counter before publishing): bench/probes.py times evidence by sequence
        self.on_published = on_published or (lambda stored, started: None)
        self._slots = asyncio.Semaphore(settings.probes_concurrency)
        self._clients = http.Clients()
        self._published: dict[str, tuple[tuple[Any, ...], float, str]] = {}  # probe -> (signature, when, id)

    async def recover(self, stop: asyncio.Event | None = None, timeout: float = 10.0) -> None:
        """Adopt the open alerts and risks of earlier runs from ops-hub's read model; wait while it starts."""
        delay = 0.2
        while True:
            try:
                alerts = []
                for status in ("raised", "acknowledged"):
                    alerts += (await ask(self.nc, HUB, "get_alerts", {"status": status, "limit": 1000}))["alerts"]
                risks = (await ask(self.nc, HUB, "get_risks", {"status": "surfaced", "limit": 1000}))["risks"]
                break
            except ContractUnavailable as e:
                if stop is not None and stop.is_set():
                    return
                log.warning("probes wait for ops-hub to recover open alerts", reason=str(e))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.consequences.recover(alerts, risks, self.identity.actor)
        log.info(
            "probe state recovered",
            open_alerts=len(self.consequences.open_alerts),
            open_risks=len(self.consequences.open_risks),
        )

    async def run_once(self) -> list[Result]:
        """Every probe once, at once (bounded), each result published; results in file order."""
        now = time.monotonic()
        return list(await asyncio.gather(*(self._run(p, now) for p in self.probes.probes)))

    async def run(self, stop: asyncio.Event) -> None:
        """Every probe on its schedule until `stop` is set."""
        self._clients.prepare(p for p in self.probes.probes if isinstance(p, HttpProbe))
        start = time.monotonic()
        tasks = [asyncio.create_task(self._loop(p, start, stop), name=f"probe:{p.name}") for p in self.probes.probes]
        try:
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def _loop(self, probe: ProbeBase, start: float, stop: asyncio.Event) -> None:
        # Jitter spreads probes of one interval over it, so 500 probes are not 500 requests in one instant.
        first = start + random.uniform(0, probe.interval)
        k = 0
        while not stop.is_set():
            scheduled = first + k * probe.interval
            await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
            self.stats.max_wake_late_s = max(self.stats.max_wake_late_s, time.monotonic() - scheduled)
            await self._run(probe, scheduled)
            # A run that overran its slots (a stalled machine) goes on from the next slot, not a burst of catch-ups.
            k = max(k + 1, int((time.monotonic() - first) // probe.interval) + 1)

    async def _run(self, probe: ProbeBase, scheduled: float) -> Result:
        cpu = time.process_time()
        # The slots bound what probes put on their targets; publishing waits for NATS, not for them, and
        # held a slot in a first version: under a slow ack, probes queued behind it started late.
        async with self._slots:
            late = max(0.0, time.monotonic() - scheduled)
            observation = await observe(probe, self._clients, self.environ)
        passed, outcomes = evaluate(probe.parsed(), observation.values)
        result = Result(probe, observation, passed, outcomes, dt.datetime.now(dt.UTC), late_s=late)
        await self._publish(result)
        self._count(result, time.process_time() - cpu)
        self.on_result(result)
        return result

    def _count(self, result: Result, cpu_s: float) -> None:
        s = self.stats
        s.runs += 1
        s.cpu_s += cpu_s
        s.max_late_s = max(s.max_late_s, result.late_s)
        s.late_over_1s += result.late_s > 1.0
        s.last[result.probe.name] = result

    async def _publish(self, result: Result) -> None:
        name = result.probe.name
        signature = result.signature()
        before = self._published.get(name)
        now = time.monotonic()
        if before and before[0] == signature and now - before[1] < unchanged_every(self.settings):
            result.event_id = before[2]  # gates name the evidence that still stands
            self.stats.unchanged_skipped += 1
        else:
            event_type, data = evidence(result)
            pending = Pending(event_type, result.probe.entity, data)
            if await self._send(pending, name):
                result.event_id, result.published = pending.event_id, True
                self._published[name] = (signature, now, pending.event_id)
        for follow_up in self.consequences.after(result):
            await self._send(follow_up, name)
        for entity in result.probe.drift_entities():
            drift = await self._drift(result, entity)
            if drift is not None:
                await self._send(drift, name)

    async def _drift(self, result: Result, entity: str) -> Pending | None:
        """The drift event of this result about `entity`, judged against ops-hub's inventory of it now."""
        try:
            found = await ask(self.nc, HUB, "get_inventory", {"entity": entity})
        except ContractError as e:
            # Unknown to the inventory (nothing declared) or ops-hub not answering: no judgement this run.
            log.info("drift not judged", probe=result.probe.name, entity=entity, reason=str(e))
            return None
        return self.drift.judge(result, entity, found["item"])

    async def _send(self, pending: Pending, probe: str) -> bool:
        try:
            event = self.publisher.build(
                pending.event_type,
                hub=HUB,
                subject=pending.subject,
                data=pending.data,
                event_id=pending.event_id,
                causation_id=pending.causation_id,
            )
            started = time.perf_counter()
            stored = await self.publisher.publish(event)
        except VsmeshError as e:
            # Lost for this run only: the next run publishes its own result (an unchanged one too, since
            # nothing was recorded as published).
            self.stats.publish_errors += 1
            log.error("probe event not published", probe=probe, type=pending.event_type, error=str(e))
            return False
        self.stats.published += 1
        self.on_published(stored, started)
        return True


async def observe(probe: ProbeBase, clients: http.Clients, environ: Mapping[str, str]) -> Observation:
    """Run one probe within its timeout; whatever goes wrong is the observation's error, never an exception."""
    try:
        return await asyncio.wait_for(_kind(probe, clients, environ), probe.timeout)
    except TimeoutError:
        return failed(f"timed out after {probe.timeout:g} s")
    except VsmeshError as e:  # a secret that is not there, a kubeconfig without a server …
        return failed(str(e))
    except Exception as e:  # noqa: BLE001 - a probe's own failure is its result; the log keeps the trace
        log.exception("probe failed unexpectedly", probe=probe.name)
        return failed(f"probe error: {type(e).__name__}: {e}")


async def _kind(probe: ProbeBase, clients: http.Clients, environ: Mapping[str, str]) -> Observation:
    match probe:
        case HttpProbe():
            return await http.observe(probe, clients, environ)
        case TlsProbe():
            return await tls.observe(probe)
        case TcpProbe():
            return await tcp.observe(probe)
        case DnsProbe():
            return await dns.observe(probe)
        case PostgresProbe():
            return await postgres.observe(probe, environ)
        case BackupProbe():
            return await backup.observe(probe)
        case KubernetesProbe():
            return await kubernetes.observe(probe, environ)
    raise TypeError(f"no observer for probe kind {type(probe).__name__}")


async def run_probes(
    probes: ProbeFile,
    nc: Client,
    settings: Settings,
    environ: Mapping[str, str],
    stop: asyncio.Event,
    identity: Identity,
) -> None:
    """`vsmesh up`'s probe task: recover, then run until stopped, logging a summary each minute."""
    runner = ProbeRunner(probes, nc, settings, environ, identity=identity)
    try:
        await runner.recover(stop)
        reporter = asyncio.create_task(report_every(runner, 60.0, stop))
        try:
            await runner.run(stop)
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
    finally:
        await runner.aclose()


async def report_every(runner: ProbeRunner, seconds: float, stop: asyncio.Event) -> None:
    """A structured log line every `seconds`: runs, published, failing probes, lateness."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        s = runner.stats
        log.info(
            "probes",
            runs=s.runs,
            published=s.published,
            unchanged_skipped=s.unchanged_skipped,
            failing=s.failing,
            max_late_s=round(s.max_late_s, 3),
            publish_errors=s.publish_errors,
        )
