"""Files people hand to an importer, validated with pydantic; the first problem names `file:line: field`.

YAML is composed to nodes first, so a value's line is known (JSON is read the same way: it is YAML).
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from vsmesh.errors import ConfigError
from vsmesh.hubs.registry.manifest_model import _line_of

M = TypeVar("M", bound=BaseModel)


def parse_document(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree; a ConfigError naming `source:line` when it is not YAML/JSON."""
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: not valid YAML/JSON: {getattr(e, 'problem', e)}") from None


def validate(model: type[M], raw: Any, node: yaml.Node | None, source: str, prefix: tuple = ()) -> M:
    """`raw` as `model`; the first error as `source:line: field: message` (prefix: where `raw` sits)."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        field = ".".join(str(p) for p in loc) or "document"
        raise ConfigError(f"{source}:{_line_of(node, loc) or '?'}: {field}: {err['msg']}") from None
