"""The outside issuer of test_outside_issuer.py: panva's oidc-provider (a certified OpenID Provider, Node.js) set
up as a Keycloak realm for vsmesh would be (tests/outside_issuer/provider.mjs), over HTTPS with a certificate of
the test's own CA; and a person's browser on its pages (forms read and posted with httpx, its cookies kept).

    with provider(socket, ...) as issuer:
        browser = Browser(issuer.ca_file)
        asked, page = browser.approve_device(verification_uri, user_code, "ada", "password")
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import trustme

from tests.conftest import wait_until

HERE = Path(__file__).resolve().parents[1] / "outside_issuer"
MAKE = "`make outside-issuer` (as root it installs Debian's nodejs and npm)"


@dataclass(frozen=True)
class Tls:
    ca_file: Path
    cert_file: Path  # the chain, leaf first
    key_file: Path


def make_tls(directory: Path) -> Tls:
    """A CA of the test's own and the issuer's certificate for 127.0.0.1 (nothing a real CA signed)."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    tls = Tls(directory / "ca.pem", directory / "issuer.pem", directory / "issuer.key")
    ca.cert_pem.write_to_path(str(tls.ca_file))
    tls.cert_file.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(tls.key_file))
    return tls


def node() -> str:
    """Node.js and the provider's packages, or the test fails naming the make target (CI must not skip it)."""
    found = shutil.which("node")
    if found is None:
        pytest.fail(f"Node.js is not installed; the outside issuer runs on it: {MAKE}")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"oidc-provider is not installed in {HERE}: {MAKE}")
    return found


@contextmanager
def provider(
    sock: socket.socket, tls: Tls, audience: str, people: dict[str, str], clients: dict[str, tuple[str, str]], log: Path
) -> Iterator[str]:
    """The provider serving on `sock` (listening, its address the issuer's) until the block ends; yields the
    issuer URL once its discovery document answers. `people`: name -> password; `clients`: the confidential
    clients, client id -> (secret, actor kind)."""
    issuer = f"https://127.0.0.1:{sock.getsockname()[1]}"
    env = {
        "PATH": os.environ["PATH"],
        "ISSUER": issuer,
        "LISTEN_FD": str(sock.fileno()),
        "TLS_CERT": str(tls.cert_file),
        "TLS_KEY": str(tls.key_file),
        "AUDIENCE": audience,
        "PEOPLE": json.dumps(people),
        "CLIENTS": json.dumps(
            [{"client_id": c, "client_secret": secret, "actor_kind": kind} for c, (secret, kind) in clients.items()]
        ),
        "DEVICE_POLL_S": "1",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [node(), str(HERE / "provider.mjs")], env=env, pass_fds=(sock.fileno(),), stdout=out, stderr=out
        )
    trust = ssl.create_default_context(cafile=tls.ca_file)
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"{issuer}/.well-known/openid-configuration", verify=trust, timeout=5).is_success
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout=30, what="the outside issuer's discovery document", proc=proc, log=log)
        yield issuer
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Forms(HTMLParser):
    """The forms of a page: each its action and its inputs' names and values (hidden ones a person never types)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((named.get("action", ""), {}))
        elif tag == "input" and self.forms and named.get("name"):
            self.forms[-1][1][named["name"]] = named.get("value", "")


class Browser:
    """A person's browser on the issuer's pages: it keeps the issuer's cookies (its sign-in session), follows
    redirects, and submits a page's form with what the person types, as a browser would (including the form a
    page submits by itself with a script)."""

    def __init__(self, ca_file: Path) -> None:
        self.http = httpx.Client(verify=ssl.create_default_context(cafile=ca_file), follow_redirects=True, timeout=30)

    def open(self, url: str) -> httpx.Response:
        return self.http.get(url)

    def submit(self, page: httpx.Response, **typed: str) -> httpx.Response:
        parser = _Forms()
        parser.feed(page.text)
        assert parser.forms, f"no form on {page.url}: {page.text[:500]}"
        action, fields = parser.forms[0]
        return self.http.post(str(page.url.join(action)), data={**fields, **typed})

    def approve_device(self, url: str, code: str, name: str, password: str) -> tuple[bool, httpx.Response]:
        """The person opens the page the terminal named, types its code, confirms it, and signs in if asked;
        returns whether the issuer asked for the password, and the last page."""
        page = self.submit(self.open(url), user_code=code)
        assert "Confirm Device" in page.text, page.text[:500]
        page = self.submit(page)
        asked = 'name="password"' in page.text
        if asked:
            page = self.submit(page, login=name, password=password)
        return asked, page

    def close(self) -> None:
        self.http.close()
