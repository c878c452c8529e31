"""Probe files: what is valid, and a mistake named by file, line and field in one line."""

from pathlib import Path

import pytest

from vsmesh.errors import ConfigError
from vsmesh.probes.model import SecretRef, load_probe_file, parse_probe_file

EXAMPLES = Path(__file__).resolve().parents[2] / "probes" / "examples"

GOOD = """\
probes:
  - name: registry
    entity: endpoint/registry
    kind: http
    url: https://localhost/v2/
    conditions:
      - "[STATUS] == 401"
"""


@pytest.mark.parametrize("name", ["local.yaml", "railiance.yaml"])
def test_the_shipped_examples_are_valid(name):
    probes = load_probe_file(EXAMPLES / name)
    assert probes.probes and probes.gates


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_probe_file(text, "probes.yaml")
    message = str(caught.value)
    assert "\n" not in message  # one line
    return message


def test_a_condition_the_kind_cannot_observe_names_its_own_line():
    text = GOOD + '      - "[BACKUP_AGE] < 26h"\n'
    message = error_of(text)
    assert message.startswith("probes.yaml:8: probes[0].conditions[1]: ")
    assert "observes no [BACKUP_AGE]" in message


def test_a_wrong_field_names_file_line_and_field():
    message = error_of(
        GOOD.replace("    url: https://localhost/v2/\n", "    url: https://localhost/v2/\n    prot: 1\n")
    )
    assert message.startswith("probes.yaml:6: probes[0].prot: ") and "Extra inputs" in message
    message = error_of(GOOD.replace("    kind: http\n", "    kind: http\n    interval: soon\n"))
    assert message.startswith("probes.yaml:5: probes[0].interval: ") and "no duration" in message


def test_an_unknown_entity_kind_and_an_unknown_gate_probe_are_refused():
    assert "probes[0].entity" in error_of(GOOD.replace("endpoint/registry", "thing/registry"))
    gate = GOOD + "gates:\n  - gate: g\n    probes: [nope]\n"
    assert "names unknown probes ['nope']" in error_of(gate)


def test_secrets_come_from_the_environment_or_a_file_and_are_never_shown(tmp_path):
    ref = SecretRef(env="TOKEN", prefix="Bearer ")
    assert ref.reveal({"TOKEN": "s3cret"}) == "Bearer s3cret"
    with pytest.raises(ConfigError, match="secret variable TOKEN is not set") as caught:
        ref.reveal({})
    assert "s3cret" not in str(caught.value)
    path = tmp_path / "token"
    path.write_text("from-file\n")
    assert SecretRef(file=path).reveal({}) == "from-file"
    with pytest.raises(ValueError, match="exactly one place"):
        SecretRef(env="A", file=path)
