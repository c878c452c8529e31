"""A receiver's secrets as people write them: `{env:NAME}` or `{file:PATH}`, read at delivery, never stored.

An error names the variable or the file, never a value, so it may go into a log line or an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from vsmesh.errors import ConfigError
from vsmesh.events.schemas.notification import SECRET_REFERENCE


def resolve(reference: str, environ: Mapping[str, str]) -> str:
    """The secret a reference points at; ConfigError naming the variable or file when it is not there."""
    found = SECRET_REFERENCE.match(reference)
    if found is None:
        raise ConfigError("a secret is a reference, {env:NAME} or {file:PATH}; write it so in the policy")
    kind, name = found.groups()
    if kind == "env":
        if name not in environ:
            raise ConfigError(f"the environment variable {name} is not set in the mesh's process; set it and replay")
        return environ[name]
    try:
        return Path(name).read_text().strip()
    except OSError as e:
        raise ConfigError(f"cannot read the secret file {name} ({e.strerror}); fix it and replay") from None
