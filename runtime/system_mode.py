"""System mode (`vsmesh up --system`): the mesh runs as its own OS user, its data dir 0700 and that user's, so no
process of the operator's user — a coding agent in their shell among them — can read the admin credentials, the
issuer's and the chain's signing keys, or the people's password hashes. People sign in (`vsmesh login`) and write
through the gateway as themselves; the admin is the mesh's processes alone.

Started as root, the process hands its data dir to that user and becomes it before anything is started (every
server, file and child process after is the user's, and its umask keeps new files private); started as that user
already, it only makes sure of the data dir. deploy/vsmesh.service does the same with systemd's `User=`.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import structlog

from vsmesh.errors import ConfigError

log = structlog.get_logger(__name__)

DEFAULT_USER = "vsmesh"


def become(user: str, data_dir: Path) -> None:
    """Continue as the OS user `user` with `data_dir` 0700 and its own; ConfigError naming the fix when the user
    does not exist, or this process may not become it."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(
            f"--system runs the mesh as the OS user {user!r}, which does not exist: create it (`sudo useradd"
            f" --system --home-dir /var/lib/vsmesh --shell /usr/sbin/nologin {user}`) or name another with --user"
        ) from None
    if entry.pw_uid == 0:
        raise ConfigError("--system needs an OS user of the mesh's own, not root: name one with --user")
    me = os.geteuid()
    if me not in (0, entry.pw_uid):
        raise ConfigError(
            f"--system runs the mesh as {user}; this is {pwd.getpwuid(me).pw_name}: start it as root"
            f" (`sudo vsmesh up --system`) or as {user} (`sudo -u {user} vsmesh up --system`)"
        )
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if me == 0:
        _hand_over(data_dir, entry.pw_uid, entry.pw_gid)
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)  # for good: nothing after this runs as root
    os.umask(0o077)
    _reachable(data_dir, user)
    data_dir.chmod(0o700)
    log.info("system mode", user=user, uid=entry.pw_uid, data_dir=str(data_dir))


def _hand_over(data_dir: Path, uid: int, gid: int) -> None:
    """Everything under the data dir becomes the user's (a data dir made by root before, too)."""
    for root, dirs, files in os.walk(data_dir, followlinks=False):
        for name in [*dirs, *files]:
            os.lchown(Path(root) / name, uid, gid)
    os.chown(data_dir, uid, gid)


def _reachable(data_dir: Path, user: str) -> None:
    """The user must reach its data dir: a parent it may not enter is named, with the fix."""
    if not os.access(data_dir, os.R_OK | os.W_OK | os.X_OK):
        blocked = next((p for p in reversed(data_dir.parents) if not os.access(p, os.X_OK)), data_dir)
        raise ConfigError(
            f"the mesh's user {user} cannot reach its data dir {data_dir} ({blocked} is closed to it): choose a"
            " data dir under a directory it may enter, e.g. --data-dir /var/lib/vsmesh/mesh"
        )
