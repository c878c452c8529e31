"""canon-hub's write operations: revoking a mandate.

Granting is not a contract operation: `canon-mandate-granted` is a governance event only the admin
publishes (events/governance.py; `vsmesh publish canon-mandate-granted --hub canon-hub`), so no caller of
a hub's contract, an agent through the gateway included, can give itself power. Revoking only takes
power away: any caller whose mandates cover `canon-hub:revoke_mandate` may do it.

A mandate's `scope` is what the gateway enforces (gateway/mcp/mandates.py): entries `HUB[:OPERATIONS]`,
separated by commas or spaces, where HUB is a hub slug or a glob (`*`, `ops-*`) and OPERATIONS is `read`,
`write`, `*` or an operation name or glob (`get_*`); a bare HUB allows every operation of that hub.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field

from vsmesh.errors import NotFound
from vsmesh.hubs.canon.approvals import approval_writes
from vsmesh.hubs.canon.tables import mandates
from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core import queries
from vsmesh.hubs.core.writes import WriteRequest, publish_as_caller


class RevokeMandateRequest(WriteRequest):
    mandate_id: str = Field(min_length=1, description="the id of the grant (see get_mandates)")
    reason: str | None = None


async def revoke_mandate(ctx: HubContext, request: RevokeMandateRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await queries.one(conn, sa.select(mandates.c.holder).where(mandates.c.mandate_id == request.mandate_id))
    if found is None:
        raise NotFound(f"canon-hub has no mandate {request.mandate_id}; see get_mandates")
    data = {"mandate_id": request.mandate_id, "reason": request.reason}
    subject = f"mandate/{found['holder']}"
    ids = {"causation_id": request.mandate_id}
    return await publish_as_caller(ctx, "canon-mandate-revoked", request, subject, data, **ids)


def write_operations() -> list[Operation]:
    return [
        Operation(
            "revoke_mandate",
            RevokeMandateRequest,
            revoke_mandate,
            "end a mandate: refused from the next call",
            writes=True,
        ),
        *approval_writes(),
    ]
