"""The built package on its own: the wheel the Dockerfile's `pip install .` makes, installed into a venv away
from this checkout, starts `vsmesh up` and serves every page (an editable install hides a missing data file).

Beside it, a hub shipped as a distribution of its own (tests/example_hub: one package, one entry-point line):
without a file of vsmesh changed, the mesh finds its schemas, contract, MCP tools, projector, rebuild, timed
job, commands and sample."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import httpx2
import psutil
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import server_dir, wait_until
from tests.signing_in import sign_in
from vsmesh.gateway.pages.pages import PAGES
from vsmesh.runtime.mesh_state import load_state

CHECKOUT = Path(__file__).resolve().parents[1]
EXAMPLE_HUB = CHECKOUT / "tests" / "example_hub"
UV = Path(sys.executable).parent / "uv"


def docker_context(to: Path) -> Path:
    """What the Dockerfile copies before `pip install .`, copied to `to` (its COPY lines, in order)."""
    for line in (CHECKOUT / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY "):
            continue
        *sources, dest = line.split()[1:]
        for source in sources:
            src = CHECKOUT / source
            if src.is_dir():
                shutil.copytree(src, to / dest, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                (to / dest).mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, to / dest / src.name)
    return to


def build_and_install(sources: list[Path], root: Path) -> Path:
    """The wheels of `sources`, installed into a fresh venv under `root`; returns the venv's bin dir.

    uv (the Makefile installs it into .venv) takes seconds from its cache; pip where uv is absent."""
    dist, venv = root / "dist", root / "venv"
    base = str(Path(sys.base_prefix) / "bin" / "python3")
    if UV.exists():
        for source in sources:
            run([str(UV), "build", "--wheel", "--quiet", "--out-dir", str(dist), str(source)])
        run([str(UV), "venv", "--quiet", "--python", base, str(venv)])
        python = str(venv / "bin" / "python")
        run([str(UV), "pip", "install", "--quiet", "--python", python, *map(str, dist.glob("*.whl"))])
    else:
        for source in sources:
            run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(source)])
        run([base, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "--quiet", *map(str, dist.glob("*.whl"))])
    return venv / "bin"


def run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


def package_files() -> list[str]:
    """Every file of the package's folders (pyproject.toml's package-dir), as the installed package names it:
    a module of a subpackage missing from `packages` or a template missing from `package-data` is left out."""
    setuptools = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set()
    for package, folder in setuptools["package-dir"].items():
        for path in (CHECKOUT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                found.add(str(Path(*package.split("."), path.relative_to(CHECKOUT / folder))))
    return sorted(found)


def clean_env(data_dir: Path) -> dict[str, str]:
    """The environment of someone who only installed the wheel: nothing names the checkout or its venv."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if not p.startswith(str(CHECKOUT))]
    # Where this machine keeps PostgreSQL as root, as the session's own servers are told.
    machine = {k: v for k, v in os.environ.items() if k in ("VSMESH_POSTGRES_HOME", "VSMESH_POSTGRES_USER")}
    return {**keep, **machine, "PATH": os.pathsep.join(path), "VSMESH_DATA_DIR": str(data_dir)}


def mesh_processes(data_dir: Path) -> list[dict]:
    return [
        p.info for p in psutil.process_iter(["pid", "cmdline"]) if str(data_dir) in " ".join(p.info["cmdline"] or [])
    ]


@pytest.fixture
def root():
    path = server_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(300)  # the wait for `up` names what it saw before this bound ends the test
def test_the_installed_wheel_starts_and_serves_every_page(root):
    example = shutil.copytree(EXAMPLE_HUB, root / "example_hub", ignore=shutil.ignore_patterns("__pycache__"))
    bin_dir = build_and_install([docker_context(root / "src"), example], root)
    shutil.rmtree(root / "src")  # nothing may need the sources it was built from
    shutil.rmtree(example)
    site = next((root / "venv" / "lib").glob("python3*/site-packages"))
    missing = [name for name in package_files() if not (site / name).is_file()]
    assert not missing, f"files the wheel left out (pyproject.toml packages, package-data): {missing}"

    work = root / "work"  # the working directory, and the default data dir `.vsmesh` in it
    work.mkdir()
    data_dir = work / ".vsmesh"
    out = root / "up.out"
    with out.open("wb") as sink:  # `vsmesh up` as it comes, on a fresh data dir: the demo and shipped manifests too
        proc = subprocess.Popen(
            [str(bin_dir / "vsmesh"), "up"], cwd=work, env=clean_env(data_dir), stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        mine = lambda: (s := load_state(data_dir)).ready and s.supervisor_pid == proc.pid  # noqa: E731
        wait_until(mine, timeout=180, what="the installed vsmesh up", proc=proc, log=out)
        assert "Traceback" not in out.read_text(errors="replace")
        fetch_everything(load_state(data_dir).gateway_url)
        vsmesh = installed_cli(bin_dir, work, {**clean_env(data_dir), "VSMESH_CONFIG_DIR": str(work / "person")})
        the_demo_is_there(vsmesh)
        # A person of that mesh (`vsmesh user add`, `vsmesh login`): the CLI's writes go through its gateway as them.
        vsmesh("user", "add", "installer", "--password", "the installer's password")
        sign_in(load_state(data_dir).gateway_url or "", work / "person", "installer", "the installer's password")
        an_installed_hub_takes_part(vsmesh)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, out.read_text(errors="replace")[-2000:]
        assert mesh_processes(data_dir) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        subprocess.run([str(bin_dir / "vsmesh"), "down"], cwd=work, env=clean_env(data_dir), capture_output=True)


def fetch_everything(url: str) -> None:
    """Every page and static file the gateway serves, and /metrics, each answering with its real content."""
    with httpx.Client(base_url=url, timeout=30) as client:

        def get(path: str, *shown: str) -> httpx.Response:
            answer = client.get(path, follow_redirects=True)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[-1000:])
            for text in shown:
                assert text in answer.text, (path, text, answer.text[-2000:])
            return answer

        get("/", *(p.title for p in PAGES.values()))
        pages = {p.slug: get(f"/{p.slug}", p.title, *p.hubs).text for p in PAGES.values()}
        for static in sorted((CHECKOUT / "gateway" / "pages" / "static").iterdir()):
            assert get(f"/static/{static.name}").content == static.read_bytes(), static.name
        # An event of the demo, as a page links to it, with its causation chain.
        event = re.search(r'href="(/event/[^"]+)"', "".join(pages.values()))
        assert event, "no page links to an event"
        get(event.group(1), event.group(1).removeprefix("/event/"))
        get("/signin", 'name="password"')  # the sign-in, through to the issuer's login page
        metrics = get("/metrics").text
        assert re.search(r"^vsmesh_\w+", metrics, re.MULTILINE), metrics[:2000]


def installed_cli(bin_dir: Path, work: Path, env: dict[str, str]):
    """The installed `vsmesh`, run as a person runs it there; its output, or the test fails naming the command."""

    def vsmesh(*args: str) -> str:
        done = subprocess.run([str(bin_dir / "vsmesh"), *args], cwd=work, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done.stdout

    return vsmesh


def the_demo_is_there(vsmesh) -> None:
    """`make run` on an empty data dir: the demo was published once the mesh was ready."""
    services = {s["name"] for s in json.loads(vsmesh("ops", "services", "--json"))["services"]}
    assert {"gitea", "state-hub"} <= services, services


def an_installed_hub_takes_part(vsmesh) -> None:
    """tally-hub, installed as a distribution of its own, in every place a coded hub is."""
    assert "tally-counted" in vsmesh("schema", "list")  # its event family, in the registry
    # Its sample in the demo `up` published, folded by its projector, answered by its contract, through its command
    totals = lambda: json.loads(vsmesh("tally", "totals", "--json"))  # noqa: E731
    assert wait_until(lambda: totals()["counters"] == {"visits": 3}, timeout=30, what="the sample's count")
    assert totals()["ticks"] >= 1  # its timed job ran on start, under its lease
    published = json.loads(vsmesh("publish", "tally-counted", "--hub", "tally-hub", "--subject", "counter/visits",
                                  "--data", '{"counter": "visits", "by": 2}', "--json"))  # fmt: skip
    rebuilt = json.loads(vsmesh("rebuild", "tally-hub", "--json"))
    assert rebuilt["positions"]["OPERATIONAL"] >= published["seq"], rebuilt
    assert totals()["counters"] == {"visits": 5}
    # Its operations are MCP tools, for an agent that signs in at the gateway
    vsmesh("agent", "add", "tally-bot")
    http = json.loads(vsmesh("mcp", "--print-config", "tally-bot"))["mcpServers"]["vsmesh-tally-bot-http"]

    async def tools() -> set[str]:
        async with httpx2.AsyncClient(headers=http["headers"], timeout=30) as h:
            async with Client(streamable_http_client(http["url"], http_client=h), cache=None) as client:
                return {t.name for t in (await client.list_tools()).tools}

    assert {"tally-hub__count", "tally-hub__get_domain_summary"} <= asyncio.run(tools())
