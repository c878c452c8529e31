"""The probe file: YAML that people write, validated by pydantic; a mistake is named by file, line and field.

    probes:
      - name: gitea-registry-v2
        entity: endpoint/gitea-registry-v2      # the ops inventory entity this probe proves
        kind: http
        interval: 60s
        url: https://gitea.coulomb.social/v2/
        conditions:
          - "[STATUS] == 401"
          - "[HEADER:Docker-Distribution-Api-Version] == registry/2.0"
    gates:
      - gate: dns-tls-codified                  # a readiness gate that follows these probes
        wave: coulombcore-to-threephoenix
        probes: [gitea-registry-v2]

Secrets (tokens, passwords, DSNs) are never written in the file: `{env: NAME}` or `{file: PATH}` names
where they are read from when a probe runs, and neither the value nor the file's content reaches an event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from vsmesh.durations import parse_duration
from vsmesh.errors import ConfigError
from vsmesh.events.schemas.common import Severity
from vsmesh.events.schemas.ops import InventoryKind
from vsmesh.hubs.filecheck import line_of, parse_document
from vsmesh.probes.conditions import Condition, parse_condition, parse_observed

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
_KINDS = tuple(InventoryKind.__args__)  # type: ignore[attr-defined]
_ENTITY = r"^(" + "|".join(_KINDS) + r")/[^\s/][^\s]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret is read from when the probe runs: an environment variable or a file."""

    env: str | None = None
    file: Path | None = None
    prefix: str = ""  # e.g. "Bearer " for an Authorization header

    @model_validator(mode="after")
    def _one_place(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret names exactly one place: {env: NAME} or {file: PATH}")
        return self

    def reveal(self, environ: Mapping[str, str]) -> str:
        """The secret's value; ConfigError naming where it was looked for (never the value)."""
        if self.env is not None:
            value = environ.get(self.env)
            if not value:
                raise ConfigError(f"secret variable {self.env} is not set; export it before running the probes")
            return self.prefix + value
        try:
            return self.prefix + Path(self.file).read_text().strip()  # type: ignore[arg-type]
        except OSError as e:
            raise ConfigError(f"cannot read secret file {self.file}: {e.strerror}") from None

    def where(self) -> str:
        return f"env {self.env}" if self.env else f"file {self.file}"


class DriftCheck(_Strict):
    """A value the probe observes that the inventory declares: they differ → `ops-drift-detected`.

    drift:
      - attribute: version              # the inventory attribute holding the declared value
        observed: "[BODY].version"      # where the probe sees the running value
        of: service/gitea               # whose attribute; default: the probe's entity
        source_of_truth: infra/gitea/values.yaml
    """

    attribute: str = Field(min_length=1)
    observed: str
    of: str | None = Field(None, pattern=_ENTITY)
    severity: Severity = "medium"
    source_of_truth: str | None = None


class ProbeBase(_Strict):
    """What every probe has: a name, the entity it proves, how often and how long, and its conditions."""

    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset()

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=100)
    entity: str = Field(pattern=_ENTITY, description="the inventory entity it proves, e.g. endpoint/gitea-registry")
    interval: Seconds = 60.0
    timeout: Seconds = 10.0
    severity: Severity = "high"  # of the alert a failing probe raises
    description: str | None = None
    conditions: list[str] = Field(min_length=1)
    drift: list[DriftCheck] = []

    @field_validator("drift")
    @classmethod
    def _observable_drift(cls, drift: list[DriftCheck]) -> list[DriftCheck]:
        for i, check in enumerate(drift):
            try:
                parse_observed(check.observed, cls.PLACEHOLDERS)
            except ValueError as e:
                raise ValueError(f"drift[{i}].observed: {e}") from None
        return drift

    def drift_entities(self) -> list[str]:
        """The entities whose declarations this probe's drift checks compare with, in file order."""
        return list(dict.fromkeys(c.of or self.entity for c in self.drift))

    @field_validator("conditions")
    @classmethod
    def _known_conditions(cls, conditions: list[str]) -> list[str]:
        for i, text in enumerate(conditions):
            try:
                parse_condition(text, cls.PLACEHOLDERS)
            except ValueError as e:
                raise ValueError(f"conditions[{i}]: {e}") from None
        return conditions

    @model_validator(mode="before")
    @classmethod
    def _default_timeout(cls, raw: Any) -> Any:
        """Without a timeout, 10 s or the interval, whichever is shorter (a probe every 5 s waits 5 s at most)."""
        if isinstance(raw, dict) and "timeout" not in raw and "interval" in raw:
            try:
                return {**raw, "timeout": min(10.0, parse_duration(raw["interval"]))}
            except ValueError:
                return raw  # the interval's own error says what is wrong
        return raw

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> ProbeBase:
        if self.timeout > self.interval:
            raise ValueError(f"timeout {self.timeout:g} s is longer than the interval {self.interval:g} s")
        return self

    def parsed(self) -> list[Condition]:
        return [parse_condition(t, self.PLACEHOLDERS) for t in self.conditions]


class HttpProbe(ProbeBase):
    """An HTTP(S) request and what its answer must be."""

    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset(
        {"STATUS", "HEADER", "BODY", "RESPONSE_TIME", "CONNECTED", "CERTIFICATE_EXPIRATION"}
    )
    kind: Literal["http"]
    url: str = Field(pattern=r"^https?://\S+$")
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    headers: dict[str, str | SecretRef] = {}
    body: str | None = None
    follow_redirects: bool = False
    verify_tls: bool = True
    ca_file: Path | None = None  # trust this CA (a private one) instead of the system's


class TlsProbe(ProbeBase):
    """A TLS handshake: the certificate chain, its issuer, days to expiry and whether it names the host."""

    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset(
        {"CONNECTED", "CERTIFICATE_EXPIRATION", "CERTIFICATE_VALID", "CERTIFICATE_ISSUER", "HOSTNAME_MATCH"}
    )
    kind: Literal["tls"]
    host: str
    port: int = Field(443, gt=0, lt=65536)
    server_name: str | None = None  # the name the certificate must carry; default: host
    ca_file: Path | None = None


class TcpProbe(ProbeBase):
    """A TCP connect, e.g. the SSH port of an access path."""

    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({"CONNECTED", "RESPONSE_TIME"})
    kind: Literal["tcp"]
    host: str
    port: int = Field(gt=0, lt=65536)


class DnsProbe(ProbeBase):
    """A DNS question, asked of a named server or of the system's resolver."""

    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({"DNS_ANSWER", "DNS_RCODE", "RESPONSE_TIME", "CONNECTED"})
    kind: Literal["dns"]
    query: str
    record: Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS"] = "A"
    server: str | None = None  # an IP address; unset: the system resolver (A and AAAA only)
    port: int = Field(53, gt=0, lt=65536)


class PostgresProbe(ProbeBase):
    """`select 1` on a PostgreSQL, and the replication lag where the server shows one."""

    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({"CONNECTED", "RESPONSE_TIME", "REPLICATION_LAG"})
    kind: Literal["postgres"]
    dsn: SecretRef  # a DSN holds a password: never in the file


class BackupProbe(ProbeBase):
    """The newest file under a path: its age and size."""

    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({"BACKUP_AGE", "BACKUP_SIZE", "BACKUP_COUNT"})
    kind: Literal["backup"]
    path: Path
    pattern: str = "*"  # a glob below `path`, e.g. "*.tar.gz" or "**/*.dump"


class KubernetesProbe(ProbeBase):
    """The API server's /readyz and /livez and its nodes' readiness, with a token."""

    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset(
        {"READYZ", "LIVEZ", "NODES_READY", "NODES_NOT_READY", "RESPONSE_TIME", "CONNECTED"}
    )
    kind: Literal["kubernetes"]
    api: str | None = Field(None, pattern=r"^https?://\S+$")
    kubeconfig: Path | None = None  # server, CA and token from this file's current context
    token: SecretRef | None = None
    ca_file: Path | None = None
    verify_tls: bool = True

    @model_validator(mode="after")
    def _reachable(self) -> KubernetesProbe:
        if self.api is None and self.kubeconfig is None:
            raise ValueError("name the API server: `api: https://HOST:6443` or `kubeconfig: PATH`")
        return self


Probe = Annotated[
    HttpProbe | TlsProbe | TcpProbe | DnsProbe | PostgresProbe | BackupProbe | KubernetesProbe,
    Field(discriminator="kind"),
]
KIND_NAMES = ("http", "tls", "tcp", "dns", "postgres", "backup", "kubernetes")


class GateSpec(_Strict):
    """A readiness gate whose status follows its probes: green when all pass, red when one fails."""

    gate: str = Field(min_length=1)
    wave: str | None = None
    probes: list[str] = Field(min_length=1)
    owner_repo: str | None = None
    evidence_required: str | None = None


class ProbeFile(_Strict):
    probes: list[Probe] = Field(min_length=1)
    gates: list[GateSpec] = []

    @model_validator(mode="after")
    def _names(self) -> ProbeFile:
        seen: set[str] = set()
        for p in self.probes:
            if p.name in seen:
                raise ValueError(f"probe name {p.name!r} is used twice; names identify a probe's alerts and events")
            seen.add(p.name)
        for g in self.gates:
            unknown = [n for n in g.probes if n not in seen]
            if unknown:
                raise ValueError(f"gate {g.gate!r} names unknown probes {unknown}; known: {sorted(seen)}")
        return self

    def named(self, name: str) -> ProbeBase:
        return next(p for p in self.probes if p.name == name)


def parse_probe_file(text: str, source: str = "probes") -> ProbeFile:
    """Validate a probe file's text; ConfigError with one line naming `source:line`, the field and the fix."""
    raw, node = parse_document(text, source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}:1: a probe file is a mapping with `probes:` (and optional `gates:`)")
    try:
        return ProbeFile.model_validate(raw)
    except ValidationError as e:
        return _refuse(e, node, source)


def _refuse(error: ValidationError, node: yaml.Node | None, source: str) -> Any:
    first = error.errors()[0]
    # Drop the discriminator's tag (`http`) and pydantic's function markers: they are no keys of the file.
    loc = tuple(
        p for i, p in enumerate(first["loc"]) if not (isinstance(p, str) and (p in KIND_NAMES and i == 2 or "-" in p))
    )
    message = first["msg"].removeprefix("Value error, ")
    item = re.match(r"(?:conditions|drift)\[(\d+)\](?:\.(\w+))?: ", message)
    if item:  # the item's own line, not its list's
        loc, message = (*loc, int(item.group(1)), *filter(None, [item.group(2)])), message[item.end() :]
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "file"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    raise ConfigError(f"{source}:{line_of(node, loc) or '?'}: {field}: {message}{more}")


def load_probe_file(path: Path | str) -> ProbeFile:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read probe file {path}: {e.strerror}; check VSMESH_PROBES or the path") from None
    return parse_probe_file(text, str(path))
