"""The constitutional record checked, and signed on request: what `vsmesh verify` reports. Signing is governance —
a signed-in person's `vsmesh verify --sign` has the gateway do it as that person (the checkpoint event's actor), with
the mesh's key, which only the mesh reads; `vsmesh up` signs on its own as the mesh (signing.py).
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client

from vsmesh.bus.chain import checkpoints_hold, signature_holds, walk
from vsmesh.runtime.signed_heads import disagreement, recall, remember
from vsmesh.runtime.signing import publish_checkpoint, signed_head, signing_key
from vsmesh.settings import Settings


async def check_chain(
    nc: Client, settings: Settings, stream: str, *, sign: bool, export: bool, exported: dict[str, Any] | None
) -> dict[str, Any]:
    """Walk `stream`'s chain, check its checkpoints, the heads the mesh remembers and `exported`; sign the head
    (a checkpoint event, its actor `settings.actor`) when `sign` and it is intact."""
    key = signing_key(settings.data_dir, create=sign or export)
    trusted = exported["public_key"] if exported else (key.public_hex if key else None)
    walked = await walk(nc.jetstream(), stream)
    problem, signed_at = walked.problem, None
    if problem is None:  # without the mesh's key, any checkpoint is one this mesh did not sign
        problem, signed_at = checkpoints_hold(walked, trusted or "no key")
    if problem is None:  # the checkpoints may be gone with the rewrite: the mesh's own memory is not
        problem = disagreement(walked, await recall(settings, stream))
    if problem is None and exported is not None:
        problem = _check_export(walked, exported)
    report: dict[str, Any] = {
        "stream": stream,
        "intact": problem is None,
        "problem": problem,
        "events": walked.events,
        "unchained": walked.unchained,
        "head_seq": walked.head.seq,
        "head_hash": walked.head.hash,
        "signed_checkpoint_seq": signed_at[0] if signed_at else None,
    }
    if problem is None and key is not None:
        report["signed_head"] = signed_head(key, stream, walked.head.seq, walked.head.hash)
        if sign:
            report["checkpoint"] = await publish_checkpoint(nc.jetstream(), settings, report["signed_head"])
            report["signed_by"] = settings.actor
        elif export:  # a head handed to an auditor is one the mesh signed: it remembers it too
            await remember(settings, report["signed_head"])
    report["summary"] = _summary(report, signed_at)
    return report


async def sign_chain(nc: Client, settings: Settings, stream: str, exported: dict[str, Any] | None) -> dict[str, Any]:
    """What the gateway does for a person's `vsmesh verify --sign` (as `settings.actor`)."""
    return await check_chain(nc, settings, stream, sign=True, export=False, exported=exported)


def _check_export(walked, exported: dict[str, Any]) -> str | None:
    seq, hash_ = exported["head_seq"], exported["head_hash"]
    if not signature_holds(exported["public_key"], exported["stream"], seq, hash_, exported["signature"]):
        return "the exported head's signature does not hold: the file was altered"
    if walked.hashes.get(seq) != hash_:
        return f"seq {seq}: rewritten — the stream no longer holds the exported head there"
    return None


def _summary(report: dict[str, Any], signed_at: tuple[int, int] | None) -> str:
    if not report["intact"]:
        return f"BROKEN {report['stream']}: {report['problem']}"
    signed = (
        f", signed up to seq {signed_at[1]} (checkpoint at seq {signed_at[0]})" if signed_at else ", not signed yet"
    )
    older = f" ({report['unchained']} older events predate the chain)" if report["unchained"] else ""
    head = f"head {report['head_hash'][:16]}… at seq {report['head_seq']}"
    line = f"intact: {report['events']} events, {head}{signed}{older}"
    if "checkpoint" in report:
        line += f"; signed the head now by {report['signed_by']} (checkpoint at seq {report['checkpoint']['seq']})"
    return line
