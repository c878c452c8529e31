"""A real local HTTP server answering the pulled APIs with recorded responses (tests/sources/pullers/recorded/).

Each route answers a recorded file with its status; `@u@` in a file becomes the server's own token, so names
(namespaces, services) are this server's alone in the session's shared mesh. The server may require a key (`token`,
as `Authorization: Bearer` or `x-api-key`), answering the API's own 401 (`unauthorized`) otherwise; `requests`
keeps each request's path and query as it arrived.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

RECORDED = Path(__file__).parent / "recorded"


@dataclass
class Answer:
    file: str
    status: int = 200
    content_type: str = "application/json"


@dataclass
class Recorded:
    """The server's routes (path, or `path?continue=TOKEN` for a list's next page), changeable while it runs."""

    port: int
    u: str
    routes: dict[str, Answer] = field(default_factory=dict)
    token: str | None = None
    unauthorized: str = "k8s-error-401.json"
    requests: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, path: str, query: dict[str, list[str]], headers: Mapping[str, str]) -> tuple[int, str, bytes]:
        offered = (_bearer(headers.get("Authorization")), headers.get("x-api-key"))
        if self.token is not None and self.token not in offered:
            return 401, "application/json", (RECORDED / self.unauthorized).read_bytes()
        path = path.rstrip("/") or "/"  # kr8s asks /version/, as the API server allows
        # A list's next page: Kubernetes' `continue` token, the usage reports' `page`.
        paged = next((f"{path}?{p}={query[p][0]}" for p in ("continue", "page") if p in query), None)
        key = paged or path
        found = self.routes.get(key)
        if found is None:
            return 404, "text/plain", f"404 page not found: {key}".encode()
        body = (RECORDED / found.file).read_text().replace("@u@", self.u).encode()
        return found.status, found.content_type, body


def _bearer(authorization: str | None) -> str | None:
    return authorization.removeprefix("Bearer ") if authorization and authorization.startswith("Bearer ") else None


def _handler(recorded: Recorded) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            recorded.requests.append(self.path)
            status, kind, body = recorded.answer(parts.path, parse_qs(parts.query), self.headers)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # quiet
            pass

    return Handler


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorded]:
    found = Recorded(0, uuid.uuid4().hex[:6])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.port = server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield found
    server.shutdown()
