"""`make run` on a new data dir: a red ops health check reaches the demo's local webhook receiver (signature checked
again here with standardwebhooks) and its SMTP inbox (aiosmtpd), each exactly once; a forged webhook is refused;
the next `make run` keeps the inbox. `vsmesh notify inbox` runs one alone.

`vsmesh up` as `make run` starts it: embedded servers in a data dir of its own (0700, as in a private home), the
demo because the data dir is new.
"""

from __future__ import annotations

import json
import mailbox
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import httpx
import msgspec
import pytest
from standardwebhooks import Webhook

from tests.cli.test_up import mesh_processes
from tests.conftest import VSMESH, server_dir, wait_until
from tests.signing_in import sign_in
from vsmesh.gateway.identity.clients import Clients
from vsmesh.notify.inbox import HOOK_PATH, demo_places
from vsmesh.runtime.mesh_state import load_state


def _up(data_dir: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")} | {"VSMESH_DATA_DIR": str(data_dir)}
    with log.open("ab") as out:
        return subprocess.Popen([*VSMESH, "up"], env=env, stdout=out, stderr=out)


def _hooks(data_dir: Path, event_id: str) -> list[dict]:
    path = demo_places(data_dir).webhooks
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [h for h in lines if event_id in {e["id"] for e in json.loads(h["body"])}]


def _mails(data_dir: Path, event_id: str) -> list:
    found = []
    for mail in mailbox.Maildir(demo_places(data_dir).maildir, create=False):
        [attached] = [p for p in mail.walk() if p.get_filename() == "events.json"]
        if event_id in {e["id"] for e in msgspec.json.decode(attached.get_payload(decode=True))}:
            found.append(mail)
    return found


def _red(cli) -> tuple[str, str]:
    """A service of its own turns red, as a person at the terminal publishes it: (its entity, the event's id)."""
    service = f"service/demo-{uuid.uuid4().hex[:8]}"
    done = cli("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", service, "--data",
               '{"status": "red"}', "--json")  # fmt: skip
    assert done.exit_code == 0, done.output
    return service, json.loads(done.stdout)["id"]


@pytest.mark.timeout(480)  # two `make run`s, the first with an initdb: a minute on a quiet machine, minutes at load
def test_a_fresh_make_run_delivers_a_red_check_signed_to_the_webhook_and_to_the_mail_inbox_once(cli_in) -> None:
    root = server_dir()
    data_dir, log = root / "mesh", root / "up.log"
    proc = _up(data_dir, log)

    def cli(*args: str):
        return cli_in({"VSMESH_DATA_DIR": str(data_dir), "VSMESH_CONFIG_DIR": str(root / "person")}, root, *args)

    try:
        wait_until(lambda: load_state(data_dir).ready, timeout=180, what="make run's mesh", proc=proc, log=log)
        # A person of that mesh (`vsmesh user add`, `vsmesh login`): the CLI's writes go through its gateway as them.
        Clients(data_dir).set_person("operator", "the operator's password")
        sign_in(load_state(data_dir).gateway_url or "", root / "person", "operator", "the operator's password")
        # Canon routes high and above to the inbox's two receivers, the demo's file receiver after them.
        routes = json.loads(cli("notify", "routes", "--json").stdout)
        assert {"inbox-webhook", "inbox-mail", "operators-inbox"} <= set(routes["receivers"])

        # A service turns red.
        service, event_id = _red(cli)

        # The ledger says both receivers took it; only then is "once" worth counting.
        def delivered() -> dict[str, dict]:
            rows = json.loads(cli("notify", "deliveries", "--json", "--limit", "200").stdout)
            mine = {r["receiver"]: r for r in rows if event_id in r["event_ids"]}
            statuses = {mine.get(k, {}).get("status") for k in ("inbox-webhook", "inbox-mail")}
            return mine if statuses == {"delivered"} else {}

        rows = wait_until(delivered, timeout=60, what="both inbox receivers to be told", proc=proc, log=log)
        [hook] = _hooks(data_dir, event_id)
        assert hook["webhook-id"] == rows["inbox-webhook"]["notification_id"]
        secret = demo_places(data_dir).secret.read_text().strip()
        headers = {k: hook[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        [told] = Webhook(secret).verify(hook["body"], headers)  # raises on a signature that does not hold
        assert (told["type"], told["subject"], told["data"]["status"]) == ("ops-health-checked", service, "red")
        [mail] = _mails(data_dir, event_id)
        assert mail["To"] == "operators@localhost"
        assert mail["X-Vsmesh-Notification"] == rows["inbox-mail"]["notification_id"]
        # The secret is in the data dir alone: the policy names its file.
        assert secret not in json.dumps(routes)
        # The event's page offers to silence what it told of: hub and entity from the notifier's ledger.
        shown = httpx.get(f"{load_state(data_dir).gateway_url}/event/{event_id}").text
        assert f'name="entity" value="{service}"' in shown and 'name="hub" value="ops-hub"' in shown

        # A forged delivery is refused and written nowhere.
        port = json.loads(demo_places(data_dir).ports.read_text())["webhook"]
        forged = {**headers, "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
        before = demo_places(data_dir).webhooks.read_text()
        answer = httpx.post(f"http://127.0.0.1:{port}{HOOK_PATH}", content=hook["body"], headers=forged)
        assert answer.status_code == 401 and "signature" in answer.text
        assert demo_places(data_dir).webhooks.read_text() == before

        # The next `make run` (no demo: the data dir is not new) starts the inbox again, on the same ports.
        proc.terminate()
        assert proc.wait(60) == 0, log.read_text()[-2000:]
        proc = _up(data_dir, log)
        mine = lambda: (state := load_state(data_dir)).ready and state.supervisor_pid == proc.pid  # noqa: E731
        wait_until(mine, timeout=180, what="the second make run", proc=proc, log=log)
        _, again = _red(cli)
        told_both = lambda: _hooks(data_dir, again) and _mails(data_dir, again)  # noqa: E731
        wait_until(told_both, timeout=60, what="the inbox to be told again", proc=proc, log=log)
        assert json.loads(demo_places(data_dir).ports.read_text())["webhook"] == port
    finally:
        proc.terminate()
        proc.wait(60)
        if mesh_processes(data_dir):
            cli("down")
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0, log.read_text()[-2000:]


def test_notify_inbox_prints_its_receivers_and_keeps_what_they_take(tmp_path: Path) -> None:
    import asyncio
    import signal

    from vsmesh.events.schemas.notification import EmailReceiver, WebhookReceiver
    from vsmesh.notify.message import Channel, Message
    from vsmesh.notify.receivers import deliver

    folder = tmp_path / "inbox"
    proc = subprocess.Popen([*VSMESH, "notify", "inbox", str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # What it prints is what a person pastes under notify_receivers of a canon policy.
        receivers = json.loads(proc.stdout.readline())["notify_receivers"]
        event = {"specversion": "1.0", "id": "ev-1", "type": "alert-raised", "hub": "ops-hub", "subject": "service/a",
                 "time": "2026-12-07T10:00:00Z", "data": {"title": "a down", "severity": "high"}}  # fmt: skip
        message = Message("n-1", "firing", "r", [event], msgspec.json.encode([event]))

        async def send() -> list:
            async with httpx.AsyncClient() as http:
                channel = Channel({}, http, tmp_path)
                hook = msgspec.convert(receivers["inbox-webhook"], WebhookReceiver)
                mail = msgspec.convert(receivers["inbox-mail"], EmailReceiver)
                return [await deliver(hook, message, channel), await deliver(mail, message, channel)]

        assert all(o.delivered for o in asyncio.run(send()))
        [line] = [json.loads(x) for x in (folder / "webhooks.jsonl").read_text().splitlines()]
        assert line["webhook-id"] == "n-1" and json.loads(line["body"]) == [event]
        [mail] = list(mailbox.Maildir(folder / "mail", create=False))
        assert mail["X-Vsmesh-Notification"] == "n-1"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]


def test_notify_inbox_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*VSMESH, "notify", "inbox", str(tmp_path / "inbox"), "--webhook-port", str(port)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: the inbox's webhook cannot listen on 127.0.0.1:{port}: in use; choose another --webhook-port"
    )
