"""How a delivery proves it comes from the hook's source: a shared token, or an HMAC of the body.

Comparisons are constant-time (`hmac.compare_digest`); no message names the secret or echoes what was sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from vsmesh.sources.hooks.source import Headers, unauthorized


def check_token(headers: Headers, secret: str) -> None:
    """`Authorization: Bearer SECRET`, or basic auth with the secret as password (any user name): the two ways
    Alertmanager's `http_config` and Argo CD's webhook service authenticate."""
    given = headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() == "bearer":
        presented = value.strip()
    elif scheme.lower() == "basic":
        try:
            presented = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized("the basic credentials are not base64 of user:password") from None
    else:
        raise unauthorized("no credentials: send the hook's secret as `Authorization: Bearer …` or basic auth")
    if not hmac.compare_digest(presented.encode(), secret.encode()):
        raise unauthorized("the credentials are not this hook's secret")


def check_hmac(body: bytes, secret: str, header: str, signature: str | None, *, prefix: str = "") -> None:
    """The body's HMAC-SHA256 with the secret, hex-encoded after `prefix`, as the forge sends it in `header`."""
    if not signature:
        raise unauthorized(f"no {header} header: set the webhook's secret to the hook's secret")
    if prefix and not signature.startswith(prefix):
        raise unauthorized(f"{header} must start with {prefix!r}")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.removeprefix(prefix).strip().lower().encode(), expected.encode()):
        raise unauthorized(f"{header} does not match the body signed with this hook's secret")
