"""The condition language: what people write in probe files and how it judges what a probe saw."""

import pytest

from vsmesh.durations import parse_duration
from vsmesh.probes.conditions import evaluate, parse_condition


def held(text: str, **observed) -> bool:
    return parse_condition(text).evaluate(observed)["held"]


def test_status_and_header_conditions_judge_a_registry_challenge():
    seen = {"STATUS": 401, "HEADER": {"docker-distribution-api-version": "registry/2.0"}}
    ok, outcomes = evaluate(
        [
            parse_condition("[STATUS] == 401"),
            parse_condition("[HEADER:Docker-Distribution-Api-Version] == registry/2.0"),
        ],
        seen,
    )
    assert ok and [o["observed"] for o in outcomes] == [401, "registry/2.0"]
    ok, outcomes = evaluate(
        [parse_condition("[HEADER:Docker-Distribution-Api-Version] == registry/2.0")], {"HEADER": {}}
    )
    assert not ok and outcomes[0]["observed"] is None  # a missing header fails and says it saw nothing


def test_durations_are_read_in_the_placeholders_unit():
    # The certificate's time left is observed in seconds; 48h is 172800 s.
    assert held("[CERTIFICATE_EXPIRATION] > 48h", CERTIFICATE_EXPIRATION=3 * 86400)
    assert not held("[CERTIFICATE_EXPIRATION] > 14d", CERTIFICATE_EXPIRATION=3 * 86400)
    # Response time is in milliseconds, so a bare 300 is 300 ms and 1.5s is 1500 ms.
    assert held("[RESPONSE_TIME] < 300", RESPONSE_TIME=120.0)
    assert not held("[RESPONSE_TIME] < 1.5s", RESPONSE_TIME=1600.0)
    assert parse_duration("26h") == 93600 and parse_duration("500ms") == 0.5


def test_body_paths_contains_and_matches():
    body = '{"status": "ok", "items": [{"name": "a"}], "n": 3}'
    assert held("[BODY].status == ok", BODY=body)
    assert held("[BODY].items[0].name == a", BODY=body)
    assert held("[BODY].n >= 3", BODY=body)
    assert not held("[BODY].missing == ok", BODY=body)
    assert held("[DNS_ANSWER] contains 127.0.0.1", DNS_ANSWER=["127.0.0.1"])
    assert held("[CERTIFICATE_ISSUER] matches ^O=trustme", CERTIFICATE_ISSUER="O=trustme,CN=x")
    assert held('[BODY] contains "status"', BODY=body)


def test_nothing_observed_fails_every_comparison():
    # A refused connection observes nothing: no condition, a negative one least of all, may call it healthy.
    for text in (
        "[STATUS] == 200",
        "[STATUS] != 500",
        "[RESPONSE_TIME] < 300",
        "[DNS_ANSWER] contains x",
        "[BODY] not contains error",
        "[CERTIFICATE_ISSUER] not matches ^CN=evil",
        "[HEADER:Server] != nginx",
        "[BODY].status != down",
    ):
        assert held(text) is False, text
        assert held(text, CONNECTED=False) is False, text  # what a refused connection leaves
    # Saying explicitly that nothing is there is the one comparison that holds: the header must be absent.
    assert held("[HEADER:Server] == null", HEADER={"content-type": "text/plain"})
    assert not held("[HEADER:Server] == null", HEADER={"server": "nginx/1.25"})


def test_negated_contains_and_matches_judge_what_was_seen():
    body = '{"status": "ok", "items": ["a", "b"]}'
    assert held("[BODY] not contains error", BODY=body)
    assert not held("[BODY] not contains ok", BODY=body)
    assert held("[DNS_ANSWER] not contains 10.0.0.9", DNS_ANSWER=["10.0.0.7"])
    assert not held("[DNS_ANSWER] not contains 10.0.0.7", DNS_ANSWER=["10.0.0.7"])
    assert held("[CERTIFICATE_ISSUER] not  matches ^CN=evil", CERTIFICATE_ISSUER="O=trustme,CN=x")
    assert not held("[CERTIFICATE_ISSUER] not matches trustme", CERTIFICATE_ISSUER="O=trustme,CN=x")
    assert parse_condition("[BODY] not   contains x").op == "not contains"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("STATUS == 200", "no condition"),
        ("[STATUS] = 200", "no condition"),
        ("[STATES] == 200", "unknown placeholder [STATES]"),
        ("[HEADER] == x", "name the header"),
        ("[STATUS].a == 1", "only [BODY] takes a path"),
        ("[BODY] matches (", "not a regular expression"),
        ("[BODY] not matches (", "not a regular expression"),
        ("[BODY] not == 1", "no condition"),
    ],
)
def test_mistakes_are_named(text, problem):
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        parse_condition(text)
