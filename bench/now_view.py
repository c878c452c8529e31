"""Publish → visible in an open page: the now view's live path, beside publish → applied of the same events.

Starts `vsmesh up --no-demo` on a new data dir, opens the operational page in Debian's chromium (Playwright),
and publishes N health checks at R/s, each for a new service. The page records when each service's cell
appears (a MutationObserver, browser clock); the benchmark records when ops-hub announced the batch that
applied it (`mesh.applied.ops-hub`, the feed the page itself follows). The floor is publish → applied.

Target: the page adds <= 100 ms at p99 over publish → applied.

    python bench/now_view.py [--events 200] [--rate 20] [--pages 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).parent))
from contract_under_load import VSMESH, env, settings_of, stats  # noqa: E402

from vsmesh.bus.connection import connect  # noqa: E402
from vsmesh.bus.publisher import Publisher  # noqa: E402
from vsmesh.bus.subjects import applied_subject  # noqa: E402
from vsmesh.runtime.mesh_state import load_state  # noqa: E402

TARGET_ADDED_P99_MS = 100.0
OBSERVER = """
window.__seen = {};
new MutationObserver(() => {
  for (const cell of document.querySelectorAll('[data-service^="nv-"]')) {
    const name = cell.dataset.service;
    if (!(name in window.__seen)) window.__seen[name] = Date.now();
  }
}).observe(document.getElementById('content'), {childList: true, subtree: true});
// Where the page's time goes: a second event stream on the same live view (its patches are rendered once for
// both) records when each patch arrived and which of the benchmark's services it held.
window.__patches = [];
new EventSource(document.body.dataset.live).addEventListener("patch", (e) => {
  window.__patches.push([Date.now(), [...e.data.matchAll(/data-service="(nv-[0-9]+)"/g)].map(m => m[1])]);
});
"""


def renders(url: str, since: dict | None = None) -> dict:
    """The operational page's server renders from /metrics: count and mean ms by how (full, partial)."""
    samples = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name.startswith("vsmesh_page_render_seconds_") and sample.labels["page"] == "operational":
                samples[(sample.labels["how"], sample.name.rsplit("_", 1)[1])] = sample.value
    if since is None:
        return samples
    found = {}
    for how in ("full", "partial"):
        count = samples.get((how, "count"), 0) - since.get((how, "count"), 0)
        total = samples.get((how, "sum"), 0) - since.get((how, "sum"), 0)
        found[how] = {"n": int(count), "mean_ms": round(total * 1000 / count, 1) if count else None}
    return found


async def measure(data_dir: Path, events: int, rate: float, pages: int = 1) -> dict:
    settings = settings_of(data_dir)
    url = load_state(data_dir).gateway_url
    nc = await connect(settings, name="bench-now-view")
    publisher = Publisher(nc.jetstream(), settings, source="bench/now_view")
    applied_at: list[tuple[float, dict]] = []

    async def on_applied(msg) -> None:
        applied_at.append((time.time(), msgspec.json.decode(msg.data)))

    await nc.subscribe(applied_subject("ops-hub"), cb=on_applied)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        # Other people watching the same page (`--pages`): each is live too, the first one is measured.
        for _ in range(pages - 1):
            other = await (await browser.new_context()).new_page()
            await other.goto(f"{url}/operational")
            await other.wait_for_selector("body[data-connected=yes]")
        page = await browser.new_page()
        await page.goto(f"{url}/operational")
        await page.wait_for_selector("body[data-connected=yes]")
        await page.evaluate(OBSERVER)
        renders_before = renders(url)
        sent: dict[str, tuple[float, int]] = {}
        for i in range(events):
            name = f"nv-{i:04d}"
            event = publisher.build("ops-health-checked", hub="ops-hub", subject=f"service/{name}",
                                    data={"status": "green", "observations": {}})  # fmt: skip
            started = time.time()
            stored = await publisher.publish(event)
            sent[name] = (started, stored.sequence)
            await asyncio.sleep(max(0.0, 1 / rate - (time.time() - started)))
        with contextlib.suppress(PlaywrightTimeout):
            await page.wait_for_function(f"Object.keys(window.__seen).length >= {events}", timeout=30_000)
        seen = await page.evaluate("window.__seen")
        patches = await page.evaluate("window.__patches")
        rendered = renders(url, since=renders_before)
        await browser.close()
    await nc.close()
    to_page, to_applied, added = [], [], []
    for name, (started, seq) in sent.items():
        applied = next((t for t, positions in applied_at if positions.get("OPERATIONAL", 0) >= seq), None)
        if name in seen and applied is not None:
            to_page.append(seen[name] - started * 1000)
            to_applied.append((applied - started) * 1000)
            added.append(seen[name] - applied * 1000)
    # When the first patch holding a cell arrived, after its batch was applied; and from there to the cell.
    to_patch, patch_to_cell = [], []
    for name in seen:
        arrived = next((t for t, names in patches if name in names), None)
        applied = next((t for t, positions in applied_at if positions.get("OPERATIONAL", 0) >= sent[name][1]), None)
        if arrived is not None and applied is not None:
            to_patch.append(arrived - applied * 1000)
            patch_to_cell.append(seen[name] - arrived)
    return {
        "page": stats(to_page),
        "applied": stats(to_applied),
        "added": stats(added),
        "applied_to_patch": stats(to_patch),
        "patch_to_cell": stats(patch_to_cell),
        "patches": len(patches),
        "renders": rendered,
        "missing": events - len(seen),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--pages", type=int, default=1, help="browsers showing the page (the first is measured)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vsmesh-bench-nv-") as tmp:
        data_dir = Path(tmp) / "mesh"
        mesh = subprocess.Popen([*VSMESH, "up", "--no-demo", "--data-dir", str(data_dir)], env=env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not load_state(data_dir).ready:
                if mesh.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("vsmesh up did not become ready")
                time.sleep(0.2)
            result = asyncio.run(measure(data_dir, args.events, args.rate, args.pages))
        finally:
            mesh.terminate()
            mesh.wait(60)
    added_p99 = result["added"].get("p99")
    print(f"publish -> applied: {result['applied']}")
    print(f"publish -> visible in the page: {result['page']}")
    print(f"added by the page: {result['added']} (target p99 <= {TARGET_ADDED_P99_MS:.0f} ms)")
    print(f"  of it, applied -> the patch with the cell arrives: {result['applied_to_patch']} "
          f"({result['patches']} patches)")  # fmt: skip
    print(f"  of it, patch arrived -> cell in the page: {result['patch_to_cell']}")
    print(f"  the server's renders (vsmesh_page_render_seconds): {result['renders']}")
    met = added_p99 is not None and added_p99 <= TARGET_ADDED_P99_MS and not result["missing"]
    print(json.dumps({"metric": "page_added_ms_p99", "value": added_p99, "floor": result["applied"].get("p99"),
                      "page_p99": result["page"].get("p99"), "missing": result["missing"],
                      "target": TARGET_ADDED_P99_MS, "met": met}))  # fmt: skip


if __name__ == "__main__":
    main()
