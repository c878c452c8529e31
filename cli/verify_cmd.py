"""`vsmesh verify`: walk the constitutional record's hash chain, check its signed checkpoints and the heads the
mesh remembers signing, sign or export.

vsmesh verify                              intact: N events, head H, signed at T — or the first break
vsmesh verify --sign                       the gateway signs the head with the mesh's key, as you (signed in)
vsmesh verify --export head.json           the head, signed, for an auditor to keep outside the mesh
vsmesh verify --from-checkpoint head.json  does the stream still hold that signed head?
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import fail, guarded, run, settings_from
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
    reordered event; check every signed checkpoint against it. Signing is governance: the gateway signs as the
    signed-in person, who entered the password recently (`vsmesh login --step-up`)."""
    from vsmesh.cli.session import as_person

    settings = settings_from(data_dir)
    exported = _read_export(from_checkpoint) if from_checkpoint else None
    if sign:  # governance: the gateway signs with the mesh's key, as the signed-in person
        body = {"stream": stream.upper(), "exported": exported}
        report = guarded(as_person)(settings, "signing the chain", "/people/sign", body, governance=True)
    else:
        report = run(_verify(settings, stream.upper(), export=bool(export), exported=exported))
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


async def _verify(settings: Settings, stream: str, *, export: bool, exported: dict[str, Any] | None) -> dict[str, Any]:
    from vsmesh.bus.connection import connect
    from vsmesh.runtime.chain_check import check_chain

    nc = await connect(settings, name="vsmesh-verify")
    try:
        return await check_chain(nc, settings, stream, sign=False, export=export, exported=exported)
    finally:
        await nc.drain()
