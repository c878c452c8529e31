"""sec-hub's timed job: the passage of time makes exceptions expire and rotations overdue, and no event arrives
to say so. A minute is far finer than the day-granular expiries it checks; each run reads two small tables.

The job asks sec-hub's own contract (`check_expiries`), so the hub publishes as itself and the run stays
idempotent by the watch's event ids. It also runs soon after sec-hub applied events: an exception granted already
expired, a rotation recorded past its due date, or one that ends an overdue rotation's risk, is published within
seconds instead of at the next minute.
"""

from __future__ import annotations

import structlog

from vsmesh.bus.contract_client import ask
from vsmesh.hubs.hub import Job, JobContext

log = structlog.get_logger(__name__)


async def check_expiries(ctx: JobContext) -> None:
    answer = await ask(ctx.nc, ctx.hub, "check_expiries", {})
    if any(answer.values()):
        log.info("timed operation published", hub=ctx.hub, operation="check_expiries", published=answer)


JOBS = (Job("check-expiries", check_expiries, every_s=60.0, wake_on=("sec-hub",)),)
