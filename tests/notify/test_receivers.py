"""Each receiver against a real local server the test starts: SMTP with STARTTLS and a login (aiosmtpd, a trustme
certificate), Apprise to a local ntfy-style HTTP endpoint, and a webhook whose secret is missing (parked, named)."""

from __future__ import annotations

import email
import ssl
from pathlib import Path

import httpx
import msgspec
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.notify.conftest import Inbox, serve
from vsmesh.events.schemas.notification import AppriseReceiver, EmailReceiver, WebhookReceiver
from vsmesh.notify.message import Channel, Message
from vsmesh.notify.receivers import deliver
from vsmesh.runtime.nats_server import free_port

EVENT = {"specversion": "1.0", "id": "0190-a", "type": "alert-raised", "hub": "ops-hub", "subject": "service/gitea",
         "time": "2026-12-07T10:00:00Z", "data": {"title": "disk full", "severity": "high"}}  # fmt: skip
MESSAGE = Message("0f1e-n", "firing", "high", [EVENT], msgspec.json.encode([EVENT]))


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _login(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"vsmesh", b"s3cret")
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def smtp(tmp_path_factory) -> tuple[Mailbox, int, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("smtp") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            authenticator=_login, auth_required=True)  # fmt: skip
    controller.start()
    yield box, port, ca_file
    controller.stop()


async def _send(receiver, environ=None, data_dir=Path(".")):
    async with httpx.AsyncClient() as http:
        return await deliver(receiver, MESSAGE, Channel(environ or {}, http, data_dir))


async def test_email_arrives_over_starttls_with_a_login(smtp) -> None:
    box, port, ca_file = smtp
    receiver = EmailReceiver(host="127.0.0.1", port=port, tls="starttls", username="vsmesh", password="{env:SMTP_PW}",
                             sender="mesh@example.org", to=["ops@example.org"], ca_file=str(ca_file))  # fmt: skip
    outcome = await _send(receiver, {"SMTP_PW": "s3cret"})
    assert outcome.delivered, outcome.error
    [mail] = box.messages
    assert mail["Subject"] == "[high] disk full" and mail["To"] == "ops@example.org"
    assert mail["X-Vsmesh-Notification"] == "0f1e-n"
    # The CloudEvents travel along, as the webhook's body.
    [attached] = [p for p in mail.walk() if p.get_filename() == "events.json"]
    assert msgspec.json.decode(attached.get_payload(decode=True))[0]["id"] == "0190-a"


async def test_apprise_pushes_to_a_local_ntfy_endpoint() -> None:
    box = Inbox()
    server = serve(box)
    try:
        receiver = AppriseReceiver(urls=[f"ntfy://127.0.0.1:{server.server_port}/ops-alerts"])
        outcome = await _send(receiver)
        assert outcome.delivered, outcome.error
        [(headers, body)] = box.received
        sent = msgspec.json.decode(body)
        assert sent["topic"] == "ops-alerts" and "disk full" in sent["title"]
        # The endpoint gone: Apprise says it failed; retried later, not parked.
        server.shutdown()
        server.server_close()
        gone = await _send(receiver)
        assert not gone.delivered and not gone.permanent
    finally:
        server.shutdown()


async def test_a_missing_secret_parks_at_once_naming_the_variable() -> None:
    receiver = WebhookReceiver(url="http://127.0.0.1:9/hook", secret="{env:NOT_SET_ANYWHERE}")
    outcome = await _send(receiver)
    assert not outcome.delivered and outcome.permanent
    assert "NOT_SET_ANYWHERE" in outcome.error and "not set" in outcome.error
