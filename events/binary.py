"""CloudEvents binary content mode on NATS: attributes as `ce-<name>` headers, the body is the data.

Header names are case-insensitive; values are unquoted (RFC 7230 quoted-string) and then
percent-decoded once, as the NATS protocol binding (1.0.3) asks of a receiver.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import msgspec

from vsmesh.errors import InvalidEvent

PREFIX = "ce-"
_QUOTED_PAIR = re.compile(r"\\(.)")
_JSON_MEDIA = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


def is_binary(headers: Mapping[str, str]) -> bool:
    """Binary mode is announced by a `ce-specversion` header; anything else is structured."""
    # A plain loop with a length check first: this runs for every message a projector reads.
    for name in headers:
        if len(name) == _SPECVERSION_LEN and name.lower() == _SPECVERSION:
            return True
    return False


_SPECVERSION = PREFIX + "specversion"
_SPECVERSION_LEN = len(_SPECVERSION)


def attributes(headers: Mapping[str, str]) -> dict[str, str]:
    """The CloudEvents attributes carried by `ce-` headers, keyed by lower-case attribute name."""
    found: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower().startswith(PREFIX):
            found[name[len(PREFIX) :].lower()] = header_value(name, value)
    return found


def header_value(name: str, value: str) -> str:
    """Decode one header value: unquote a quoted-string, then one round of strict percent-decoding."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError as e:
        raise InvalidEvent(f"header {name} is not percent-encoded UTF-8 ({e.reason}): {value!r}") from e


def event_dict(attrs: dict[str, str], body: bytes, required: list[str], content_type: str | None) -> dict[str, Any]:
    """The structured-mode dict for a binary-mode message, or an error naming what is missing or wrong."""
    label = " ".join(filter(None, (attrs.get("type"), "event", attrs.get("id"))))
    missing = [f"{PREFIX}{a}" for a in required if a not in attrs]
    if missing:
        raise InvalidEvent(
            f"binary-mode {label} lacks header {', '.join(missing)}; "
            "binary mode carries every CloudEvents attribute as a ce-<name> header"
        )
    event: dict[str, Any] = {k: v for k, v in attrs.items() if k != "data"}
    if "schemaversion" in event:
        event["schemaversion"] = _integer(event["schemaversion"], label)
    media = event.setdefault("datacontenttype", content_type or "application/json")
    event["data"] = _data(body, media, label)
    return event


def _integer(value: str, label: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidEvent(f"binary-mode {label}: header ce-schemaversion must be an integer, got {value!r}") from None


def _data(body: bytes, media: str, label: str) -> Any:
    if not _JSON_MEDIA.match(media.split(";", 1)[0].strip().lower()):
        raise InvalidEvent(f"binary-mode {label} has datacontenttype {media!r}; vsmesh event data is JSON")
    if not body.strip():
        return {}  # no body: an event whose data fields are all optional
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as e:
        raise InvalidEvent(f"binary-mode {label}: the body is not JSON data ({e})") from e
