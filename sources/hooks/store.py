"""The registered hooks: `<data dir>/hooks/hooks.json` (mode 0600), written by `vsmesh hook add|remove` and read
by the gateway on each delivery (re-read only when the file changed).

A hook's secret is kept in clear: an HMAC signature can only be checked with the key itself (a bearer token
could be hashed, but one scheme for all sources keeps this file simple). The file is the data dir's like the
NATS credentials, readable by the mesh's own user only.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import msgspec

from vsmesh.bus.creds import write_private
from vsmesh.errors import ConfigError, NotFound

HOOKS_DIR = "hooks"
HOOKS_FILE = "hooks.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


class Hook(msgspec.Struct, frozen=True, kw_only=True):
    """One registered hook: where a source posts (`/hooks/{source}/{name}`), the hub its events go to, the secret
    that proves a delivery, and the service client whose verified identity is the events' actor."""

    source: str
    name: str
    hub: str
    secret: str
    created_at: float

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"

    @property
    def actor(self) -> str:
        """The service client at the gateway's issuer (one per hook, so an event names the hook it came by)."""
        return f"hook-{self.source}-{self.name}"

    @property
    def path(self) -> str:
        return f"/hooks/{self.source}/{self.name}"


class HookFile(msgspec.Struct, kw_only=True):
    hooks: dict[str, Hook] = {}


def hooks_path(data_dir: Path) -> Path:
    return data_dir / HOOKS_DIR / HOOKS_FILE


class Hooks:
    """The hooks of one data dir; `get` re-reads the file only when its modification time changed."""

    def __init__(self, data_dir: Path) -> None:
        self.path = hooks_path(data_dir)
        self._seen: tuple[int, int] | None = None
        self._hooks: dict[str, Hook] = {}

    def load(self) -> dict[str, Hook]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._hooks = None, {}
            return self._hooks
        if (stat.st_mtime_ns, stat.st_size) != self._seen:
            self._hooks = msgspec.json.decode(self.path.read_bytes(), type=HookFile).hooks
            self._seen = (stat.st_mtime_ns, stat.st_size)
        return self._hooks

    def get(self, source: str, name: str) -> Hook | None:
        return self.load().get(f"{source}/{name}")

    def add(self, source: str, name: str, hub: str, secret: str) -> Hook:
        """Register a hook with its new `secret`; ConfigError if the name is taken or not a URL-safe name."""
        if not _NAME.match(name):
            raise ConfigError(f"hook name {name!r}: use lower-case letters, digits and '-' (at most 41), e.g. prod")
        hooks = dict(self.load())
        if f"{source}/{name}" in hooks:
            raise ConfigError(
                f"hook {source}/{name} exists; `vsmesh hook remove {source} {name}` first to give it a new secret"
            )
        hook = Hook(source=source, name=name, hub=hub, secret=secret, created_at=time.time())
        hooks[hook.key] = hook
        self._write(hooks)
        return hook

    def remove(self, source: str, name: str) -> Hook:
        hooks = dict(self.load())
        hook = hooks.pop(f"{source}/{name}", None)
        if hook is None:
            raise NotFound(f"no hook {source}/{name}; `vsmesh hook list` shows the registered ones")
        self._write(hooks)
        return hook

    def _write(self, hooks: dict[str, Hook]) -> None:
        write_private(self.path, msgspec.json.format(msgspec.json.encode(HookFile(hooks=hooks))) + b"\n")
        self._seen = None
