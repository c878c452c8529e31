"""Governance needs a fresh person: granting or revoking a mandate, declaring a policy, reverting, bootstrapping a
hub, changing retention, signing the chain.

Only a person's token (`actor_kind` human) whose `auth_time` — when the password was entered, which a refresh
keeps (refresh.py) — lies within `VSMESH_STEP_UP_S` may do it: never an agent's or a service's, and never a person's
token that an agent picked up and kept refreshing. Each refusal is one line naming the step-up.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from vsmesh.errors import PermissionDenied
from vsmesh.gateway.identity.principal import Principal

STEP_UP = "`vsmesh login --step-up`"


def require_fresh_person(
    who: Principal, claims: Mapping[str, Any], step_up_s: float, what: str, now: float | None = None
) -> None:
    """PermissionDenied, naming the step-up, unless `who` is a person who entered a password within `step_up_s`."""
    if who.kind != "human":
        raise PermissionDenied(
            f"refused: {what} is governance, which only a person may do, not the {who.kind} {who.subject};"
            f" a person signs in with {STEP_UP}"
        )
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
        raise PermissionDenied(
            f"refused: {what} needs a recent sign-in and this token does not say when {who.subject} entered a"
            f" password (no auth_time); run {STEP_UP}"
        )
    age = (time.time() if now is None else now) - float(auth_time)
    if age > step_up_s:
        raise PermissionDenied(
            f"refused: {what} needs a password entered within the last {step_up_s:g} s; {who.subject} entered it"
            f" {age:.0f} s ago: run {STEP_UP}"
        )
