"""The puller file: YAML that people write, validated by pydantic; a mistake is named by file, line and field.

    pullers:
      - name: opencost                      # identifies the puller's job, lease and events
        kind: opencost
        every: 1h
        url: http://opencost.opencost:9003
        aggregate: namespace                # or label:app
        days: 7                             # closed UTC days pulled each run
      - name: cluster
        kind: kubernetes
        every: 5m
        kubeconfig: /etc/vsmesh/kubeconfig
        namespaces: [gitea, monitoring]
      - name: anthropic
        kind: token-usage
        provider: anthropic
        api_key: {env: ANTHROPIC_ADMIN_KEY}
        agents: {wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ: release-bot}

Secrets are never written in the file: `{env: NAME}` or `{file: PATH}` (the probes' `SecretRef`) names where
they are read from when a puller runs; neither the value nor the file's content reaches an event or a log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from vsmesh.durations import parse_duration
from vsmesh.errors import ConfigError
from vsmesh.hubs.filecheck import line_of, parse_document, validate
from vsmesh.probes.model import SecretRef

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Url = Annotated[str, Field(pattern=r"^https?://\S+$")]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PullerBase(_Strict):
    """What every puller has: a name, how often it runs and how long one request may take."""

    KIND: ClassVar[str] = ""
    name: Name
    every: Seconds = 3600.0
    timeout: Seconds = 30.0


class OpenCostPuller(PullerBase):
    """OpenCost's `/allocation/compute`: one cost per service and closed UTC day into fin-hub."""

    KIND: ClassVar[str] = "opencost"
    kind: Literal["opencost"]
    url: Url
    aggregate: str = Field("namespace", pattern=r"^(namespace|controller|service|label:[\w./-]+)$")
    days: int = Field(7, ge=1, le=90, description="closed UTC days pulled each run (revised figures are corrected)")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="OpenCost's pricing currency")
    services: dict[str, str] = {}  # an aggregate's name → the service it is (default: the same name)
    skip: list[str] = ["__idle__", "__unallocated__"]  # aggregates that are no service
    domain: str | None = None  # the budget domain the costs count against
    token: SecretRef | None = None  # a bearer token, where a proxy guards OpenCost


class KubernetesPuller(PullerBase):
    """Deployments, StatefulSets, Services and Ingresses of some namespaces: services into ops-hub's inventory."""

    KIND: ClassVar[str] = "kubernetes"
    kind: Literal["kubernetes"]
    kubeconfig: Path | None = None  # server, CA and credentials from this file's context
    context: str | None = None  # default: the file's current context
    api: Url | None = None  # or the API server itself, with `token`
    token: SecretRef | None = None
    namespaces: list[str] = Field(min_length=1)
    environment: str | None = None  # of the services it discovers
    cluster: str | None = None  # the cluster's name in the inventory (default: the puller's name)
    name_label: str = "app.kubernetes.io/name"  # the label naming an object's service (default: its own name)
    seen_every: Seconds = 3600.0  # a known service's `last_seen` is refreshed at most this often

    @model_validator(mode="after")
    def _reachable(self) -> KubernetesPuller:
        if (self.kubeconfig is None) == (self.api is None):
            raise ValueError("name the API server once: `kubeconfig: PATH` or `api: https://HOST:6443` with `token`")
        if self.token is not None and self.api is None:
            raise ValueError("`token` goes with `api`; a kubeconfig carries its own credentials")
        return self


class TokenUsagePuller(PullerBase):
    """A provider's token usage and cost per day, from its admin API: Anthropic's usage and cost reports (by
    workspace), OpenAI's completions usage and costs (by project)."""

    KIND: ClassVar[str] = "token-usage"
    kind: Literal["token-usage"]
    provider: Literal["anthropic", "openai"]
    api_key: SecretRef  # an admin key (Anthropic: sk-ant-admin…; OpenAI: an admin key)
    url: Url | None = None  # default: the provider's API
    days: int = Field(7, ge=1, le=31, description="closed UTC days pulled each run")
    agents: dict[str, str] = {}  # a workspace (Anthropic) or project (OpenAI) id → the agent whose spend it is
    unmapped: Literal["record", "skip"] = "record"  # spend of no mapped agent: recorded as the group's, or skipped

    def api(self) -> str:
        default = {"anthropic": "https://api.anthropic.com", "openai": "https://api.openai.com"}[self.provider]
        return (self.url or default).rstrip("/")


KINDS: dict[str, type[PullerBase]] = {m.KIND: m for m in (OpenCostPuller, KubernetesPuller, TokenUsagePuller)}
Puller = OpenCostPuller | KubernetesPuller | TokenUsagePuller


class PullerFile(_Strict):
    pullers: list[Puller]

    def named(self, name: str) -> Puller:
        found = next((p for p in self.pullers if p.name == name), None)
        if found is None:
            known = ", ".join(p.name for p in self.pullers)
            raise ConfigError(f"no puller {name!r} in the file; it names {known} (`vsmesh pull list`)")
        return found


def parse_puller_file(text: str, source: str = "pullers") -> PullerFile:
    """Validate a puller file's text; ConfigError with one line naming `source:line`, the field and the fix."""
    raw, node = parse_document(text, source)
    if not isinstance(raw, dict) or not isinstance(raw.get("pullers"), list) or not raw["pullers"]:
        raise ConfigError(f"{source}:{line_of(node, ('pullers',)) or 1}: a puller file is `pullers:` with a list")
    extra = sorted(set(raw) - {"pullers"})
    if extra:
        raise ConfigError(f"{source}:{line_of(node, (extra[0],))}: {extra[0]}: unknown key; the file holds `pullers:`")
    pullers = [_puller(item, i, node, source) for i, item in enumerate(raw["pullers"])]
    seen: set[str] = set()
    for i, p in enumerate(pullers):
        if p.name in seen:
            line = line_of(node, ("pullers", i, "name"))
            raise ConfigError(f"{source}:{line}: pullers.{i}.name: {p.name!r} is used twice; give each puller its own")
        seen.add(p.name)
    return PullerFile(pullers=pullers)


def _puller(item: Any, i: int, node: Any, source: str) -> Puller:
    kind = item.get("kind") if isinstance(item, dict) else None
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        line = line_of(node, ("pullers", i, "kind"))
        raise ConfigError(f"{source}:{line}: pullers.{i}.kind: {kind!r} is no puller kind; use {', '.join(KINDS)}")
    return validate(model, item, node, source, prefix=("pullers", i))  # type: ignore[return-value]


def load_puller_file(path: Path | str) -> PullerFile:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read puller file {path}: {e.strerror}; check VSMESH_PULLERS or the path") from None
    return parse_puller_file(text, str(path))
