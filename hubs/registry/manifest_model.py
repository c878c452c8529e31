"""A hub manifest: identity, VSM classification, horizon, vocabulary and seed widgets, read from YAML or JSON.

Errors name the file and line of the offending value (YAML is composed to nodes first, so every value
keeps its position; JSON is valid YAML, so one loader serves both).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vsmesh.errors import ConfigError
from vsmesh.events.envelope import Horizon
from vsmesh.events.governance import REGISTRY_HUB
from vsmesh.hubs.filecheck import line_of, parse_document

SLUG = r"^[a-z0-9][a-z0-9-]*$"
VsmFunction = Literal["OPS", "SYN", "CTL", "AUD", "INT", "POL", "ENV", "CANON", "DEV", "FIN"]
VsmSystem = Literal["S1", "S2", "S3", "S3*", "S4", "S5"]
Slug = Field(pattern=SLUG, min_length=1, max_length=60)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Identity(_Strict):
    slug: str = Slug
    name: str = Field(min_length=1)
    domain: str | None = None
    hub_kind: str = "domain"
    hub_family: str | None = "vsm"
    vsm_function: VsmFunction
    vsm_system: VsmSystem | None = None
    description: str | None = None
    owner: str | None = None

    @field_validator("slug")
    @classmethod
    def _not_the_registry(cls, slug: str) -> str:
        if slug == REGISTRY_HUB:
            raise ValueError(f"{slug!r} is the registry's own namespace; choose another slug, e.g. reg-hub")
        return slug


class Vocabulary(_Strict):
    widget_types: list[str] = []
    event_types: list[str] = Field(min_length=1)
    annotation_categories: list[str] = []
    policy_scopes: list[str] = []

    @field_validator("widget_types", "event_types", "annotation_categories", "policy_scopes")
    @classmethod
    def _slugs_once(cls, values: list[str]) -> list[str]:
        seen: set[str] = set()
        for v in values:
            if not isinstance(v, str) or not v or not v.replace("-", "").isalnum() or v != v.lower():
                raise ValueError(f"{v!r} must be lower-case letters, digits and hyphens")
            if v in seen:
                raise ValueError(f"{v!r} is listed twice")
            seen.add(v)
        return values


class SeedWidget(_Strict):
    slug: str = Slug
    widget_type: str
    title: str | None = None
    entity: str | None = None
    attributes: dict[str, Any] = {}


class Manifest(_Strict):
    identity: Identity
    horizon: Horizon = Horizon.TACTICAL  # the horizon of the hub's own (manifest-declared) event types
    vocabulary: Vocabulary
    widgets: list[SeedWidget] = []

    @model_validator(mode="after")
    def _widgets_fit(self) -> Manifest:
        for i, w in enumerate(self.widgets):
            if w.widget_type not in self.vocabulary.widget_types:
                known = ", ".join(self.vocabulary.widget_types) or "none"
                raise ValueError(f"widgets[{i}] {w.slug}: widget type {w.widget_type!r} is not declared ({known})")
        slugs = [w.slug for w in self.widgets]
        dup = {s for s in slugs if slugs.count(s) > 1}
        if dup:
            raise ValueError(f"widget slugs listed twice: {', '.join(sorted(dup))}")
        return self

    @property
    def slug(self) -> str:
        return self.identity.slug

    def registration(self) -> dict[str, Any]:
        """The `hub-registered` data."""
        return self.identity.model_dump(exclude={"domain"}, exclude_none=True) | (
            {"metadata": {"domain": self.identity.domain}} if self.identity.domain else {}
        )

    def activation(self) -> dict[str, Any]:
        """The `hub-manifest-activated` data (without the revision, which the registry assigns)."""
        v = self.vocabulary
        return {
            "slug": self.slug,
            "event_types": v.event_types,
            "widget_types": v.widget_types,
            "annotation_categories": v.annotation_categories,
            "policy_scopes": v.policy_scopes,
            "horizon": self.horizon.value,
            "vsm_function": self.identity.vsm_function,
            "vsm_system": self.identity.vsm_system,
            "metadata": {"content_hash": self.content_hash()},
        }

    def content_hash(self) -> str:
        """A hash of the whole manifest: the same file gives the same hash, any change a new one."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def content_id(*parts: Any) -> str:
    """A deterministic event id (UUID-shaped, version 8) from content: the same content, the same id."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    h = hashlib.sha256(text.encode()).hexdigest()[:32]
    h = h[:12] + "8" + h[13:16] + "a" + h[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_manifest(text: str, source: str = "manifest") -> Manifest:
    """Validate manifest text; ConfigError naming `source:line` and the field on the first problem."""
    raw, node = parse_document(text, source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a manifest is a mapping with identity, vocabulary and widgets")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as e:
        problems = []
        for err in e.errors()[:5]:
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            line = line_of(node, loc)
            field = ".".join(str(p) for p in loc) or "manifest"
            problems.append(f"{source}:{line or '?'}: {field}: {err['msg']}")
        raise ConfigError("invalid manifest\n  " + "\n  ".join(problems)) from None


def load_manifest(path: Path | str) -> Manifest:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read manifest {path}: {e.strerror}") from None
    return parse_manifest(text, str(path))


def packaged_manifest(module: str) -> Manifest:
    """A coded hub's manifest: `manifest.yaml` beside its manifest module (named `module`), so the types its
    code folds and the manifest the registry activates are one list."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ConfigError(f"no module {module!r} to find a manifest.yaml beside")
    return load_manifest(Path(spec.origin).with_name(PACKAGED))


PACKAGED = "manifest.yaml"


def shipped_dir() -> Path:
    """The manifests shipped with vsmesh for hubs made from a manifest alone (the repo's `manifests/` folder)."""
    import vsmesh.manifests

    return Path(vsmesh.manifests.__file__).parent


def coded_manifests() -> dict[str, Path]:
    """The installed coded hubs that keep their manifest in their package, by slug."""
    from vsmesh.hubs import discovered

    found = {}
    for slug, declared in discovered().items():
        module = declared.manifest_module
        if getattr(module, "MANIFEST", None) is not None:
            found[slug] = Path(module.__file__).with_name(PACKAGED)
    return found


def shipped(slug: str) -> Path:
    """The shipped manifest of a hub: a coded hub's own, or one of `manifests/` (which may not exist)."""
    return coded_manifests().get(slug) or shipped_dir() / f"{slug}.yaml"


def shipped_manifests() -> list[Path]:
    """Every shipped manifest: the manifest hubs', then the coded hubs' that keep one."""
    return [*sorted(shipped_dir().glob("*.yaml")), *coded_manifests().values()]
