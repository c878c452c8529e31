"""Fixtures of the engine tests: a JetStream context with a publisher, and a database engine."""

from __future__ import annotations

import pytest

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.projectors.engine.database import create_engine


@pytest.fixture
async def bus(settings):
    nc = await connect(settings)
    await ensure_streams(nc.jetstream())
    yield nc.jetstream(), Publisher(nc.jetstream(), settings, source="vsmesh/engine-tests")
    await nc.close()


@pytest.fixture
async def db(settings):
    engine = create_engine(settings)
    yield engine
    await engine.dispose()
