"""`vsmesh verify`: walk the constitutional record's hash chain, check its signed checkpoints and the heads the
mesh remembers signing, sign or export.

vsmesh verify                              intact: N events, head H, signed at T — or the first break
vsmesh verify --sign                       sign the current head with the mesh's key (a checkpoint event)
vsmesh verify --export head.json           the head, signed, for an auditor to keep outside the mesh
vsmesh verify --from-checkpoint head.json  does the stream still hold that signed head?
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import fail, run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import echo_json
from vsmesh.settings import Settings


def verify_cmd(
    stream: str = typer.Option("CONSTITUTIONAL", "--stream", help="the chained stream"),
    sign: bool = typer.Option(False, "--sign", help="publish a checkpoint signing the current head"),
    export: Path = typer.Option(None, "--export", help="write the signed head to FILE for an auditor"),
    from_checkpoint: Path = typer.Option(
        None, "--from-checkpoint", help="a head exported earlier: check the stream still holds it"
    ),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Walk the hash chain of the constitutional record and name the first altered, missing, inserted or
    reordered event; check every signed checkpoint against it."""
    settings = settings_from(data_dir)
    exported = _read_export(from_checkpoint) if from_checkpoint else None
    report = run(_verify(settings, stream.upper(), sign=sign, export=bool(export), exported=exported))
    if export and report["intact"]:
        export.write_text(json.dumps(report["signed_head"], indent=1) + "\n")
        report["exported_to"] = str(export)
    if as_json:
        echo_json(report)
    else:
        typer.echo(report["summary"])
    if not report["intact"]:
        raise typer.Exit(1)


def _read_export(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
        return {k: found[k] for k in ("stream", "head_seq", "head_hash", "public_key", "signature")}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise fail(f"{path}: not a head exported by `vsmesh verify --export` ({e}); export one again") from None


async def _verify(
    settings: Settings, stream: str, *, sign: bool, export: bool, exported: dict[str, Any] | None
) -> dict[str, Any]:
    from vsmesh.bus.chain import checkpoints_hold, walk
    from vsmesh.bus.connection import connect
    from vsmesh.runtime.signed_heads import disagreement, recall, remember
    from vsmesh.runtime.signing import publish_checkpoint, signed_head, signing_key

    key = signing_key(settings.data_dir, create=sign or export)
    trusted = exported["public_key"] if exported else (key.public_hex if key else None)
    nc = await connect(settings, name="vsmesh-verify")
    try:
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
            elif export:  # a head handed to an auditor is one the mesh signed: it remembers it too
                await remember(settings, report["signed_head"])
        report["summary"] = _summary(report, signed_at)
        return report
    finally:
        await nc.drain()


def _check_export(walked, exported: dict[str, Any]) -> str | None:
    from vsmesh.bus.chain import signature_holds

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
        line += f"; signed the head now (checkpoint at seq {report['checkpoint']['seq']})"
    return line
