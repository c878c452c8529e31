"""The README is the user's manual: it must list every setting and the two commands."""

from pathlib import Path

from vsmesh.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [f"VSMESH_{name.upper()}" for name in Settings.model_fields if f"`VSMESH_{name.upper()}`" not in README]
    assert not missing, f"README lacks {missing}"


def test_the_two_commands_are_at_the_top():
    top = README[:1500]
    assert "make run" in top and "make test" in top
