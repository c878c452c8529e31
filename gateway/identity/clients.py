"""Who may get a token from the local issuer: agent and service clients, and people.

Kept in `<data dir>/gateway/clients.json` (0600) with hashed secrets only (scrypt, a memory-hard KDF):
the file never holds a secret or password a reader could use. An agent's secret exists in clear only in
the credentials file `vsmesh agent add` writes for it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from pathlib import Path
from typing import Literal

import msgspec

from vsmesh.bus.creds import write_private
from vsmesh.errors import ConfigError, NotFound
from vsmesh.gateway.identity.keys import gateway_dir

CLIENTS_FILE = "clients.json"
AGENTS_DIR = "agents"
# scrypt at n=2**14, r=8: 16 MiB and 0.13 s per check measured on the 2-core dev machine: once per token
# request (in a thread, off the event loop), never per call.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")

ClientKind = Literal["agent", "service"]


class Secret(msgspec.Struct, kw_only=True):
    salt: str
    digest: str


class Client(msgspec.Struct, kw_only=True):
    client_id: str
    kind: ClientKind
    secret: Secret
    created_at: float


class Person(msgspec.Struct, kw_only=True):
    name: str
    password: Secret
    created_at: float


class Registry(msgspec.Struct, kw_only=True):
    clients: dict[str, Client] = {}
    people: dict[str, Person] = {}


class AgentCredentials(msgspec.Struct, kw_only=True):
    """What an agent or service needs to get a token (OAuth client credentials, RFC 6749 §4.4); written
    0600 by `vsmesh agent add` (and by `vsmesh up` for its probe runner)."""

    client_id: str
    client_secret: str
    token_url: str | None  # None until a mesh has served the gateway once
    issuer: str | None
    kind: str


def credentials_path(data_dir: Path, name: str) -> Path:
    return data_dir / AGENTS_DIR / f"{name}.json"


def hash_secret(secret: str) -> Secret:
    salt = secrets.token_bytes(16)
    return Secret(salt=salt.hex(), digest=hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT).hex())


def check_secret(secret: str, stored: Secret) -> bool:
    digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(stored.salt), **_SCRYPT)
    return hmac.compare_digest(digest.hex(), stored.digest)


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"{what} {name!r} must be lower-case letters, digits, '.', '_' or '-', e.g. release-bot")
    return name


class Clients:
    """The registry file; every change is written at once (0600), every check reads the file afresh so a
    `vsmesh agent remove` in another process stops the next token request."""

    def __init__(self, data_dir: Path) -> None:
        self.path = gateway_dir(data_dir) / CLIENTS_FILE

    def load(self) -> Registry:
        return msgspec.json.decode(self.path.read_bytes(), type=Registry) if self.path.exists() else Registry()

    def _save(self, registry: Registry) -> None:
        write_private(self.path, msgspec.json.format(msgspec.json.encode(registry)))

    def add_client(self, name: str, kind: ClientKind) -> str:
        """Register a client; returns its secret, which is stored only hashed."""
        check_name(name, "agent name")
        registry = self.load()
        if name in registry.clients:
            raise ConfigError(f"agent {name!r} is registered already; `vsmesh agent remove {name}` first")
        secret = secrets.token_urlsafe(32)
        registry.clients[name] = Client(client_id=name, kind=kind, secret=hash_secret(secret), created_at=time.time())
        self._save(registry)
        return secret

    def remove_client(self, name: str) -> None:
        registry = self.load()
        if registry.clients.pop(name, None) is None:
            raise NotFound(f"no agent {name!r}; `vsmesh agent list` shows the registered ones")
        self._save(registry)

    def authenticate_client(self, client_id: str, secret: str) -> Client | None:
        client = self.load().clients.get(client_id)
        if client is None:
            hash_secret(secret)  # the same work as a known client: timing does not tell which ids exist
            return None
        return client if check_secret(secret, client.secret) else None

    def set_person(self, name: str, password: str) -> None:
        check_name(name, "user name")
        if len(password) < 8:
            raise ConfigError("a password needs at least 8 characters")
        registry = self.load()
        registry.people[name] = Person(name=name, password=hash_secret(password), created_at=time.time())
        self._save(registry)

    def authenticate_person(self, name: str, password: str) -> Person | None:
        person = self.load().people.get(name)
        if person is None:
            hash_secret(password)
            return None
        return person if check_secret(password, person.password) else None

    def is_agent(self, client_id: str) -> bool:
        client = self.load().clients.get(client_id)
        return client is not None and client.kind == "agent"
