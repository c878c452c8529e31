"""The demo picture: each hub's sample events, with ids derived from stable keys so a rerun adds nothing.

A hub adds its part by appending a callable to `DEMO_PARTS` that returns its `DemoEvent`s in order.
"""

from __future__ import annotations

from vsmesh.hubs.samples import DemoEvent, DemoPart


def _ops_part() -> list[DemoEvent]:
    from vsmesh.hubs.ops.sample import events

    return events()


def _dev_part() -> list[DemoEvent]:
    from vsmesh.hubs.dev.sample import events

    return events()


def _fin_part() -> list[DemoEvent]:
    from vsmesh.hubs.fin.sample import events

    return events()


def _canon_part() -> list[DemoEvent]:
    from vsmesh.hubs.canon.sample import events

    return events()


def _sec_part() -> list[DemoEvent]:
    from vsmesh.hubs.sec.sample import events

    return events()


def _legal_part() -> list[DemoEvent]:
    from vsmesh.hubs.legal.sample import events

    return events()


DEMO_PARTS: list[DemoPart] = [_ops_part, _dev_part, _fin_part, _canon_part, _sec_part, _legal_part]


def demo_events() -> list[DemoEvent]:
    """Every part's events, in publishing order."""
    return [event for part in DEMO_PARTS for event in part()]
