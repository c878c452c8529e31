"""Values that look like secrets: the repository is read by many, so one is refused wherever it appears.

The problem names the file, the line, the key and what it looked like; never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import yaml

LOOKS_LIKE = (
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("an API key", re.compile(r"\bsk-(ant-|proj-)?[A-Za-z0-9_-]{20,}")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("a password in a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)),
)
# A key that names a secret, holding a literal (not a reference such as `env:NAME` or `${NAME}`).
SECRET_KEY = re.compile(r"(^|[_./-])(password|passwd|secret|token|api[_-]?key|private[_-]?key)$", re.IGNORECASE)
REFERENCE = re.compile(r"^(\$\{.*\}|(env|file|vault|sops|ref\+[a-z]+):.*)$")
FIX = "keep secrets out of the repository (reference them, e.g. `env:NAME`, and store them in a secret manager)"


def secret_problems(node: yaml.Node | None, source: str) -> list[str]:
    """One line per value under `node` that looks like a secret."""
    return [f"{source}:{line}: {key}: looks like {what}; {FIX}" for line, key, what in _findings(node, "document")]


def _findings(node: yaml.Node | None, key: str) -> Iterator[tuple[int, str, str]]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            name = str(getattr(k, "value", "?"))
            yield from _findings(v, name)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _findings(item, key)
    elif isinstance(node, yaml.ScalarNode) and isinstance(node.value, str):
        what = looks_like(key, node.value)
        if what:
            yield node.start_mark.line + 1, key, what


def looks_like(key: str, value: str) -> str | None:
    """What a value looks like, if it looks like a secret."""
    for what, pattern in LOOKS_LIKE:
        if pattern.search(value):
            return what
    if SECRET_KEY.search(key) and len(value) >= 6 and not REFERENCE.match(value):
        return "a secret (by its key's name)"
    return None
