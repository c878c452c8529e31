"""The values canon's policies declare for timed checks, read from canon's policies in force (pure, no I/O).

A policy carries machine-readable values in `metadata.values` of its `canon-policy-declared` event, e.g.

    {"budget_alert_pct": 90, "runway_alert_months": 6, "runway_check_every": "1d",
     "agent_spend_threshold": {"amount": "50", "currency": "EUR"}, "agent_spend_period": "month",
     "escalation_sla": {"operational": "4h", "tactical": "3d", "strategic": "14d"}}

A check runs only when some policy in force declares its value: nothing here has a default, so what the
mesh checks is what canon says. When several policies declare one value, the strictest wins (the lowest
percentage, threshold, interval and SLA; the highest runway threshold), and the answer names that policy.
A value that cannot be read is left out and listed in `ignored` with the reason, never guessed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from vsmesh.durations import parse_duration

T = TypeVar("T")

HORIZONS = ("operational", "tactical", "strategic", "constitutional")
PERIODS = ("month", "quarter", "year")


@dataclass(frozen=True)
class Declared(Generic[T]):
    """A value and the policy (slug and event) that declared it."""

    value: T
    policy: str
    event_id: str | None = None


@dataclass(frozen=True)
class CheckValues:
    """Everything the timed checks need from canon; None (or empty) where no policy declares it."""

    budget_alert_pct: Declared[Decimal] | None = None
    runway_alert_months: Declared[Decimal] | None = None
    runway_check_every_s: Declared[float] | None = None
    agent_spend_threshold: dict[str, Declared[Decimal]] = field(default_factory=dict)  # by currency
    agent_spend_period: Declared[str] | None = None
    escalation_sla_s: dict[str, Declared[float]] = field(default_factory=dict)  # by horizon
    ignored: tuple[str, ...] = ()  # "policy P: value V: why it was not read"


def duration_s(value: object) -> float:
    """Seconds from `90s`, `15m`, `4h`, `3d`, `2w` or a bare number of seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is no duration; write e.g. 4h, 3d or 2w")
    seconds = parse_duration(value)  # type: ignore[arg-type]
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration")
    return seconds


def number(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is no number")
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is no number") from None
    if not found.is_finite() or found <= 0:
        raise ValueError(f"{value!r} is not a positive number")
    return found


def money(value: object, values: dict[str, Any]) -> tuple[Decimal, str]:
    """(amount, currency) from `{"amount": "500", "currency": "EUR"}`, or a number beside `currency`."""
    if isinstance(value, dict):
        amount, currency = value.get("amount"), value.get("currency")
    else:
        amount, currency = value, values.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError(f"{value!r} names no currency; write {{'amount': '500', 'currency': 'EUR'}}")
    return number(amount), currency


def period(value: object) -> str:
    if value not in PERIODS:
        raise ValueError(f"{value!r} is no period; use one of {', '.join(PERIODS)}")
    return str(value)


class _Reader:
    """Collects the strictest declaration of each value over the policies, and what could not be read."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], Declared] = {}
        self.ignored: list[str] = []

    def offer(self, key: tuple[str, str], value: Any, policy: dict[str, Any], stricter: Callable[[Any, Any], bool]):
        declared = Declared(value, str(policy["policy"]), policy.get("event_id"))
        held = self.found.get(key)
        if held is None or stricter(value, held.value) or (value == held.value and declared.policy < held.policy):
            self.found[key] = declared

    def read(self, policy: dict[str, Any], name: str, raw: object, parse: Callable[[object], T]) -> T | None:
        try:
            return parse(raw)
        except ValueError as e:
            self.ignored.append(f"policy {policy['policy']}: {name}: {e}")
            return None


def _lower(a: Any, b: Any) -> bool:
    return a < b


def _higher(a: Any, b: Any) -> bool:
    return a > b


def check_values(policies: Iterable[dict[str, Any]]) -> CheckValues:
    """The values of canon's policies in force (rows of canon-hub's `get_policies`)."""
    r = _Reader()
    for p in policies:
        values = p.get("values") or {}
        if not isinstance(values, dict):
            continue
        for name, parse, stricter in (
            ("budget_alert_pct", number, _lower),
            ("runway_alert_months", number, _higher),
            ("runway_check_every", duration_s, _lower),
            ("agent_spend_period", period, lambda a, b: PERIODS.index(a) < PERIODS.index(b)),
        ):
            if name in values and (found := r.read(p, name, values[name], parse)) is not None:
                r.offer(("", name), found, p, stricter)
        if "agent_spend_threshold" in values:
            parse = functools.partial(money, values=values)
            found = r.read(p, "agent_spend_threshold", values["agent_spend_threshold"], parse)
            if found is not None:
                r.offer((found[1], "agent_spend_threshold"), found[0], p, _lower)
        sla = values.get("escalation_sla")
        if sla is not None and not isinstance(sla, dict):
            r.ignored.append(f"policy {p['policy']}: escalation_sla: write {{'operational': '4h', …}} per horizon")
        for horizon, raw in (sla or {}).items():
            if horizon not in HORIZONS:
                r.ignored.append(f"policy {p['policy']}: escalation_sla: {horizon!r} is no horizon")
            elif (seconds := r.read(p, f"escalation_sla.{horizon}", raw, duration_s)) is not None:
                r.offer((horizon, "escalation_sla"), seconds, p, _lower)
    one = {name: d for (scope, name), d in r.found.items() if scope == ""}
    return CheckValues(
        budget_alert_pct=one.get("budget_alert_pct"),
        runway_alert_months=one.get("runway_alert_months"),
        runway_check_every_s=one.get("runway_check_every"),
        agent_spend_threshold={s: d for (s, n), d in r.found.items() if n == "agent_spend_threshold"},
        agent_spend_period=one.get("agent_spend_period"),
        escalation_sla_s={s: d for (s, n), d in r.found.items() if n == "escalation_sla"},
        ignored=tuple(r.ignored),
    )
