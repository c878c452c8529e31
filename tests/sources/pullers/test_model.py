"""The puller file: what people write is validated when read; each mistake is one line naming file:line, the
field and the fix, and `vsmesh up` refuses a bad VSMESH_PULLERS before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsmesh.errors import ConfigError
from vsmesh.sources.pullers.model import KubernetesPuller, OpenCostPuller, TokenUsagePuller, parse_puller_file

GOOD = """\
pullers:
  - name: opencost
    kind: opencost
    every: 1h
    url: http://opencost.opencost:9003
    aggregate: label:app
  - name: cluster
    kind: kubernetes
    every: 5m
    api: https://10.0.0.1:6443
    token: {env: K8S_TOKEN}
    namespaces: [gitea, monitoring]
  - name: anthropic
    kind: token-usage
    provider: anthropic
    api_key: {file: /run/secrets/anthropic-admin}
    agents: {wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ: release-bot}
"""


def test_a_good_file_reads_as_its_pullers():
    pullers = parse_puller_file(GOOD, "pullers.yaml").pullers
    assert [type(p) for p in pullers] == [OpenCostPuller, KubernetesPuller, TokenUsagePuller]
    assert pullers[0].every == 3600 and pullers[1].every == 300 and pullers[0].aggregate == "label:app"
    assert pullers[1].token.where() == "env K8S_TOKEN"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("kind: opencost", "kind: prometheus"),
         "pullers.yaml:3: pullers.0.kind: 'prometheus' is no puller kind; use opencost, kubernetes, token-usage"),
        (("    url: http://opencost.opencost:9003\n", ""), "pullers.yaml:2: pullers.0.url: Field required"),
        (("every: 1h", "every: soon"), "pullers.yaml:4: pullers.0.every: Value error, 'soon' is no duration"),
        (("aggregate: label:app", "aggregate: pod-ish"), "pullers.yaml:6: pullers.0.aggregate: String should match"),
        (("    token: {env: K8S_TOKEN}\n", "    token: {env: K8S_TOKEN, file: /t}\n"),
         "pullers.yaml:11: pullers.1.token: Value error, a secret names exactly one place"),
        (("    api: https://10.0.0.1:6443\n", "    kubeconfig: /k\n    api: https://10.0.0.1:6443\n"),
         "pullers.yaml:7: pullers.1: Value error, name the API server once"),
        (("name: cluster", "name: opencost"), "pullers.yaml:7: pullers.1.name: 'opencost' is used twice"),
        (("namespaces: [gitea, monitoring]", "namespaces: []"),
         "pullers.yaml:12: pullers.1.namespaces: List should have at least 1"),
        (("    every: 5m", "    evry: 5m"), "pullers.yaml:9: pullers.1.evry: Extra inputs are not permitted"),
        (("    api_key: {file: /run/secrets/anthropic-admin}\n", ""),
         "pullers.yaml:13: pullers.2.api_key: Field required"),
        (("provider: anthropic", "provider: gemini"),
         "pullers.yaml:15: pullers.2.provider: Input should be 'anthropic' or 'openai'"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_naming_file_line_and_field(change, expected):
    old, new = change
    with pytest.raises(ConfigError) as refused:
        parse_puller_file(GOOD.replace(old, new, 1), "pullers.yaml")
    assert str(refused.value).startswith(expected), str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pullers: []\n", "pullers.yaml:1: a puller file is `pullers:` with a list"),
        ("probes: []\n", "pullers.yaml:1: a puller file is `pullers:` with a list"),
        ("pullers: [\n", "pullers.yaml:2: not valid YAML/JSON"),
    ],
)
def test_a_file_that_is_no_puller_file(text, expected):
    with pytest.raises(ConfigError, match="^" + expected.replace("[", r"\[")):
        parse_puller_file(text, "pullers.yaml")


def test_up_refuses_a_bad_puller_file_at_start(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pullers = tmp_path / "pullers.yaml"
    pullers.write_text(GOOD.replace("kind: opencost", "kind: opencast"))
    monkeypatch.setenv("VSMESH_DATA_DIR", str(tmp_path / "up"))
    monkeypatch.setenv("VSMESH_PULLERS", str(pullers))
    done = cli("up", "--hub", "fin-hub", "--no-demo")
    assert done.exit_code == 1
    assert done.stderr.strip() == (
        f"error: {pullers}:3: pullers.0.kind: 'opencast' is no puller kind; use opencost, kubernetes, token-usage"
    )
    assert not (tmp_path / "up" / "nats").exists()  # nothing was started
