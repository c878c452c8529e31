"""The repository's documented layout, as people write it: one pydantic model per kind of file.

    canon/policies/*.yaml             a policy with its values (one per file; `policy` defaults to the file's name)
    canon/mandates/*.yaml             a mandate: role, holder, scope, constraints, until, approve, caps,
                                      delegated_from (the mandate file it is delegated from)
    fin/budgets/*.yaml                a domain's budgets per period
    catalog/**/catalog-info.yaml      Backstage's own format: Component, Resource, System, API, Group documents

Unknown fields are refused (a typo must not silently mean nothing).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SLUG = r"^[a-z0-9][a-z0-9._-]*$"
PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyFile(Strict):
    policy: str | None = Field(None, pattern=SLUG, description="its slug; default: the file's name")
    title: str = Field(min_length=1)
    version: str | None = None
    scope: str | None = None
    statement: str | None = None
    document: str | None = None
    supersedes: str | None = None
    non_delegable: bool = False  # no mandate may hand this on
    sunset: dt.date | None = None  # the policy lapses on this date unless the repo renews it
    values: dict[str, Any] = {}  # what canon's timed checks read (hubs/canon/values.py)


class MandateFile(Strict):
    role: str = Field(min_length=1)
    holder: str = Field(min_length=1)
    scope: str = Field(min_length=1, description="HUB[:OPERATIONS] entries: a hub's slug or a glob")
    constraints: list[str] = []
    until: dt.datetime | None = None
    approve: list[str] = Field(
        [], description="calls held for a person's approval, e.g. 'fin-hub:record_cost amount > 500 EUR'"
    )
    caps: dict[str, Any] | None = Field(None, description="hard stops: calls_per_minute, spend {amount, currency, per}")
    delegated_from: str | None = Field(None, description="the mandate file it derives from, e.g. founder.yaml")

    @field_validator("until")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2027-01-01T00:00:00Z")
        return value


class BudgetFile(Strict):
    domain: str = Field(pattern=SLUG)
    currency: str = Field("EUR", pattern="^[A-Z]{3}$")
    category: str | None = None
    periods: dict[str, Decimal] = Field(min_length=1, description="period (2026-11, 2026-Q4, 2026) → amount")

    @field_validator("periods")
    @classmethod
    def _periods(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for period, amount in value.items():
            if not PERIOD.match(period):
                raise ValueError(f"period {period!r} is not YYYY, YYYY-MM or YYYY-Qn")
            if amount < 0:
                raise ValueError(f"period {period}: a budget is not negative")
        return value


class EntityRef(Strict):
    model_config = ConfigDict(extra="allow", frozen=True)  # Backstage adds fields; we read these
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    namespace: str | None = None
    title: str | None = None
    description: str | None = None
    annotations: dict[str, str] = {}
    labels: dict[str, str] = {}
    tags: list[str] = []
    links: list[dict[str, str]] = []


class CatalogEntity(Strict):
    """One document of a catalog-info.yaml (https://backstage.io/docs/features/software-catalog/descriptor-format)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    apiVersion: Literal["backstage.io/v1alpha1", "backstage.io/v1beta1"]  # noqa: N815 - Backstage's field names
    kind: Literal["Component", "Resource", "System", "API", "Group"]
    metadata: EntityRef
    spec: dict[str, Any] = {}
