"""How a delivery proves it comes from the hook's source: a shared token, or an HMAC of the body.

Comparisons are constant-time (`hmac.compare_digest`); no message names the secret or echoes what was sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from vsmesh.sources.hooks.source import Headers, unauthorized
from vsmesh.webhook_signing import signature


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


def check_standard(headers: Headers, body: bytes, secret: str, *, now: float, tolerance_s: float) -> str:
    """A Standard Webhooks signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`: `v1,` base64 of the
    HMAC-SHA256 of `id.timestamp.body` keyed with the secret's base64 after `whsec_`); returns the delivery id.

    The timestamp is signed, so a delivery replayed later than `tolerance_s` (or dated that far ahead) is refused."""
    msg_id, stamp, signatures = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise unauthorized("a signed delivery carries webhook-id, webhook-timestamp and webhook-signature headers")
    try:
        sent = int(stamp)
    except ValueError:
        raise unauthorized("webhook-timestamp is not whole seconds since 1970") from None
    if abs(now - sent) > tolerance_s:
        raise unauthorized(
            f"webhook-timestamp is {int(now - sent)} s from now, outside the {int(tolerance_s)} s tolerance: a replayed"
            " or delayed delivery (or the sender's clock is off)",
            reason="replayed",
        )
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    expected = signature(key, msg_id, sent, body)
    if not any(hmac.compare_digest(expected.encode(), given.encode()) for given in signatures.split()):
        raise unauthorized("webhook-signature does not match the delivery signed with this hook's secret")
    return msg_id
