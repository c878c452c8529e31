"""Local servers for `probes/examples/local.yaml` (and the tests): run `python -m vsmesh.probes.examples.local_servers`.

http://127.0.0.1:18080/          200 {"status": "ok"}
http://127.0.0.1:18080/v2/       401 + Docker-Distribution-Api-Version: registry/2.0 (a registry's challenge)
http://127.0.0.1:18080/v2-bare/  401 without that header (a proxy's answer, not the registry's)
http://127.0.0.1:18080/slow      200 after 3 s
http://127.0.0.1:18080/delay/MS  200 after MS milliseconds
http://127.0.0.1:18080/redirect  302 to /
http://127.0.0.1:18080/echo      200 with the request's method and body (any method)
http://127.0.0.1:18080/private   200 only with `Authorization: Bearer local-bearer-token`, else 401
http://127.0.0.1:18080/readyz …  a Kubernetes API server (/readyz, /livez, /api/v1/nodes), the same token
https://localhost:18443/         the same routes over TLS, with a self-signed certificate expiring in 5 days
tcp 127.0.0.1:18022              a listener that accepts and closes (an "SSH port")
/tmp/vsmesh-example-backups/     a backup directory with a file 2 hours old
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BEARER_TOKEN = "local-bearer-token"  # the one token /private and the Kubernetes routes accept, exactly


class Handler(BaseHTTPRequestHandler):
    """The routes above; quiet (no access log on stderr)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path in ("/readyz", "/livez") or self.path.startswith("/api/v1/"):
            self._kubernetes()
        elif self.path.startswith("/private"):
            ok = self._authorized()
            self._answer(200 if ok else 401, b'{"status": "ok"}' if ok else b"unauthorized", {})
        elif self.path.startswith("/echo"):
            self._echo()
        elif self.path.startswith("/redirect"):
            self._answer(302, b"", {"Location": "/"})
        elif self.path.startswith("/delay/"):
            time.sleep(int(self.path.split("/")[2]) / 1000)
            self._answer(200, b'{"status": "ok"}', {})
        elif self.path.startswith("/v2/"):
            self._answer(
                401,
                b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                {
                    "Docker-Distribution-Api-Version": "registry/2.0",
                    "WWW-Authenticate": 'Bearer realm="https://localhost/v2/token"',
                },
            )
        elif self.path.startswith("/v2-bare/"):
            self._answer(401, b"unauthorized", {})
        elif self.path.startswith("/slow"):
            time.sleep(3)
            self._answer(200, b'{"status": "ok"}', {})
        elif self.path.startswith("/down"):
            self._answer(503, b"down", {})
        else:
            self._answer(200, json.dumps({"status": "ok", "items": [{"name": "a"}]}).encode(), {})

    do_POST = do_PUT = do_OPTIONS = do_GET  # noqa: N815 - /echo answers any method

    def _authorized(self) -> bool:
        # Exactly this token: a server taking any bearer would let a probe sending the wrong one pass.
        return self.headers.get("Authorization") == f"Bearer {BEARER_TOKEN}"

    def _echo(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
        self._answer(200, json.dumps({"method": self.command, "body": body}).encode(), {})

    def _kubernetes(self) -> None:
        """A Kubernetes API server's health and node list: two nodes, one Ready; `BEARER_TOKEN` is required."""
        if not self._authorized():
            self._answer(401, b'{"kind": "Status", "code": 401}', {})
        elif self.path.startswith("/api/v1/nodes"):
            nodes = [
                {"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": ready}]}}
                for n, ready in (("node-a", "True"), ("node-b", "False"))
            ]
            self._answer(200, json.dumps({"kind": "NodeList", "items": nodes}).encode(), {})
        else:
            self._answer(200, b"ok", {"Content-Type": "text/plain"})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's backlog of 5 dropped connections when a dozen probes came at once: the kernel's SYN retry
    # then delivered them 1 s or 3 s later, as if the probes had started late.
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (a probe's timeout) is expected here, not a traceback


def serve_http(
    port: int = 0, tls: ssl.SSLContext | None = None, handler: type[Handler] = Handler
) -> ThreadingHTTPServer:
    """An HTTP(S) server on 127.0.0.1 in a daemon thread; `server.server_port` is its port."""
    server = QuietServer(("127.0.0.1", port), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def serve_tcp(port: int = 0) -> socket.socket:
    """A listener that accepts and closes each connection, in a daemon thread."""
    listener = socket.create_server(("127.0.0.1", port))

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener


def self_signed(directory: Path, hostname: str, days: float) -> tuple[Path, Path]:
    """(certificate, key) PEM files of a self-signed certificate for `hostname` expiring in `days`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{hostname}.pem", directory / f"{hostname}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def main() -> None:
    root = Path(os.environ.get("TMPDIR", "/tmp"))
    certs = root / "vsmesh-example-certs"
    certs.mkdir(exist_ok=True)
    cert, key = self_signed(certs, "localhost", days=5)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    backups = root / "vsmesh-example-backups"
    backups.mkdir(exist_ok=True)
    dump = backups / "gitea-db.dump"
    dump.write_bytes(b"x" * 4096)
    two_hours_ago = time.time() - 7200
    os.utime(dump, (two_hours_ago, two_hours_ago))
    serve_http(18080)
    serve_http(18443, tls)
    serve_tcp(18022)
    print(f"serving: http :18080, https :18443 (CA {cert}), tcp :18022, backups {backups}; Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
