"""The vendor register's import file (TPSC: third-party services and tools), CSV or YAML, validated with
pydantic; the first bad value is refused as `file:line: field: message`, and nothing is published.

A vendor's event id is a hash of its validated content: importing the same file again gives the same ids
(published nothing new); a changed row is a new record of that vendor.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vsmesh.errors import ConfigError
from vsmesh.hubs.filecheck import parse_document, validate

IMPORT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "vsmesh:legal-hub:import-tpsc")


class TpscTool(BaseModel):
    """One vendor row, as people write it (also `ingest_tpsc_tool`'s request body)."""

    model_config = ConfigDict(extra="forbid")

    vendor: str = Field(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str | None = None
    service: str | None = None
    purpose: str | None = None
    data_categories: list[str] = []
    personal_data: bool = False
    location: str | None = Field(None, pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country, e.g. DE")
    dpa_status: Literal["signed", "pending", "none", "not-required"] = "none"
    dpa_signed_on: dt.date | None = None
    transfer_mechanism: Literal["adequacy", "scc", "bcr", "derogation", "none"] | None = None
    review_by: dt.date | None = None
    aliases: list[str] = []

    @field_validator("data_categories", "aliases", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # A CSV cell holds a list as "a; b"; YAML writes a list.
        if isinstance(value, str):
            return [p.strip() for p in value.split(";") if p.strip()]
        return value

    @field_validator("location", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) and value.strip() else value or None

    def data(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(mode="json").items() if v not in (None, [], "")}

    def content_id(self) -> str:
        """The id of the event recording this row: from its content, so the same row is stored once."""
        return str(uuid.uuid5(IMPORT_NAMESPACE, json.dumps(self.data(), sort_keys=True)))


def read_tpsc(text: str, source: str) -> list[TpscTool]:
    """The file's vendors (CSV with a header row when the name ends .csv, else YAML: a list or `vendors:`)."""
    if source.lower().endswith(".csv"):
        return _read_csv(text, source)
    raw, node = parse_document(text, source)
    prefix: tuple = ()
    if isinstance(raw, dict) and "vendors" in raw:
        raw, prefix = raw["vendors"], ("vendors",)
    if not isinstance(raw, list):
        raise ConfigError(f"{source}:1: a TPSC file is a list of vendors (or a mapping with `vendors:`)")
    rows = [validate(TpscTool, item, node, source, prefix + (i,)) for i, item in enumerate(raw)]
    _once(rows, source)
    return rows


def _read_csv(text: str, source: str) -> list[TpscTool]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for raw in reader:
        cells = {k.strip().lower().replace(" ", "_"): (v or "").strip() for k, v in raw.items() if k}
        cells = {k: v for k, v in cells.items() if v != ""}
        try:
            rows.append(TpscTool.model_validate(cells))
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "row"
            raise ConfigError(f"{source}:{reader.line_num}: {field}: {err['msg']}") from None
    _once(rows, source)
    return rows


def _once(rows: list[TpscTool], source: str) -> None:
    seen: set[str] = set()
    for r in rows:
        if r.vendor in seen:
            raise ConfigError(f"{source}: vendor {r.vendor!r} appears twice; keep one row per vendor")
        seen.add(r.vendor)
