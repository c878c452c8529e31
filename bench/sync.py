"""GitOps sync: a repository of 2,000 catalog entities, 200 policies and 100 budgets, synced into a fresh mesh.

Starts `vsmesh up --no-demo` on a new embedded data dir, writes one commit with dulwich (200 catalog-info.yaml
files of 10 entities each, one file per policy and per budget), and times `vsmesh sync` of it twice: the first sync
(everything published, and applied by the hubs before it returns) and a no-change sync, which must publish nothing:
as `vsmesh up`'s timed reconcile runs it (files already read are known by their blob id) and as a new `vsmesh sync`
process runs it (`noop_cold_s`: every file parsed again).
The floor, same run: a bare dulwich walk of the same commit reading every blob (what any sync must do at least).
Last line: JSON with first_s, noop_s, published_first, published_noop, floor_walk_s and the target (noop ≤ 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from dulwich.object_store import iter_tree_contents
from dulwich.repo import Repo

from vsmesh.bus.connection import connect
from vsmesh.runtime.mesh_state import load_state
from vsmesh.settings import Settings
from vsmesh.sources.gitops.derive import forget_files
from vsmesh.sources.gitops.repo import commit_files
from vsmesh.sources.gitops.sync import sync

VSMESH = [sys.executable, "-m", "vsmesh.cli.app"]
TARGET_NOOP_S = 2.0
KINDS = ("host", "cluster", "endpoint", "backup-set")


def org_files(entities: int, policies: int, budgets: int, per_file: int = 10) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for f in range(entities // per_file):
        docs = []
        for i in range(per_file):
            n = f * per_file + i
            kind = "Component" if n % 2 == 0 else "Resource"
            spec = {"type": "service", "lifecycle": "production", "owner": f"team-{n % 17}"}
            if kind == "Resource":
                spec = {"type": KINDS[n % len(KINDS)], "owner": f"team-{n % 17}"}
            if n % 2 == 0 and n > 1:
                spec["dependsOn"] = [f"resource:entity-{n - 1}"]
            notes = {"vsmesh.io/environment": f"env-{n % 5}", "vsmesh.io/url": f"https://e{n}.test/"}
            meta = {"name": f"entity-{n}", "description": f"bench entity {n}", "annotations": notes}
            docs.append(yaml.safe_dump({"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": meta,
                                        "spec": spec}, sort_keys=False))  # fmt: skip
        files[f"catalog/group-{f}/catalog-info.yaml"] = "---\n".join(docs).encode()
    for p in range(policies):
        doc = {"title": f"Policy {p}", "version": "1.0", "scope": "mesh", "statement": f"bench policy {p}",
               "values": {"bench_value": p}}  # fmt: skip
        files[f"canon/policies/bench-{p}.yaml"] = yaml.safe_dump(doc).encode()
    for b in range(budgets):
        doc = {"domain": f"bench-{b}", "currency": "XBN", "periods": {"2026-11": f"{100 + b}.00"}}
        files[f"fin/budgets/bench-{b}.yaml"] = yaml.safe_dump(doc).encode()
    return files


def floor_walk(path: Path) -> float:
    """A bare dulwich walk of the commit: every tree entry and every blob read."""
    start = time.perf_counter()
    repo = Repo(str(path))
    store = repo.object_store
    total = 0
    for entry in iter_tree_contents(store, repo[repo.refs[b"refs/heads/main"]].tree):
        total += len(store[entry.sha].data)
    assert total > 0
    return time.perf_counter() - start


async def wait_ready(data_dir: Path, proc: subprocess.Popen, timeout: float = 300.0) -> Settings:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = load_state(data_dir)
        if state.ready and state.nats_url:
            return Settings(data_dir=data_dir, nats_url=state.nats_url, nats_user=state.nats_user,
                            nats_password=state.nats_password, database_url=state.database_url,
                            log_format="json", log_level="warning")  # fmt: skip
        if proc.poll() is not None:
            raise SystemExit(f"vsmesh up exited ({proc.returncode}); see {data_dir}/mesh.log")
        await asyncio.sleep(0.1)
    raise SystemExit("vsmesh up was not ready in time")


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="vsmesh-bench-sync-") as tmp:
        root = Path(tmp)
        data_dir, repo_path = root / "mesh", root / "org.git"
        env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")} | {"VSMESH_LOG_FORMAT": "json"}
        proc = subprocess.Popen([*VSMESH, "up", "--no-demo", "--data-dir", str(data_dir)], env=env,  # noqa: ASYNC220
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            settings = await wait_ready(data_dir, proc)
            repo_path.mkdir()
            repo = Repo.init_bare(str(repo_path))
            commit_files(repo, org_files(args.entities, args.policies, args.budgets), message="the organisation")
            floor = floor_walk(repo_path)
            nc = await connect(settings, name="bench-sync")
            try:
                start = time.perf_counter()
                first = await sync(nc, settings, str(repo_path))
                first_s = time.perf_counter() - start
                start = time.perf_counter()
                noop = await sync(nc, settings, str(repo_path))
                noop_s = time.perf_counter() - start
                forget_files()  # what `vsmesh sync` in a new process does: every file read again
                start = time.perf_counter()
                cold = await sync(nc, settings, str(repo_path))
                cold_s = time.perf_counter() - start
            finally:
                await nc.close()
        finally:
            proc.terminate()
            proc.wait(60)
    return {
        "metric": "gitops_sync",
        "entities": args.entities,
        "policies": args.policies,
        "budgets": args.budgets,
        "first_s": round(first_s, 3),
        "published_first": first.published,
        "noop_s": round(noop_s, 3),
        "published_noop": noop.published,
        "noop_cold_s": round(cold_s, 3),
        "published_noop_cold": cold.published,
        "floor_walk_s": round(floor, 3),
        "noop_over_floor": round(noop_s / floor, 1) if floor else None,
        "target_noop_s": TARGET_NOOP_S,
        "met": noop.published == cold.published == 0 and noop_s <= TARGET_NOOP_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=2000)
    parser.add_argument("--policies", type=int, default=200)
    parser.add_argument("--budgets", type=int, default=100)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
