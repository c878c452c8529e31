"""Each probe kind against real local servers: what holds, what fails, and why it says it failed."""

from __future__ import annotations

import os
import socket
import threading
import time

import dns.message
import dns.rcode
import dns.rrset
import pytest
from pydantic import TypeAdapter

from vsmesh.probes.conditions import evaluate
from vsmesh.probes.examples.local_servers import BEARER_TOKEN
from vsmesh.probes.http import Clients
from vsmesh.probes.model import Probe
from vsmesh.probes.runner import observe

PROBE = TypeAdapter(Probe)


async def check(environ=None, **fields):
    """(passed, outcomes, observation) of one run of a probe built from `fields`."""
    probe = PROBE.validate_python({"name": "t", "entity": "endpoint/t", **fields})
    clients = Clients()
    try:
        seen = await observe(probe, clients, environ or {})
    finally:
        await clients.aclose()
    passed, outcomes = evaluate(probe.parsed(), seen.values)
    return passed, outcomes, seen


REGISTRY = ["[STATUS] == 401", "[HEADER:Docker-Distribution-Api-Version] == registry/2.0"]


async def test_the_registry_style_check_passes_on_the_challenge_and_fails_without_the_header(http_port):
    passed, _, _ = await check(kind="http", url=f"http://127.0.0.1:{http_port}/v2/", conditions=REGISTRY)
    assert passed
    passed, outcomes, _ = await check(kind="http", url=f"http://127.0.0.1:{http_port}/v2-bare/", conditions=REGISTRY)
    assert not passed
    assert [o["held"] for o in outcomes] == [True, False]  # the status was right, the header was missing


async def test_http_body_and_response_time(http_port):
    conditions = ["[STATUS] == 200", "[BODY].items[0].name == a", "[RESPONSE_TIME] < 2000"]
    passed, _, fast = await check(kind="http", url=f"http://127.0.0.1:{http_port}/", conditions=conditions)
    assert passed
    # An endpoint that waits 300 ms before answering is measured above its delay, and judged on it.
    passed, outcomes, slow = await check(
        kind="http",
        url=f"http://127.0.0.1:{http_port}/delay/300",
        conditions=["[RESPONSE_TIME] >= 300", "[RESPONSE_TIME] < 300"],
    )
    assert [o["held"] for o in outcomes] == [True, False] and not passed
    assert slow.values["RESPONSE_TIME"] >= 300 and fast.values["RESPONSE_TIME"] < 2000  # (a loaded machine slows both)


async def test_http_method_body_redirects_and_tls_verification(http_port, https_good):
    base = {"kind": "http", "url": f"http://127.0.0.1:{http_port}/echo"}
    sent = ["[BODY].method == POST", "[BODY].body == hello-probe"]
    passed, outcomes, _ = await check(**base, method="POST", body="hello-probe", conditions=sent)
    assert passed, outcomes
    passed, outcomes, _ = await check(**base, conditions=sent)  # GET without a body, by default
    assert [o["observed"] for o in outcomes] == ["GET", ""]
    # A redirect is an answer of its own unless the probe follows it.
    moved = {"kind": "http", "url": f"http://127.0.0.1:{http_port}/redirect"}
    passed, outcomes, _ = await check(**moved, conditions=["[STATUS] == 302", "[HEADER:Location] == /"])
    assert passed, outcomes
    passed, outcomes, _ = await check(
        **moved, follow_redirects=True, conditions=["[STATUS] == 200", "[BODY].status == ok"]
    )
    assert passed, outcomes
    # The test CA is not the system's: verified, the certificate is refused; unverified, the answer is judged.
    tls = {"kind": "http", "url": f"https://localhost:{https_good.port}/", "conditions": ["[STATUS] == 200"]}
    passed, _, seen = await check(**tls)
    assert not passed and "CERTIFICATE_VERIFY_FAILED" in seen.error
    passed, _, seen = await check(**tls, verify_tls=False)
    assert passed and seen.values["CERTIFICATE_EXPIRATION"] > 80 * 86400


async def test_a_timeout_is_a_failed_result_naming_the_timeout(http_port):
    started = time.monotonic()
    passed, outcomes, seen = await check(
        kind="http", url=f"http://127.0.0.1:{http_port}/slow", timeout="0.5s", conditions=["[STATUS] == 200"]
    )
    assert time.monotonic() - started < 2.5  # the 3 s answer was not waited for
    assert not passed and outcomes[0]["observed"] is None
    assert "0.5 s" in seen.error


async def test_a_refused_connection_is_a_failed_result(closed_port):
    passed, _, seen = await check(kind="http", url=f"http://127.0.0.1:{closed_port}/", conditions=["[STATUS] == 200"])
    assert not passed and seen.error.startswith("cannot connect")
    passed, _, seen = await check(kind="tcp", host="127.0.0.1", port=closed_port, conditions=["[CONNECTED] == true"])
    assert not passed and "cannot connect" in seen.error


async def test_tcp_connects(tcp_port):
    passed, _, _ = await check(kind="tcp", host="127.0.0.1", port=tcp_port, conditions=["[CONNECTED] == true"])
    assert passed


async def test_https_reports_certificate_expiry(https_good, https_expiring):
    conditions = ["[STATUS] == 200", "[CERTIFICATE_EXPIRATION] > 14d"]
    url = "https://localhost:{}/"
    passed, _, seen = await check(
        kind="http", url=url.format(https_good.port), ca_file=str(https_good.ca_file), conditions=conditions
    )
    assert passed and seen.detail["tls_expires_at"] is not None
    passed, outcomes, _ = await check(
        kind="http", url=url.format(https_expiring.port), ca_file=str(https_expiring.ca_file), conditions=conditions
    )
    assert not passed and 2.9 * 86400 < outcomes[1]["observed"] < 3.01 * 86400  # about 3 days left


async def test_tls_chain_expiry_and_hostname(https_good, https_expiring, https_wrong_host, ca_file):
    conditions = ["[CERTIFICATE_VALID] == true", "[HOSTNAME_MATCH] == true", "[CERTIFICATE_EXPIRATION] > 14d"]
    base = {"kind": "tls", "host": "localhost", "ca_file": str(ca_file), "conditions": conditions}
    passed, _, seen = await check(**base, port=https_good.port)
    assert passed and seen.values["CERTIFICATE_ISSUER"].find("trustme") >= 0
    passed, outcomes, _ = await check(**base, port=https_expiring.port)
    assert [o["held"] for o in outcomes] == [True, True, False]  # valid, right name, but 3 days left
    passed, outcomes, seen = await check(**base, port=https_wrong_host.port)
    # The chain is trusted, the name is not; the certificate is still read, expiry included.
    assert [o["held"] for o in outcomes] == [True, False, True]
    assert "certificate not trusted" in seen.error and seen.detail["tls_expires_at"] is not None
    passed, outcomes, seen = await check(kind="tls", host="localhost", port=https_good.port, conditions=conditions)
    assert not passed and outcomes[0]["held"] is False  # the system's CAs do not trust the test CA


@pytest.fixture
def dns_port():
    """A tiny DNS server over UDP that knows one name (dnspython builds the answers)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                wire, peer = sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            reply = dns.message.make_response(query)
            name = query.question[0].name
            if name.to_text() == "gitea.example.":
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "10.0.0.7"))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(reply.to_wire(), peer)

    threading.Thread(target=serve, daemon=True).start()
    yield sock.getsockname()[1]
    sock.close()


async def test_dns_against_a_named_server_and_the_system_resolver(dns_port):
    base = {"kind": "dns", "server": "127.0.0.1", "port": dns_port}
    passed, _, _ = await check(**base, query="gitea.example", conditions=["[DNS_ANSWER] contains 10.0.0.7"])
    assert passed
    passed, outcomes, _ = await check(**base, query="nope.example", conditions=["[DNS_RCODE] == NOERROR"])
    assert not passed and outcomes[0]["observed"] == "NXDOMAIN"
    passed, _, _ = await check(kind="dns", query="localhost", conditions=["[DNS_ANSWER] contains 127.0.0.1"])
    assert passed


async def test_backup_age_and_size(tmp_path):
    old, new = tmp_path / "a.dump", tmp_path / "b.dump"
    old.write_bytes(b"x" * 10)
    new.write_bytes(b"x" * 2000)
    an_hour_ago, three_days_ago = time.time() - 3600, time.time() - 3 * 86400
    os.utime(new, (an_hour_ago, an_hour_ago))
    os.utime(old, (three_days_ago, three_days_ago))
    conditions = ["[BACKUP_AGE] < 26h", "[BACKUP_SIZE] > 1000", "[BACKUP_COUNT] == 2"]
    passed, _, seen = await check(
        kind="backup", entity="backup-set/db", path=str(tmp_path), pattern="*.dump", conditions=conditions
    )
    assert passed and seen.detail["location"].endswith("b.dump")  # the newest file, not the largest name
    os.utime(new, (three_days_ago, three_days_ago))
    passed, outcomes, _ = await check(
        kind="backup", entity="backup-set/db", path=str(tmp_path), pattern="*.dump", conditions=conditions
    )
    assert not passed and outcomes[0]["held"] is False
    passed, _, seen = await check(
        kind="backup", entity="backup-set/db", path=str(tmp_path / "none"), conditions=conditions
    )
    assert not passed and "no directory" in seen.error


async def test_postgres_select_1_with_the_dsn_from_the_environment(database_url):
    dsn = database_url.replace("+asyncpg", "")
    conditions = ["[CONNECTED] == true", "[RESPONSE_TIME] < 5000"]
    passed, _, _ = await check(
        {"PG_DSN": dsn}, kind="postgres", entity="datastore/pg", dsn={"env": "PG_DSN"}, conditions=conditions
    )
    assert passed
    passed, _, seen = await check(
        {}, kind="postgres", entity="datastore/pg", dsn={"env": "PG_DSN"}, conditions=conditions
    )
    assert not passed and "PG_DSN is not set" in seen.error


async def test_kubernetes_health_and_nodes_with_the_exact_token(https_good, tmp_path):
    api = f"https://localhost:{https_good.port}"
    conditions = ["[READYZ] == 200", "[LIVEZ] == 200", "[NODES_READY] == 1", "[NODES_NOT_READY] == 0"]
    base = {"kind": "kubernetes", "entity": "cluster/k", "api": api, "ca_file": str(https_good.ca_file)}
    from_env = {**base, "token": {"env": "K8S_TOKEN"}, "conditions": conditions}
    passed, outcomes, _ = await check({"K8S_TOKEN": BEARER_TOKEN}, **from_env)
    assert [o["held"] for o in outcomes] == [True, True, True, False]  # node-b is not Ready
    # The API server takes exactly its token: a wrong one is refused like none, and the probe is red.
    for environ, probe in (({"K8S_TOKEN": "not-the-token"}, from_env), ({}, {**base, "conditions": conditions})):
        passed, outcomes, seen = await check(environ, **probe)
        assert not passed and outcomes[0]["observed"] == 401, environ
        assert "listing nodes answered 401" in seen.error

    def kubeconfig(token: str) -> str:
        path = tmp_path / f"kubeconfig-{token}"
        path.write_text(
            f"current-context: c\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\n"
            f"clusters: [{{name: k, cluster: {{server: '{api}', certificate-authority: '{https_good.ca_file}'}}}}]\n"
            f"users: [{{name: u, user: {{token: {token}}}}}]\n"
        )
        return str(path)

    ready = ["[READYZ] == 200"]
    via = {"kind": "kubernetes", "entity": "cluster/k", "conditions": ready}
    assert (await check({}, **via, kubeconfig=kubeconfig(BEARER_TOKEN)))[0]
    assert not (await check({}, **via, kubeconfig=kubeconfig("stale")))[0]
    # The probe's own token is the one sent, over the kubeconfig's (a stale kubeconfig, a fresh secret).
    right = {"K8S_TOKEN": BEARER_TOKEN}
    assert (await check(right, **via, kubeconfig=kubeconfig("stale"), token={"env": "K8S_TOKEN"}))[0]
    wrong = {"K8S_TOKEN": "not-the-token"}
    assert not (await check(wrong, **via, kubeconfig=kubeconfig(BEARER_TOKEN), token={"env": "K8S_TOKEN"}))[0]
