"""A local inbox for notifications: a webhook receiver that checks each Standard Webhooks signature, and an SMTP
server (aiosmtpd) keeping what it is sent in a Maildir — both writing to a folder, so a route can be tried with
nothing outside the machine.

The demo runs one in `vsmesh up` (the folder `inbox/` in the data dir) and declares a canon policy routing to
it; `vsmesh notify inbox` runs one in the foreground. The webhook's secret is made once and kept in the folder
(mode 0600): the policy names the file, never the value. A POST without a valid signature is refused (401) and
written nowhere; each verified one is a line of `webhooks.jsonl` with its signed headers and body as received (a
redelivery too: the same webhook-id again).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from nats.js import JetStreamContext
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vsmesh.bus.publisher import Publisher
from vsmesh.gateway.server import Served, bind, serve
from vsmesh.settings import Settings
from vsmesh.webhook_signing import new_secret

log = structlog.get_logger(__name__)

FOLDER = "inbox"  # in the data dir: the demo's inbox
HOOK_PATH = "/hooks/vsmesh"
POLICY = "demo-inbox"  # before `notifications` in slug order; its route says `continue`, so the file hears too
SENDER, RECIPIENT = "vsmesh@localhost", "operators@localhost"
SIGNED = ("webhook-id", "webhook-timestamp", "webhook-signature")
NAMESPACE = uuid.UUID("5b0e7f3a-2c41-4d8e-9a6b-1f3c5d7e9a20")  # never change: policy event ids derive from it


@dataclass(frozen=True)
class Places:
    """The inbox's files, all in one folder."""

    root: Path
    secret: Path
    webhooks: Path
    maildir: Path
    ports: Path
    declared: Path  # the policy values last published for it

    @classmethod
    def of(cls, root: Path) -> Places:
        names = ("webhook-secret", "webhooks.jsonl", "mail", "ports.json", "declared.json")
        return cls(root, *(root / name for name in names))


def demo_places(data_dir: Path) -> Places:
    return Places.of(data_dir / FOLDER)


def kept_secret(places: Places) -> str:
    """The webhook's `whsec_` secret, made on first use and kept (0600) in the folder."""
    if places.secret.exists():
        return places.secret.read_text().strip()
    places.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = new_secret()
    places.secret.touch(mode=0o600)
    places.secret.write_text(made + "\n")
    return made


def _remembered(places: Places) -> dict[str, int]:
    with contextlib.suppress(OSError, ValueError):
        return {k: int(v) for k, v in json.loads(places.ports.read_text()).items()}
    return {}


@dataclass
class Inbox:
    """The two servers on loopback, on the ports they had last time when those are free (the policy stays true)."""

    places: Places
    host: str = "127.0.0.1"
    webhook_port: int = 0
    smtp_port: int = 0
    _served: Served | None = field(default=None, init=False)
    _smtp: Any = field(default=None, init=False)

    @property
    def webhook_url(self) -> str:
        return f"http://{self.host}:{self.webhook_port}{HOOK_PATH}"

    async def __aenter__(self) -> Inbox:
        import asyncio

        from aiosmtpd.handlers import Mailbox
        from aiosmtpd.smtp import SMTP

        secret = kept_secret(self.places)
        before = _remembered(self.places)
        # Only a port given by hand can be in use (0 falls back to any free one): the fix names its option.
        hook_sock = bind(self.host, self.webhook_port, before.get("webhook"), who="the inbox's webhook",
                         fixes=("choose another --webhook-port", "choose another host"))  # fmt: skip
        mail_sock = bind(self.host, self.smtp_port, before.get("smtp"), who="the inbox's SMTP server",
                         fixes=("choose another --smtp-port", "choose another host"))  # fmt: skip
        self.webhook_port, self.smtp_port = hook_sock.getsockname()[1], mail_sock.getsockname()[1]
        handler = Mailbox(self.places.maildir)  # a Maildir made on first use (tmp/, new/, cur/)
        loop = asyncio.get_running_loop()
        self._smtp = await loop.create_server(lambda: SMTP(handler, hostname=self.host), sock=mail_sock)
        self._served = await serve(webhook_app(secret, self.places.webhooks), hook_sock)
        self.places.ports.write_text(json.dumps({"webhook": self.webhook_port, "smtp": self.smtp_port}))
        log.info("notification inbox listening", webhook=self.webhook_url, smtp=f"{self.host}:{self.smtp_port}",
                 folder=str(self.places.root))  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._served is not None:
            await self._served.stop()
        if self._smtp is not None:
            self._smtp.close()
            await self._smtp.wait_closed()

    def receivers(self) -> dict[str, dict[str, Any]]:
        """The two as canon policy receivers (the secret by its file)."""
        return {
            "inbox-webhook": {"kind": "webhook", "url": self.webhook_url, "secret": f"{{file:{self.places.secret}}}",
                              "backoff": "1s"},
            "inbox-mail": {"kind": "email", "host": self.host, "port": self.smtp_port, "tls": "none",
                           "sender": SENDER, "to": [RECIPIENT], "backoff": "1s"},
        }  # fmt: skip

    def policy_values(self) -> dict[str, Any]:
        """Everything high or above to both, and on to the routes after it (the `notifications` file)."""
        route = {"name": "inbox", "match": {"severity": "high"}, "receivers": list(self.receivers()),
                 "group_wait": "0s", "continue": True}  # fmt: skip
        return {"notify_receivers": self.receivers(), "notify_routes": [route]}


def webhook_app(secret: str, out: Path) -> Starlette:
    """POST /hooks/vsmesh: verified (signature, 5-minute timestamp tolerance) → a line in `out`, else 401."""
    from standardwebhooks import Webhook, WebhookVerificationError

    hook = Webhook(secret)

    async def receive(request: Request) -> Response:
        body = await request.body()
        try:
            hook.verify(body, dict(request.headers))
        except WebhookVerificationError as e:
            log.warning("inbox refused a webhook", error=str(e), webhook_id=request.headers.get("webhook-id"))
            return Response(f"signature not verified: {e}\n", status_code=401)
        # As received, so anyone holding the secret can check it again: the signed headers and the body.
        line = {h: request.headers[h] for h in SIGNED} | {"received_at": time.time(), "body": body.decode()}
        with out.open("a") as f:
            f.write(json.dumps(line) + "\n")
        return Response(status_code=204)

    return Starlette(routes=[Route(HOOK_PATH, receive, methods=["POST"])])


async def declare_policy(js: JetStreamContext, settings: Settings, inbox: Inbox) -> bool:
    """Publish the canon policy routing to `inbox` when its values changed (a port taken since: a new one); true
    when it published. The values last published are kept in the folder, so a restart adds nothing to the log."""
    values = inbox.policy_values()
    with contextlib.suppress(OSError, ValueError):
        if json.loads(inbox.places.declared.read_text()) == values:
            return False
    data = {"policy": POLICY, "title": "The local notification inbox", "version": "1", "scope": "mesh",
            "statement": "every event of severity high or above reaches the local inbox's webhook and mail",
            "metadata": {"values": values}}  # fmt: skip
    publisher = Publisher(js, settings, source="vsmesh/inbox")
    event_id = str(uuid.uuid5(NAMESPACE, json.dumps(values, sort_keys=True)))
    await publisher.publish(publisher.build("canon-policy-declared", hub="canon-hub", subject=f"policy/{POLICY}",
                                            data=data, event_id=event_id))  # fmt: skip
    inbox.places.declared.write_text(json.dumps(values))
    log.info("notification inbox declared to canon", policy=POLICY, webhook=inbox.webhook_url)
    return True
