"""Building a hub's schema from the log beside the live one: blue/green rebuilds and their diff, point-in-time
and what-if copies, snapshots and the retention checks that depend on them."""
