"""`/metrics` for Prometheus, `/healthz` and `/readyz` for orchestrators.

The mesh's own health, read at scrape time from what this `vsmesh up` process runs: each projector's
position on every stream it follows (0 before anything of it was applied), the stream's head and the lag
between them (the same count `vsmesh status` shows), events
applied, what was quarantined, each coupling's lag, emissions and errors. Batch and contract-call latencies
are histograms their own modules observe (projectors/runner.py, hubs/contract.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from vsmesh.bus.quarantine_store import list_quarantined
from vsmesh.bus.reader import count_pending
from vsmesh.projectors.couplings.coupling import Coupling
from vsmesh.projectors.couplings.reactor import ReactorStats
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats

# Each projector the process runs now with the projection it follows: the coded hubs' from the start, the
# registry's and each manifest hub's as they start (hubs/registry/service.py).
Running = Callable[[], Iterable[tuple[ProjectorStats, Projection]]]


@dataclass
class MeshHealth:
    """What the process runs, as the supervisor started it."""

    js: JetStreamContext
    projectors: Running
    couplings: list[Coupling] = field(default_factory=list)
    reactors: list[ReactorStats] = field(default_factory=list)
    ready: Callable[[], bool] = lambda: True


class MeshCollector:
    """A Prometheus collector over a `MeshHealth`; `refresh` reads the server-side figures first."""

    def __init__(self, health: MeshHealth) -> None:
        self.health = health
        self.lag: dict[tuple[str, str], int] = {}
        self.heads: dict[str, int] = {}
        self.coupling_lag: dict[str, int] = {}
        self.quarantined: Counter[str] = Counter()

    async def refresh(self) -> None:
        h = self.health
        self.heads = {}
        for stats, projection in h.projectors():
            for stream, subject in projection.streams.items():
                at = stats.positions.get(stream, 0)
                self.lag[(stats.name, stream)] = await count_pending(h.js, stream, subject, at)
                if stream not in self.heads:
                    self.heads[stream] = (await h.js.stream_info(stream)).state.last_seq
        for coupling, stats in zip(h.couplings, h.reactors, strict=False):
            lags = [
                await count_pending(h.js, s, subj, stats.positions.get(s, 0)) for s, subj in coupling.sources.items()
            ]
            self.coupling_lag[coupling.name] = sum(lags)
        self.quarantined = Counter(q.found_by for q in await list_quarantined(h.js))

    def collect(self) -> Iterator[Metric]:
        h = self.health
        position = GaugeMetricFamily("vsmesh_projector_position", "stream sequence applied", labels=["hub", "stream"])
        head = GaugeMetricFamily("vsmesh_stream_head", "last stored stream sequence", labels=["stream"])
        lag = GaugeMetricFamily("vsmesh_projector_lag", "events stored, not yet applied", labels=["hub", "stream"])
        applied = CounterMetricFamily("vsmesh_projector_applied", "events applied since start", labels=["hub"])
        rate = GaugeMetricFamily("vsmesh_projector_events_per_second", "recent apply rate", labels=["hub"])
        failing = GaugeMetricFamily("vsmesh_projector_failing", "1 while the last batch failed", labels=["hub"])
        quarantined = GaugeMetricFamily("vsmesh_quarantined", "messages set aside, by finder", labels=["found_by"])
        for stats, _ in h.projectors():  # a partitioned hub's partitions as `ops-hub p0` …
            # Once it runs here, every stream it follows (projectors/runner.py); a projector whose lease another
            # process holds has none, and that process exports it.
            for stream, at in stats.positions.items():
                position.add_metric([stats.name, stream], at)
                lag.add_metric([stats.name, stream], self.lag.get((stats.name, stream), 0))
            applied.add_metric([stats.name], stats.applied)
            rate.add_metric([stats.name], stats.events_per_s)
            failing.add_metric([stats.name], 1 if stats.last_error else 0)
        for stream, last in self.heads.items():
            head.add_metric([stream], last)
        for finder, n in self.quarantined.items():
            quarantined.add_metric([finder], n)
        c_lag = GaugeMetricFamily("vsmesh_coupling_lag", "causes stored, not yet handled", labels=["coupling"])
        c_emitted = CounterMetricFamily("vsmesh_coupling_emitted", "events emitted since start", labels=["coupling"])
        c_failing = GaugeMetricFamily("vsmesh_coupling_failing", "1 while a batch is retried", labels=["coupling"])
        for coupling, stats in zip(h.couplings, h.reactors, strict=False):
            c_lag.add_metric([coupling.name], self.coupling_lag.get(coupling.name, 0))
            c_emitted.add_metric([coupling.name], stats.emitted)
            c_failing.add_metric([coupling.name], 1 if stats.last_error else 0)
        yield from (position, head, lag, applied, rate, failing, quarantined, c_lag, c_emitted, c_failing)


def metrics_routes(health: MeshHealth) -> list[Route]:
    collector = MeshCollector(health)
    mesh = CollectorRegistry(auto_describe=False)
    mesh.register(collector)

    async def metrics(request: Request) -> Response:
        await collector.refresh()
        body = generate_latest(mesh) + generate_latest(REGISTRY)  # the mesh's gauges, then the histograms
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        return PlainTextResponse("ready") if health.ready() else PlainTextResponse("starting", status_code=503)

    return [Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)]
