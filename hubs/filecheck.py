"""Files people hand to an importer, validated with pydantic; the first problem names `file:line: field`.

YAML is composed to nodes first, so a value's line is known (JSON is read the same way: it is YAML).
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from vsmesh.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the value at `loc` (as deep as the document goes)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node = found
        line = node.start_mark.line + 1
    return line


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
    checked = checked_all(model, raw, node, source, prefix)
    if isinstance(checked, list):
        raise ConfigError(checked[0])
    return checked


def checked_all(model: type[M], raw: Any, node: yaml.Node | None, source: str, prefix: tuple = ()) -> M | list[str]:
    """`raw` as `model`, or every problem as a `source:line: field: message` line."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        found = []
        for err in e.errors():
            loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            field = ".".join(str(p) for p in loc) or "document"
            found.append(f"{source}:{line_of(node, loc) or '?'}: {field}: {err['msg']}")
        return found
