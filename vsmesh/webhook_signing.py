"""Standard Webhooks signing, shared by what sends signed deliveries (the notifier's webhook receiver) and what
checks them (inbound hooks, the demo's inbox): one way to make a secret and one way to sign.

A signature is `v1,` and the base64 of the HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the
secret's bytes (a `whsec_` secret is base64 of them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and base64 of 24 random bytes, as its libraries read one."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of a delivery signed with `key`."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
