"""Any program that signs Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): the body names
an event of the hook's hub as CloudEvents does (`type`, `subject`, `data`), e.g. a CI job or another mesh's
notification. The signed timestamp lets a replayed delivery be refused; the `webhook-id` is the delivery id, kept
by the sender across its retries, from which the event's id derives.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec

from vsmesh.sources.hooks.source import Headers, Proposed, Source, Translated, decode, hook_metadata, malformed
from vsmesh.sources.hooks.store import Hook
from vsmesh.sources.hooks.verify import check_standard
from vsmesh.webhook_signing import new_secret

TOLERANCE_S = 300.0  # the Standard Webhooks specification's suggested five minutes, as its libraries default


class Delivered(msgspec.Struct, kw_only=True):
    type: Annotated[str, msgspec.Meta(min_length=1)]
    subject: str | None = None
    data: dict[str, Any] = {}


def verify(hook: Hook, headers: Headers, body: bytes) -> None:
    check_standard(headers, body, hook.secret, now=time.time(), tolerance_s=TOLERANCE_S)


def translate(hook: Hook, headers: Headers, body: bytes) -> Translated:
    delivered = decode(body, Delivered, "Standard Webhooks event")
    delivery = headers["webhook-id"]  # verify required it
    sent = delivered.data.get("metadata", {})
    if not isinstance(sent, dict):
        raise malformed("invalid Standard Webhooks event payload: data.metadata must be an object")
    metadata = {**sent, **hook_metadata(hook, delivery)}
    data = {**delivered.data, "metadata": metadata}
    key = f"{hook.key}:{delivery}"  # a sender's message ids are its own: two senders may reuse one
    return Translated([Proposed(delivered.type, hook.hub, delivered.subject, data, key)], delivery)


SOURCE = Source("webhook", "ops-hub", verify, translate, title="Standard Webhooks", new_secret=new_secret)
