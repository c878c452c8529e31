"""Receivers: one module per protocol a notification can be delivered over, and the one door to them.

`deliver` sends one notification to one receiver and says how it went: delivered, failed for good (a 4xx answer
or a receiver that cannot work as declared: parked at once, no retry storm), or failed for now (a 5xx, a
timeout, a refused connection: tried again later). Heavy clients are imported by the module that uses them.
"""

from __future__ import annotations

from vsmesh.errors import ConfigError
from vsmesh.events.schemas.notification import AppriseReceiver, EmailReceiver, FileReceiver, Receiver, WebhookReceiver
from vsmesh.notify.message import Channel, Message, Outcome, failed


async def deliver(receiver: Receiver, message: Message, channel: Channel) -> Outcome:
    """One attempt; never raises for what the receiver or its declaration did wrong."""
    environ = channel.environ
    try:
        if isinstance(receiver, WebhookReceiver):
            from vsmesh.notify.receivers.webhook import post

            return await post(receiver, message, environ, channel.http)
        if isinstance(receiver, EmailReceiver):
            from vsmesh.notify.receivers.email import send_mail

            return await send_mail(receiver, message, environ)
        if isinstance(receiver, AppriseReceiver):
            from vsmesh.notify.receivers.apprise import push

            return await push(receiver, message, environ)
        if isinstance(receiver, FileReceiver):
            from vsmesh.notify.receivers.file import append_line

            return await append_line(receiver, message, channel.data_dir)
    except ConfigError as e:  # a secret not set, a file not there: no retry helps until a person fixes it
        return failed(str(e), permanent=True)
    return failed(f"no receiver of kind {type(receiver).__name__}", permanent=True)
