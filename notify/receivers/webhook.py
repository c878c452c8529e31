"""Webhook: an HTTP POST of the notification's CloudEvents, signed per the Standard Webhooks specification.

`webhook-id` is the notification's id (the same on every attempt, so a receiver deduplicates on it),
`webhook-timestamp` the attempt's time, `webhook-signature` `v1,` + base64 HMAC-SHA256 over
`{id}.{timestamp}.{body}` with the receiver's secret (`whsec_` + base64, or any text). A 2xx answer delivers;
a 4xx is parked at once with the answer (408 and 429 are the receiver asking for later: retried); a 5xx,
a timeout or a refused connection is retried.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping

import httpx

from vsmesh.durations import parse_duration
from vsmesh.events.schemas.notification import WebhookReceiver
from vsmesh.notify.message import DELIVERED, Message, Outcome, failed
from vsmesh.notify.secrets import resolve
from vsmesh.webhook_signing import signature

RETRIED_4XX = {408, 425, 429}


def signing_key(secret: str) -> bytes:
    """The key bytes of a Standard Webhooks secret: `whsec_` + base64 is decoded, anything else used as is."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_") + "==")
    return secret.encode()


def headers_for(receiver: WebhookReceiver, message: Message, environ: Mapping[str, str]) -> dict[str, str]:
    timestamp = int(time.time())
    headers = {
        **receiver.headers,
        "content-type": "application/json",
        "webhook-id": message.notification_id,
        "webhook-timestamp": str(timestamp),
        "vsmesh-notification-kind": message.kind,
    }
    if receiver.secret is not None:
        key = signing_key(resolve(receiver.secret, environ))
        headers["webhook-signature"] = signature(key, message.notification_id, timestamp, message.body)
    return headers


async def post(
    receiver: WebhookReceiver, message: Message, environ: Mapping[str, str], http: httpx.AsyncClient
) -> Outcome:
    headers = headers_for(receiver, message, environ)
    try:
        answer = await http.post(
            receiver.url, content=message.body, headers=headers, timeout=parse_duration(receiver.timeout)
        )
    except httpx.HTTPError as e:
        return failed(f"{type(e).__name__} posting to {receiver.url}: {e}".rstrip(": "))
    if answer.is_success:
        return DELIVERED
    said = f"HTTP {answer.status_code} from {receiver.url}: {answer.text[:200]}".rstrip(": ")
    return failed(said, permanent=400 <= answer.status_code < 500 and answer.status_code not in RETRIED_4XX)
