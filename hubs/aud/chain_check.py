"""The constitutional record's hash chain still holds, and its signed checkpoints with it (`vsmesh verify`'s
walk, bus/chain.py). The audit holds no signing key: every checkpoint must share the first one's key, while
`vsmesh verify`, run where the key is, also checks that key is the mesh's and the heads the mesh remembers."""

from __future__ import annotations

from nats.js import JetStreamContext

from vsmesh.bus.chain import CHAINED_STREAM, checkpoints_hold, walk
from vsmesh.hubs.aud.findings import CheckResult, Finding

CHECK = "chain"


async def check_chain(js: JetStreamContext) -> CheckResult:
    walked = await walk(js, CHAINED_STREAM)
    problem, signed_at = walked.problem, None
    if problem is None:
        problem, signed_at = checkpoints_hold(walked, None)
    signed = f", signed up to seq {signed_at[1]}" if signed_at else ", no checkpoint yet"
    read = f"{CHAINED_STREAM}: {walked.events} chained events to seq {walked.head.seq}{signed}"
    if problem is None:
        return CheckResult(CHECK, read)
    evidence = {"stream": CHAINED_STREAM, "problem": problem, "head_seq": walked.head.seq, "events": walked.events}
    finding = Finding(
        f"{CHECK}/{CHAINED_STREAM}", CHECK, f"{CHAINED_STREAM} chain broken: {problem}", "critical", evidence
    )
    return CheckResult(CHECK, read, [finding])
