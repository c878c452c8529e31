"""The small languages a canon mandate is written in: scope entries, and the conditions that need a person.

A scope entry is `HUB[:OPERATIONS]`: HUB a hub slug or glob (`*`, `ops-*`), OPERATIONS `read` (every read),
`write` (every write), `*`, or an operation name or glob (`get_*`); a bare HUB means every operation.

An approval condition is an entry, optionally followed by one comparison of an argument of the call:

    fin-hub:record_cost amount > 500 EUR
    ops-hub:open_incident severity == critical
    *:retire_*

`ARGUMENT OP VALUE [CURRENCY]` with OP one of `> >= < <= == !=`; VALUE a number or a word (quoted when it
holds spaces). A CURRENCY compares only amounts in that currency: a call in another currency cannot be
compared and so needs a person too (fail closed). A call that does not carry the argument at all is not
held by the condition (it spends nothing, changes no severity). Parsed with one regular expression and
Decimal, never evaluated as code: a mandate is data a person wrote by hand.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any

import msgspec

_SEPARATORS = re.compile(r"[,\s]+")
_CONDITION = re.compile(
    r"""^\s*(?P<entry>[a-z0-9*?-]+(?::[A-Za-z0-9_*?-]+)?)
        (?:\s+(?P<argument>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*
           (?P<value>"[^"]*"|'[^']*'|[^\s"']+)(?:\s+(?P<currency>[A-Z]{3}))?)?\s*$""",
    re.VERBOSE,
)
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_EXAMPLE = "e.g. 'fin-hub:record_cost amount > 500 EUR' or 'ops-hub:open_incident severity == critical'"


@dataclass(frozen=True)
class Entry:
    """One `HUB[:OPERATIONS]` entry of a scope."""

    hub: str
    operations: str = "*"

    @classmethod
    def parse(cls, text: str) -> Entry:
        hub, _, operations = text.strip().partition(":")
        return cls(hub or "*", operations or "*")

    def covers(self, hub: str, operation: str, write: bool) -> bool:
        if not fnmatchcase(hub, self.hub):
            return False
        if self.operations == "read":
            return not write
        if self.operations == "write":
            return write
        return fnmatchcase(operation, self.operations)

    def __str__(self) -> str:
        return f"{self.hub}:{self.operations}"


def parse_scope(scope: str | None) -> tuple[Entry, ...]:
    return tuple(Entry.parse(part) for part in _SEPARATORS.split(scope or "") if part)


@dataclass(frozen=True)
class Condition:
    """`entry [argument op value [currency]]`: which calls need a person's approval before they run."""

    text: str
    entry: Entry
    argument: str | None = None
    op: str | None = None
    value: Decimal | str | None = None
    currency: str | None = None

    @classmethod
    def parse(cls, text: str) -> Condition:
        found = _CONDITION.match(text)
        if found is None:
            raise ValueError(
                f"approve condition {text!r} is not `HUB:OPERATION [ARGUMENT OP VALUE [CURRENCY]]`; {_EXAMPLE}"
            )
        raw = found["value"]
        value: Decimal | str | None = None
        if raw is not None:
            value = raw[1:-1] if raw[:1] in "\"'" else _number(raw)
            if found["currency"] and not isinstance(value, Decimal):
                raise ValueError(f"approve condition {text!r}: a currency follows a number, not {raw!r}; {_EXAMPLE}")
            if isinstance(value, str) and found["op"] not in ("==", "!="):
                raise ValueError(
                    f"approve condition {text!r}: {found['op']} compares numbers, not {raw!r} (words take == or !=)"
                )
        entry = Entry.parse(found["entry"])
        return cls(text.strip(), entry, found["argument"], found["op"], value, found["currency"])

    def needs_approval(self, hub: str, operation: str, write: bool, arguments: Mapping[str, Any]) -> bool:
        """True when this call must wait for a person: it is of the entry and the comparison holds (or the
        amount is in a currency the condition cannot compare)."""
        if not self.entry.covers(hub, operation, write):
            return False
        if self.argument is None:
            return True
        if self.argument not in arguments:
            return False
        if self.currency is not None and arguments.get("currency", self.currency) != self.currency:
            return True
        given = arguments[self.argument]
        if isinstance(self.value, Decimal):
            try:
                given = Decimal(str(given))
            except InvalidOperation:
                return True  # not a number where the condition expects one: a person looks at it
        else:
            given = str(given)
        return _OPERATORS[self.op or "=="](given, self.value)


def _number(raw: str) -> Decimal | str:
    try:
        return Decimal(raw)
    except InvalidOperation:
        return raw


def parse_conditions(texts: list[str]) -> tuple[Condition, ...]:
    """Every approve condition of a mandate; ValueError names the first that cannot be read."""
    return tuple(Condition.parse(t) for t in texts)


def arguments_hash(arguments: Mapping[str, Any]) -> str:
    """The hash an approval is bound to: SHA-256 of the call's arguments as canonical JSON (keys sorted)."""
    return hashlib.sha256(msgspec.json.encode(dict(arguments), order="sorted", enc_hook=str)).hexdigest()
