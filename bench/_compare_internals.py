"""bench/rebuild.py and bench/latency.py with each nats-py internal on and off (bus/nats_internals.py).

Runs every configuration `--runs` times, interleaved (so drift on a shared machine falls on all alike),
each as its own process with VSMESH_NATS_PUBLIC set, and prints every run's JSON line, not the best:

    python bench/_compare_internals.py --events 200000 --runs 2 [--latency-seconds 30]

Configurations: all internals in use (""), each one switched off alone, and all off ("all").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from vsmesh.bus.nats_internals import INTERNALS

HERE = Path(__file__).parent
CONFIGS = ("", *INTERNALS, "all") if len(INTERNALS) > 1 else ("", "all")


def run(script: str, args: list[str], public: str) -> dict:
    """One benchmark process with VSMESH_NATS_PUBLIC=public; its last stdout line is its JSON report."""
    env = {**os.environ, "VSMESH_NATS_PUBLIC": public}
    out = subprocess.run(
        [sys.executable, str(HERE / script), *args], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        return {"error": f"{script} exit {out.returncode}", "stderr": out.stderr[-400:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--only", choices=("rebuild", "latency"), help="run one of the two benchmarks")
    args = parser.parse_args()
    for i in range(1, args.runs + 1):
        for public in CONFIGS:
            label = public or "internals"
            if args.only != "latency":
                report = run("rebuild.py", ["--events", str(args.events)], public)
                print(json.dumps({"run": i, "public": label, "bench": "rebuild", **report}), flush=True)
            if args.only != "rebuild":
                report = run("latency.py", ["--seconds", str(args.latency_seconds)], public)
                print(json.dumps({"run": i, "public": label, "bench": "latency", **report}), flush=True)


if __name__ == "__main__":
    main()
