"""The condition language of probe files, in the spirit of Gatus: `[PLACEHOLDER] OPERATOR VALUE`.

    [STATUS] == 401
    [HEADER:Docker-Distribution-Api-Version] == registry/2.0
    [BODY].status == ok                  a JSON path into the body: `.a.b`, `.items[0].name`
    [RESPONSE_TIME] < 300                milliseconds (or a duration: `< 1.5s`)
    [CERTIFICATE_EXPIRATION] > 14d       time left on the certificate (durations: ms, s, m, h, d)
    [CONNECTED] == true
    [DNS_ANSWER] contains 127.0.0.1
    [BACKUP_AGE] < 26h
    [CERTIFICATE_ISSUER] matches ^CN=.*Let's Encrypt

Operators: `==`, `!=`, `<`, `<=`, `>`, `>=`, `contains` (a list holds the value, or a text contains it),
`matches` (a regular expression searched in the text), and their negations `not contains` and `not matches`.
A value is a number, a duration, `true`/`false`, `null`, or text (quotes optional; they keep leading or
trailing spaces). Each probe kind offers its own placeholders (`PLACEHOLDERS` below); a probe file naming one
its kind does not have is refused at load.

Every evaluation records what was observed, so an event says which condition held or failed and why.
A placeholder nothing was observed for (no answer at all, a header not sent) fails every comparison, the
negative ones too: `[STATUS] != 500` or `[BODY] not contains error` against a refused connection must not
turn a probe green, since a dead server is not a healthy one. Only `== null` holds on nothing observed: it
says so explicitly (`[HEADER:Server] == null`, the server names no software).
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vsmesh.durations import SECONDS, is_duration, parse_duration

# Placeholder -> the unit its observed value is in ("ms", "s"), or None for a unitless value.
UNITS: dict[str, str | None] = {
    "STATUS": None,
    "HEADER": None,
    "BODY": None,
    "RESPONSE_TIME": "ms",
    "CONNECTED": None,
    "CERTIFICATE_EXPIRATION": "s",
    "CERTIFICATE_VALID": None,
    "CERTIFICATE_ISSUER": None,
    "HOSTNAME_MATCH": None,
    "DNS_ANSWER": None,
    "DNS_RCODE": None,
    "BACKUP_AGE": "s",
    "BACKUP_SIZE": None,
    "BACKUP_COUNT": None,
    "REPLICATION_LAG": "s",
    "READYZ": None,
    "LIVEZ": None,
    "NODES_READY": None,
    "NODES_NOT_READY": None,
}

_CONDITION = re.compile(
    r"^\s*\[(?P<name>[A-Z_]+)(?::(?P<arg>[^\]]+))?\](?P<path>\S*)\s+"
    r"(?P<op>==|!=|<=|>=|<|>|(?:not\s+)?contains|(?:not\s+)?matches)\s+(?P<value>.+?)\s*$"
)
_PATH_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Condition:
    """One parsed condition; `text` is how the probe file wrote it (and how events name it)."""

    text: str
    placeholder: str
    argument: str | None  # the header name of [HEADER:Name]
    path: str  # the JSON path after [BODY]
    op: str
    value: Any

    def evaluate(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        """{"condition", "held", "observed"} for this result's observations."""
        seen = self.observed_in(observed)
        return {"condition": self.text, "held": _holds(self.op, seen, self.value), "observed": seen}

    def observed_in(self, observed: Mapping[str, Any]) -> Any:
        if self.placeholder == "HEADER":
            headers = observed.get("HEADER") or {}
            return {k.lower(): v for k, v in headers.items()}.get((self.argument or "").lower())
        value = observed.get(self.placeholder)
        if self.placeholder == "BODY" and self.path:
            return json_path(value, self.path)
        return value


@functools.lru_cache(maxsize=4096)  # every run of a probe evaluates the same few texts
def parse_condition(text: str, allowed: frozenset[str] | None = None) -> Condition:
    """A condition from its text; ValueError naming what is wrong and how to write it."""
    found = _CONDITION.match(text)
    if not found:
        raise ValueError(f"{text!r} is no condition; write `[PLACEHOLDER] OPERATOR VALUE`, e.g. `[STATUS] == 200`")
    name, arg, path = found.group("name"), found.group("arg"), found.group("path")
    if name not in UNITS:
        raise ValueError(f"{text!r}: unknown placeholder [{name}]; known: {', '.join(sorted(UNITS))}")
    if allowed is not None and name not in allowed:
        raise ValueError(f"{text!r}: this probe kind observes no [{name}]; it offers {', '.join(sorted(allowed))}")
    if name == "HEADER" and not arg:
        raise ValueError(f"{text!r}: name the header, e.g. [HEADER:Content-Type]")
    if path and name != "BODY":
        raise ValueError(f"{text!r}: only [BODY] takes a path")
    if path and _PATH_PART.sub("", path):
        raise ValueError(f"{text!r}: a body path is `.key`, `.key[0]`, `.a.b` …")
    op = " ".join(found.group("op").split())  # `not   contains` is `not contains`
    value = _literal(found.group("value"), UNITS[name])
    if op.endswith("matches"):
        try:
            re.compile(str(value))
        except re.error as e:
            raise ValueError(f"{text!r}: not a regular expression ({e})") from None
    return Condition(text.strip(), name, arg, path, op, value)


def parse_observed(text: str, allowed: frozenset[str] | None = None) -> Condition:
    """A bare placeholder (`[BODY].version`, `[HEADER:X-Release]`) naming a value a probe observes, for drift
    checks; its `observed_in` reads the value. ValueError naming what is wrong."""
    if not re.match(r"^\s*\[[A-Z_]+(?::[^\]]+)?\]\S*\s*$", text):
        raise ValueError(f"{text!r} names no observed value; write a placeholder, e.g. [BODY].version")
    return parse_condition(f"{text.strip()} == null", allowed)


def _literal(raw: str, unit: str | None) -> Any:
    """A condition's value: quoted text, true/false/null, a duration in the placeholder's unit, a number, text."""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if unit and is_duration(raw):
        return parse_duration(raw) / SECONDS[unit]
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def json_path(body: Any, path: str) -> Any:
    """The value at `.a.b[0]` in a JSON body (text or already decoded); None when it is not there."""
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    for key, index in _PATH_PART.findall(path):
        if key and isinstance(body, dict):
            body = body.get(key)
        elif index and isinstance(body, list) and int(index) < len(body):
            body = body[int(index)]
        else:
            return None
    return body


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _holds(op: str, seen: Any, wanted: Any) -> bool:
    if op == "==":
        return same_value(seen, wanted)
    if seen is None:
        return False  # nothing seen proves nothing: a negation must not hold for a server that never answered
    if op == "!=":
        return not same_value(seen, wanted)
    if op.startswith("not "):
        return not _holds(op.removeprefix("not "), seen, wanted)
    if op == "contains":
        if isinstance(seen, list | tuple | set):
            return any(same_value(item, wanted) for item in seen)
        return str(wanted) in str(seen)
    if op == "matches":
        return re.search(str(wanted), str(seen)) is not None
    try:
        return _ORDER[op](float(seen), float(wanted))
    except (TypeError, ValueError):
        return False  # a text is neither above nor below a number


def same_value(seen: Any, wanted: Any) -> bool:
    """Equality that lets `[STATUS] == 401` match 401 and `[BODY].n == 3` match "3" as written in YAML."""
    if isinstance(seen, bool) or isinstance(wanted, bool) or seen is None or wanted is None:
        return seen == wanted
    if isinstance(seen, int | float) and isinstance(wanted, int | float):
        return float(seen) == float(wanted)
    return str(seen) == str(wanted)


def evaluate(conditions: list[Condition], observed: Mapping[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    """Whether every condition held, and each one's outcome in order."""
    outcomes = [c.evaluate(observed) for c in conditions]
    return all(o["held"] for o in outcomes), outcomes
