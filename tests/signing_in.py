"""A person signed in as `vsmesh login --device` does it, driven from the test: the device grant started at the
real issuer, approved on its real page with the person's password, polled until the tokens come, and kept in a
config dir (`VSMESH_CONFIG_DIR`) the CLI then reads — no token is minted in the test process."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from vsmesh.cli.session import Session, begin
from vsmesh.gateway.identity import person_token
from vsmesh.settings import Settings

USER_CODE = re.compile(r"enter the code ([A-Z]{4}-[A-Z]{4})")


def approve(gateway_url: str, user_code: str, name: str, password: str, decision: str = "approve") -> httpx.Response:
    """The person's answer on the issuer's device page: the code, user name and password, approve or deny."""
    form = {"user_code": user_code, "username": name, "password": password, "decision": decision}
    return httpx.post(f"{gateway_url}/device", data=form, timeout=30)


def sign_in(gateway_url: str, config_dir: Path, name: str, password: str) -> Session:
    """`name` signed in through the device grant; the session kept in `config_dir` as `vsmesh login` keeps it."""
    endpoints = person_token.discover(gateway_url)
    started = person_token.start_device(endpoints)
    approved = approve(gateway_url, started.user_code, name, password)
    assert approved.status_code == 200, approved.text
    tokens = person_token.poll_device(endpoints, started)
    settings = Settings(config_dir=config_dir, gateway_url=gateway_url)
    return begin(settings, endpoints, gateway_url, tokens)
