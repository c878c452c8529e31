"""Reading a tool's JSON over HTTP: an error page, no answer or no JSON is one `SourceUnavailable` line naming
the tool, where it was asked and what came back — never a secret (they travel in headers, which are not shown)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from vsmesh.errors import SourceUnavailable

SHOWN = 160  # of an error page's text, enough to recognise it


async def get_json(
    client: httpx.AsyncClient, url: str, *, what: str, params: Any = None, headers: dict[str, str] | None = None
) -> Any:
    """The JSON a GET answers; SourceUnavailable for anything else."""
    try:
        response = await client.get(url, params=params, headers=headers)
    except httpx.HTTPError as e:
        raise SourceUnavailable(f"{what} at {_where(url)} did not answer: {type(e).__name__} {e}".rstrip()) from None
    if response.is_error:
        raise SourceUnavailable(f"{what} at {_where(url)} answered HTTP {response.status_code}: {_gist(response)}")
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        raise SourceUnavailable(f"{what} at {_where(url)} answered no JSON ({kind}): {_gist(response)}") from None


def _where(url: str) -> str:
    return str(httpx.URL(url).copy_with(query=None, userinfo=b""))


def _gist(response: httpx.Response) -> str:
    text = re.sub(r"<[^>]+>", " ", response.text)  # an HTML error page's words, not its markup
    text = " ".join(text.split())
    return (text[:SHOWN] + "…" if len(text) > SHOWN else text) or "(empty)"
