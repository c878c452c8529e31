"""JetStream key-value buckets the mesh keeps (leases, statuses): opened where they exist, made on first use."""

from __future__ import annotations

from nats.js.api import KeyValueConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue


async def open_bucket(js: JetStreamContext, config: KeyValueConfig, *, create: bool = True) -> KeyValue | None:
    """The bucket `config` names; made with that config when missing and `create`, else None (a reader need not
    make what no writer has made yet)."""
    try:
        return await js.key_value(config.bucket)
    except BucketNotFoundError:
        if not create:
            return None
    return await js.create_key_value(config=config)
