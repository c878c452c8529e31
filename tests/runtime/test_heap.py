"""The started heap of `vsmesh up` frozen out of the collector's walks (runtime/heap.py), and kept so."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from vsmesh.projectors.engine.pipeline import _fewer_collections
from vsmesh.runtime.heap import freeze_started_heap


@pytest.fixture
def thawed() -> Iterator[None]:
    """This test's freeze undone after it: the test process is not `vsmesh up`."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_full_collection_walks_only_what_was_made_after_the_freeze(thawed) -> None:
    held = [{"n": i} for i in range(100_000)]
    frozen = freeze_started_heap()
    # What start-up made is out of the walks, the objects held above too
    assert frozen >= len(held)
    assert len(gc.get_objects(generation=2)) < 1_000
    assert len(held) == 100_000


def test_a_replay_in_the_process_leaves_its_freeze_as_it_found_it(thawed) -> None:
    frozen = freeze_started_heap()
    with _fewer_collections():
        made_during = [{"n": i} for i in range(10_000)]
    # The replay neither thawed the started heap (its full collections would walk it all again) nor froze more
    # (what it made): the count only drops by frozen objects freed meanwhile (by other code of this process).
    assert frozen - 1_000 <= gc.get_freeze_count() <= frozen
    assert len(made_during) == 10_000


def test_a_replay_stops_the_collector_until_the_last_overlapping_replay_ends(thawed) -> None:
    with _fewer_collections():
        with _fewer_collections():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the other replay still runs
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # nothing frozen on the way


def test_a_replay_leaves_a_collector_stopped_by_someone_else_stopped(thawed) -> None:
    gc.disable()
    try:
        with _fewer_collections():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
