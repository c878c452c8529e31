"""Chat and push through Apprise URLs (ntfy, Slack, Matrix, Telegram, …): Apprise speaks each service's API.

Apprise says only whether every URL took the message, not why one did not, so a failure is retried and
parked after the receiver's last attempt. A URL holding a token is written as a secret reference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from vsmesh.durations import parse_duration
from vsmesh.events.schemas.notification import SECRET_REFERENCE, AppriseReceiver
from vsmesh.notify.message import DELIVERED, Message, Outcome, failed
from vsmesh.notify.secrets import resolve


async def push(receiver: AppriseReceiver, message: Message, environ: Mapping[str, str]) -> Outcome:
    import apprise

    urls = [resolve(u, environ) if SECRET_REFERENCE.match(u) else u for u in receiver.urls]
    sender = apprise.Apprise()
    for i, url in enumerate(urls):
        if not sender.add(url):
            return failed(f"urls[{i}] is no URL Apprise knows; see its list of services", permanent=True)
    try:
        ok = await asyncio.wait_for(
            sender.async_notify(body=message.text, title=message.title), parse_duration(receiver.timeout)
        )
    except TimeoutError:
        return failed(f"Apprise did not finish within {receiver.timeout}")
    return DELIVERED if ok else failed(f"Apprise: not every one of {len(urls)} URL(s) took the notification")
