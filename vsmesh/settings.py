"""One settings object, read once at the edge (CLI flags, `VSMESH_*` env) and passed down."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vsmesh.errors import ConfigError

ENV_PREFIX = "VSMESH_"
# Where the gateway serves MCP; a user may give this endpoint or the gateway's root for the gateway alike.
GATEWAY_MCP_PATH = "/mcp"
_LISTS = ("hubs", "couplings_disabled")  # comma-separated in the environment


class Settings(BaseModel):
    """Everything a vsmesh process needs to know; each field has a `VSMESH_<NAME>` variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(Path(".vsmesh"), description="where the embedded runtime keeps its servers' data")
    nats_url: str | None = Field(None, description="external NATS server(s); unset: the embedded mesh's")
    nats_user: str | None = Field(None, description="NATS user; unset: the embedded mesh's admin")
    nats_password: str | None = Field(None, repr=False, description="NATS password for nats_user")
    database_url: str | None = Field(None, description="external PostgreSQL; unset: the embedded one's")
    postgres_home: Path = Field(
        Path("/var/lib/vsmesh"),
        description="as root: where the embedded PostgreSQL's binaries, and data its system user cannot reach, live",
    )
    postgres_user: str = Field(
        "embedded_postgres", description="as root: the system user the embedded PostgreSQL runs as"
    )
    actor: str = Field(default_factory=getpass.getuser, description="who acts, recorded on every event")
    actor_kind: Literal["human", "agent", "service"] = Field("human", description="human, agent or service")
    log_format: Literal["auto", "json", "console"] = Field("auto", description="auto: pretty on a terminal")
    log_level: str = Field("info", description="debug, info, warning, error")
    max_event_bytes: int = Field(1 << 20, gt=0, description="largest event accepted, in bytes")
    batch_size: int = Field(1000, gt=0, description="most events a projector applies in one transaction")
    partitions: int = Field(
        1, ge=1, le=256, description="projector partitions per hub that can be partitioned (ops-hub); 1: one projector"
    )
    # Only while behind the head: a batch that holds the stream's last stored event goes at once.
    batch_wait_ms: float = Field(5.0, ge=0, description="how long a projector behind the head waits to fill a batch")
    # A crash re-reads at most this much of what a coupling or the notify planner did nothing for
    # (projectors/couplings/saver.py).
    reactor_save_every_s: float = Field(
        1.0, gt=0, description="how often a coupling that did nothing stores its position (at once when it emits)"
    )
    connect_timeout: float = Field(2.0, gt=0, description="seconds to wait for a server before giving up")
    replicas: int = Field(0, ge=0, description="stream replicas; 0: 3 on a NATS cluster of 3+ servers, else 1")
    snapshot_every_events: int = Field(100_000, ge=0, description="snapshot a hub after this many events (0: off)")
    snapshot_every_minutes: float = Field(60.0, ge=0, description="snapshot a hub this often if it changed (0: off)")
    snapshot_keep: int = Field(3, gt=0, description="snapshots kept per hub in the object store")
    hubs: tuple[str, ...] = Field((), description="hubs this process runs (comma-separated); empty: all")
    fin_runway_alert_months: float = Field(
        6.0, gt=0, description="fin-hub alerts when the projected runway falls below this many months"
    )
    checks_every_s: float = Field(
        60.0, gt=0, description="how often vsmesh up runs canon's timed checks (also when fin or canon change)"
    )
    audit_every_s: float = Field(
        900.0, gt=0, description="how often vsmesh up runs aud-hub's audit (a read model altered by hand is found)"
    )
    ops_stale_amber_minutes: float = Field(60.0, gt=0, description="ops evidence older than this turns amber")
    couplings_disabled: tuple[str, ...] = Field(
        (), description="couplings this deployment does not run (comma-separated names, see `vsmesh couplings`)"
    )
    chain_checkpoint_every: int = Field(
        100, ge=0, description="vsmesh up signs the constitutional chain's head after this many events (0: off)"
    )
    gateway_host: str = Field("127.0.0.1", description="where `vsmesh up` serves the gateway (pages, /metrics)")
    gateway_port: int = Field(0, ge=0, le=65535, description="the gateway's port; 0: the last one, or any free one")
    ops_stale_red_minutes: float = Field(1440.0, gt=0, description="ops evidence older than this turns red")
    # Probes (probes/): the file `vsmesh up` runs when set, and how its results are published.
    probes: Path | None = Field(None, description="a probe file `vsmesh up` runs, e.g. probes/examples/local.yaml")
    probes_concurrency: int = Field(64, gt=0, description="most probes running at once")
    probes_unchanged_every: float = Field(
        300.0, ge=0, description="seconds between publishing an unchanged probe result (0: every run)"
    )
    probes_actor: str = Field(
        "vsmesh-probes",
        min_length=1,
        description="the probe runner's service client at the gateway's issuer (its token names the actor)",
    )
    ops_cert_warn_days: float = Field(14.0, gt=0, description="a certificate expiring within this many days is a risk")
    # Notifications (notify/): routes are canon's; these say only who the notifier is and whether it runs.
    notify_actor: str = Field(
        "vsmesh-notify",
        min_length=1,
        description="the notifier's service client at the gateway's issuer (its token names the actor)",
    )
    notify_enabled: bool = Field(True, description="whether `vsmesh up` runs the notifier (with canon-hub)")
    # Pullers (sources/pullers/): the file `vsmesh up` runs when set, and whom their events name.
    pullers: Path | None = Field(None, description="a puller file `vsmesh up` runs (OpenCost, Kubernetes, token usage)")
    pullers_actor: str = Field("vsmesh-pullers", min_length=1, description="the actor (a service) of pulled events")
    oidc_issuer: str | None = Field(
        None, description="the OIDC issuer whose tokens the gateway accepts (e.g. Keycloak's realm URL); unset: local"
    )
    oidc_audience: str | None = Field(None, description="the `aud` the gateway's tokens must carry; unset: its URL")
    gateway_url: str | None = Field(
        None, description="where clients reach the gateway (`vsmesh env` prints it); unset: the embedded mesh's"
    )
    token_ttl_s: int = Field(600, gt=0, le=86400, description="lifetime of the local issuer's access tokens, seconds")
    # Signing in (cli/login_cmd.py, gateway/identity/device.py): where a person's tokens are kept, how fresh a
    # sign-in must be for governance, how often a device waiting for approval may ask.
    config_dir: Path = Field(
        default_factory=lambda: Path.home() / ".config" / "vsmesh",
        description="the user's own vsmesh config dir (signed-in tokens, 0600); default $XDG_CONFIG_HOME/vsmesh",
    )
    step_up_s: int = Field(300, gt=0, description="governance needs a person who entered a password this recently")
    device_poll_s: float = Field(5.0, gt=0, description="the device grant's polling interval the local issuer sets")
    refresh_ttl_s: int = Field(14 * 86400, gt=0, description="lifetime of a person's refresh token, seconds")
    approval_ttl_s: float = Field(
        3600.0, gt=0, le=30 * 86400, description="a call held for a person's approval expires after this many seconds"
    )
    pause_at: Literal["approved-call-ran"] | None = Field(
        None, description="crash tests only: an approved call's run stops here for good (the test kills it there)"
    )
    # GitOps (sources/gitops/): the repository `vsmesh up` reconciles canon, budgets and the catalog from.
    gitops_repo: str | None = Field(None, description="a Git repository (path or URL) `vsmesh up` syncs; unset: none")
    gitops_ref: str = Field("main", min_length=1, description="the branch, tag or commit of VSMESH_GITOPS_REPO")
    gitops_every: float = Field(60.0, gt=0, description="seconds between two syncs of VSMESH_GITOPS_REPO")
    # Diagnostics (runtime/stalls.py): bench/latency.py sets it to see what held up the live path.
    stall_log: Path | None = Field(
        None, description="where `vsmesh up` records its event loop's stalls, GC pauses and slow batches; unset: off"
    )
    gitops_actor: str = Field(
        "vsmesh-gitops", min_length=1, description="the actor of what `vsmesh up`'s sync publishes"
    )

    @field_validator("gateway_url")
    @classmethod
    def _gateway_root(cls, url: str | None) -> str | None:
        """The gateway's root, also when given as its MCP endpoint: every path (/token, /mcp) is built on it."""
        if url is None:
            return None
        url = url.strip().rstrip("/")
        return url.removesuffix(GATEWAY_MCP_PATH).rstrip("/") or None

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> Settings:
        """Build settings from `VSMESH_*` variables; explicit overrides (CLI flags) win."""
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw not in (None, ""):
                values[name] = tuple(h.strip() for h in raw.split(",") if h.strip()) if name in _LISTS else raw
        if "config_dir" not in values and env.get("XDG_CONFIG_HOME"):  # the XDG base directory rule
            values["config_dir"] = Path(env["XDG_CONFIG_HOME"]) / "vsmesh"
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as e:
            first = e.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "?"
            raise ConfigError(
                f"setting {ENV_PREFIX}{field.upper()}: {first['msg']}; fix the variable or the flag"
            ) from e

    def env_lines(self) -> list[str]:
        """`export` lines a shell can eval to reach the same mesh, from any directory: the data dir too, where
        commands that act on the mesh itself (users, agents, tokens) find it."""
        pairs = {
            "DATA_DIR": str(self.data_dir.resolve()),
            "NATS_URL": self.nats_url,
            "NATS_USER": self.nats_user,
            "NATS_PASSWORD": self.nats_password,
            "DATABASE_URL": self.database_url,
            "GATEWAY_URL": self.gateway_url,
        }
        return [f"export {ENV_PREFIX}{k}={_shell_quote(v)}" for k, v in pairs.items() if v]


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"
