"""Every `vsmesh` command imports vsmesh.cli.app first: it must stay light, or `vsmesh --help` takes seconds."""

import subprocess
import sys

from vsmesh.cli.rebuild_cmd import DEFAULT_BATCH_SIZE

HEAVY = ("sqlalchemy", "asyncpg", "vsmesh.projectors")
# What a hub declares, its commands and its own event family (msgspec Structs, joining the registry when the hub
# is found, as light as the shared families) are light; its tables, handlers and contract are not.
LIGHT_HUB_PARTS = (".hub", ".cli", ".manifest", ".events")


def test_importing_the_app_imports_nothing_heavy():
    # A fresh interpreter: this one has imported everything already. The app finds the hubs (their declarations)
    # to mount their commands, and must not import their tables and handlers for it.
    code = (
        "import sys, vsmesh.cli.app\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "hubs = [m for m in sys.modules if m.startswith('vsmesh.hubs.') and m.count('.') == 3"
        f" and not m.endswith({LIGHT_HUB_PARTS!r})]\n"
        "print(sorted(heavy + hubs))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", "import these inside the command that needs them"


def test_rebuild_help_shows_the_rebuilds_own_default_batch_size():
    """The CLI keeps its own copy of the default (importing the engine would make every command slow): what
    `vsmesh rebuild --help` shows a person must be what a rebuild without the flag uses."""
    import re

    from typer.testing import CliRunner

    from vsmesh.cli.app import app
    from vsmesh.projectors.rebuild.build import DEFAULT_BATCH_SIZE as rebuilds_own

    shown = CliRunner().invoke(app, ["rebuild", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if "--batch-size" in line)
    assert re.search(rf"default: {rebuilds_own}\b", line), line
    assert DEFAULT_BATCH_SIZE == rebuilds_own
