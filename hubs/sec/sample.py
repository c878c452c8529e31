"""sec-hub's demo picture: a Trivy scan of Gitea's image with a few findings, one of them accepted by an
exception, and canon's rotation policy that the SOPS/age keys (ops' secret set) are judged against."""

from __future__ import annotations

import datetime as dt

from vsmesh.hubs.samples import DemoEvent
from vsmesh.hubs.sec.reports import finding_id

HUB = "sec-hub"
REPORT = "sha256:demo-gitea-1.21"
TARGETS = {"gitea": "gitea/gitea:1.21.4 (alpine 3.19.1)", "state-hub": "state-hub/requirements.lock"}


def _finding(service: str, cve: str, package: str, severity: str, installed: str, fixed: str | None, title: str):
    fid = finding_id(service, cve, package)
    data = {"finding_id": fid, "service": service, "source": "trivy", "rule": cve, "severity": severity,
            "package": package, "installed_version": installed, "title": title, "target": TARGETS[service],
            "report": REPORT, **({"fixed_version": fixed} if fixed else {})}  # fmt: skip
    if service == "gitea":  # CoulombCore is live production (ops-hub's demo): a critical finding there is an ops risk
        data["production"] = True
    return DemoEvent(f"sec/finding/{service}/{cve}/{package}", "sec-finding-reported", HUB, f"finding/{fid}", data)


def events() -> list[DemoEvent]:
    """sec-hub's demo events, in publishing order."""
    openssl = finding_id("gitea", "CVE-2024-0727", "libssl3")
    # Ten days after the demo is first published: a fixed date would turn the exception into an expired one (an
    # alert and a canon escalation) in every demo published after it. Its id stays the key's, so a later run of
    # the demo on another day publishes nothing new.
    expires_on = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)).isoformat()
    return [
        _finding("gitea", "CVE-2024-0727", "libssl3", "medium", "3.1.4-r2", "3.1.4-r5",
                 "openssl: denial of service via null dereference"),
        _finding("gitea", "CVE-2024-24790", "stdlib", "critical", "1.21.5", "1.21.11",
                 "golang: net/netip: unexpected behavior from Is methods for IPv4-mapped IPv6 addresses"),
        _finding("gitea", "CVE-2023-45288", "golang.org/x/net", "high", "v0.19.0", "v0.23.0",
                 "golang: net/http, x/net/http2: unlimited number of CONTINUATION frames"),
        _finding("state-hub", "CVE-2024-6345", "setuptools", "high", "69.0.2", "70.0.0",
                 "pypa/setuptools: remote code execution via download functions"),
        DemoEvent("sec/exception/gitea-openssl", "sec-exception-granted", HUB, "exception/gitea-openssl",
                  {"exception_id": "gitea-openssl", "finding_id": openssl, "owner": "railiance-apps",
                   "reason": "PKCS12 files are never parsed by Gitea", "expires_on": expires_on,
                   "compensating_control": "no user-supplied PKCS12 reaches the container"}),
        # The SOPS/age keys were last rotated in August: past the 90 days canon's credential policy allows (its
        # value max_secret_age_days, in the example organisation repository's canon/policies/).
        DemoEvent("sec/rotated/sops-age-keys/2026-08-14", "sec-secret-rotated", HUB, "secret-set/sops-age-keys",
                  {"secret_set": "sops-age-keys", "rotated_on": "2026-08-14", "note": "re-keyed after onboarding"}),
    ]  # fmt: skip
