"""tally-hub's part of the demo picture."""

from vsmesh.hubs.samples import DemoEvent


def events() -> list[DemoEvent]:
    return [DemoEvent(key="tally/first", type="tally-counted", hub="tally-hub", subject="counter/visits",
                      data={"counter": "visits", "by": 3})]  # fmt: skip
