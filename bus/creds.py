"""NATS users of the embedded runtime: an admin, one service user per hub, a read-only reader, the gateway.

Contract requests (`vsmesh.>`) may be sent by the admin, the gateway (which sends them for verified
callers) and, for read operations only, the reader; hub users and agents cannot send any, so an `actor`
forged in a raw contract request never reaches a hub. Agents get no NATS user at all.

Each user's credentials live in `<data dir>/creds/<user>.json` (mode 0600); the server's
`auth.conf` is generated from them, so issuing a user is: write its file, regenerate, reload.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from vsmesh.bus.subjects import check_slug, contract_service
from vsmesh.errors import ConfigError, InvalidEvent
from vsmesh.events.governance import ADMIN_ONLY_TYPES

ADMIN_USER = "admin"
READER_USER = "reader"
GATEWAY_USER = "gateway"
# The events the gateway publishes itself: its refusals, a call held for a person, an approved call's outcome.
GATEWAY_EVENT_TYPES = ("canon-call-refused", "canon-approval-requested", "canon-approval-executed")
# What the gateway must remember across its restarts: caps' counts, claims on approved calls (gateway/mcp/).
GATEWAY_BUCKET = "vsmesh-gateway"
HUB_USER_PREFIX = "svc-"  # so no hub slug (e.g. `admin`) can ever name a built-in user
HORIZONS = ("operational", "tactical", "strategic", "constitutional")
# canon-hub governs agents: its contract audits their actions on every hub (hubs/audit.py), read from the
# streams, so its user also gets JetStream's read side (ordered consumers, never stream configuration).
# aud-hub, the independent audit, reads the same, rebuilds copies of every hub from it, and asks other hubs'
# read operations (ops-hub's evidence) as the reader may.
AUDITOR_HUBS = frozenset({"canon-hub", "aud-hub"})
CREDS_DIR = "creds"
AUTH_FILE = "auth.conf"
_OPERATION = re.compile(r"^[a-z][a-z0-9_]*$")


class Creds(msgspec.Struct, kw_only=True):
    """How one NATS user logs in; `hub` is set for a hub's service user."""

    user: str
    password: str
    hub: str | None = None
    nats_url: str | None = None


def hub_user(hub: str) -> str:
    try:
        return HUB_USER_PREFIX + check_slug(hub, "hub")
    except InvalidEvent as e:
        raise ConfigError(str(e)) from None


def creds_path(data_dir: Path, user: str) -> Path:
    return data_dir / CREDS_DIR / f"{user}.json"


def write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600: the file holds a password."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_creds(data_dir: Path, user: str) -> Creds | None:
    path = creds_path(data_dir, user)
    if not path.exists():
        return None
    return msgspec.json.decode(path.read_bytes(), type=Creds)


def ensure_creds(data_dir: Path, user: str, *, hub: str | None = None, password: str | None = None) -> Creds:
    """The user's credentials, created (random password) if missing; `password` replaces a stored one."""
    existing = load_creds(data_dir, user)
    if existing and (password is None or existing.password == password):
        return existing
    creds = Creds(user=user, password=password or secrets.token_urlsafe(24), hub=hub)
    write_private(creds_path(data_dir, user), msgspec.json.format(msgspec.json.encode(creds)))
    return creds


def all_creds(data_dir: Path) -> list[Creds]:
    folder = data_dir / CREDS_DIR
    return [msgspec.json.decode(p.read_bytes(), type=Creds) for p in sorted(folder.glob("*.json"))]


def hub_permissions(hub: str, reads: Iterable[str] = ()) -> dict[str, Any]:
    """A hub's service: publish its own events, answer its contract; no stream or consumer administration,
    and no governance event (registry, manifests, widgets, reverts, canon policies and mandates).

    `vsmesh up` runs each hub's contract as this user (bus/contract_identity.py). What a contract does
    on NATS, and what grants it: a write publishes one event of its own hub (`{horizon}.{hub}.>`) and
    reads the stream's ack (`_INBOX.>`); the `vsmesh-{hub}` micro service listens on `vsmesh.{hub}.>`
    and on the `$SRV` discovery subjects of all services and of its own name, and answers on the
    caller's reply subject (`allow_responses`). Reads and `wait_for_seq` go to PostgreSQL, not NATS.
    An auditor hub (AUDITOR_HUBS) also reads the streams and may request the `reads` operations of any hub.
    """
    check_slug(hub, "hub")
    service = contract_service(hub)
    own = ("$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.>")  # granted below to every hub
    auditor = hub in AUDITOR_HUBS
    log_reads = [r for r in _read_api() if r not in own] if auditor else []
    contract_reads = _contract_reads(reads) if auditor else []
    return {
        "publish": {
            "allow": [
                *(f"{h}.{hub}.>" for h in HORIZONS),
                *log_reads,
                *contract_reads,
                # Optimistic concurrency reads the entity's last message; a read, not configuration.
                "$JS.API.STREAM.MSG.GET.*",
                "$JS.API.DIRECT.GET.>",
                # Replies to the contract's callers. `allow_responses` alone is not enough: a users reload
                # (every new hub user) forgets which replies a responder may send, and a request in flight
                # then gets no answer (seen as 10-s time-outs at start-up; nats.log: "Publish Violation -
                # Subject _INBOX…"). Inboxes are random; a hub user sees only its own callers' ones.
                "_INBOX.>",
            ],
            "deny": [
                "$JS.API.STREAM.CREATE.>",
                "$JS.API.STREAM.UPDATE.>",
                "$JS.API.STREAM.DELETE.>",
                # Governance events (events/governance.py) on any subject, its own hub's included.
                *(f"*.*.{event_type}.>" for event_type in sorted(ADMIN_ONLY_TYPES)),
            ],
        },
        "subscribe": {
            "allow": [
                "_INBOX.>",
                f"vsmesh.{hub}.>",
                # `$SRV.PING` (every service), `$SRV.PING.vsmesh-ops-hub` and `….<id>`: its own name only,
                # so it can never answer discovery for another hub's service.
                "$SRV.*",
                f"$SRV.*.{service}",
                f"$SRV.*.{service}.*",
            ]
        },
        # Answering requests (the contract, `$SRV` pings) = publishing to the requester's reply subject.
        "allow_responses": True,
    }


def _read_api() -> list[str]:
    """JetStream's read side: stream and consumer info, ordered (ephemeral) consumers, message gets."""
    return [
        "$JS.API.INFO",
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.LIST",
        "$JS.API.STREAM.INFO.*",
        "$JS.API.STREAM.MSG.GET.*",
        "$JS.API.DIRECT.GET.>",
        "$JS.API.CONSUMER.CREATE.>",  # ordered consumers are ephemeral ones
        "$JS.API.CONSUMER.INFO.>",
        "$JS.API.CONSUMER.DELETE.>",
        "$JS.API.CONSUMER.NAMES.*",
        "$JS.API.CONSUMER.LIST.*",
        "$JS.FC.>",  # flow-control replies of a push consumer
    ]


def reader_permissions(reads: Iterable[str]) -> dict[str, Any]:
    """Read-only: the JetStream read side, and contract requests for the `reads` operations (by name, on
    every hub: hubs/operations.py `read_operation_names`); no events, no write operation."""
    contract_reads = _contract_reads(reads)
    return {
        "publish": {"allow": [*_read_api(), *contract_reads]},
        "subscribe": {"allow": ["_INBOX.>", *(f"{h}.>" for h in HORIZONS)]},
    }


def _contract_reads(reads: Iterable[str]) -> list[str]:
    """Requests of the `reads` operations on every hub."""
    return [f"vsmesh.*.{_operation_token(name)}" for name in reads]


def _operation_token(name: str) -> str:
    """An operation name as one subject token: a wildcard or dot in it would widen the reader's grant."""
    if not _OPERATION.match(name):
        raise ConfigError(f"operation {name!r} must be lower-case letters, digits and underscores")
    return name


def gateway_permissions() -> dict[str, Any]:
    """The gateway: every contract request (it names the verified caller as actor, mandates decide what
    that caller may call), `$SRV` discovery of the hubs' services, and the JetStream read side to follow
    canon's mandates and the registry live; of events only its refusals and the approvals it holds calls for
    (on canon-hub, gateway/mcp/), and it answers no contract."""
    own = [f"*.canon-hub.{t}.>" for t in GATEWAY_EVENT_TYPES]
    # Its own key-value bucket: made on first use, written.
    bucket = [f"$JS.API.STREAM.CREATE.KV_{GATEWAY_BUCKET}", f"$KV.{GATEWAY_BUCKET}.>"]
    return {
        "publish": {"allow": [*_read_api(), "vsmesh.>", "$SRV.>", "_INBOX.>", *own, *bucket]},
        "subscribe": {"allow": ["_INBOX.>", *(f"{h}.>" for h in HORIZONS)]},
    }


def users_config(data_dir: Path, reads: Iterable[str]) -> str:
    """`auth.conf`: every user with a credentials file, each with its permissions; `reads` are the contract
    operations the reader may request."""
    users = []
    reads = tuple(reads)
    for creds in all_creds(data_dir):
        entry: dict[str, Any] = {"user": creds.user, "password": creds.password}
        if creds.user == READER_USER:
            entry["permissions"] = reader_permissions(reads)
        elif creds.user == GATEWAY_USER:
            entry["permissions"] = gateway_permissions()
        elif creds.hub:
            entry["permissions"] = hub_permissions(creds.hub, reads)
        elif creds.user != ADMIN_USER:
            continue  # an unknown file grants nothing
        users.append(entry)
    # nats-server reads JSON; every string is quoted, so no password or subject can break the syntax.
    return "users: " + json.dumps(users, indent=1) + "\n"


def ensure_users(data_dir: Path, *, admin_password: str | None, hubs: Iterable[str], reads: Iterable[str]) -> Creds:
    """Credentials for admin, reader, gateway and every hub; returns the admin's."""
    admin = ensure_creds(data_dir, ADMIN_USER, password=admin_password)
    ensure_creds(data_dir, READER_USER)
    ensure_creds(data_dir, GATEWAY_USER)
    for hub in hubs:
        ensure_creds(data_dir, hub_user(hub), hub=hub)
    write_private(data_dir / AUTH_FILE, users_config(data_dir, reads).encode())
    return admin
