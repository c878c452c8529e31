"""`vsmesh login`, `vsmesh logout`, `vsmesh whoami`: a person signs the CLI in at the mesh's issuer, and the
CLI's writes go through the gateway as that person (cli/session.py, gateway/people.py).

    vsmesh login                 # the device grant when the issuer offers it: a code to approve on its page
    vsmesh login --browser       # authorization code + PKCE, the code back on a loopback redirect
    vsmesh login --step-up       # enter the password again: governance needs it within VSMESH_STEP_UP_S
    vsmesh login --issuer https://kc.example/realms/vsmesh     # an outside issuer (public client vsmesh-cli)
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from vsmesh.cli.context import guarded, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import echo_json
from vsmesh.errors import ConfigError, Unauthorized, VsmeshError
from vsmesh.settings import Settings

# A step-up asks the issuer for a sign-in at most a second old, whatever sign-in session it holds: the password is
# asked again. Not 0: issuers read max_age=0 as prompt=login, which the device grant does not carry (oidc-provider
# drops it, and reuses the browser's session); a second old is as fresh for governance.
STEP_UP_MAX_AGE_S = 1


@guarded
def login(
    issuer: str = typer.Option(
        None, "--issuer", help="the OIDC issuer [default: VSMESH_OIDC_ISSUER, else the gateway]"
    ),
    device: bool = typer.Option(False, "--device", help="the device grant: approve a code on the issuer's page"),
    browser: bool = typer.Option(False, "--browser", help="a browser on this machine: PKCE with a loopback redirect"),
    step_up: bool = typer.Option(False, "--step-up", help="enter the password again, for governance"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Sign a person in: the CLI then writes through the gateway as that person."""
    from vsmesh.cli import session as sessions
    from vsmesh.gateway.identity import person_token

    if device and browser:
        raise ConfigError("choose one of --device and --browser")
    settings = settings_from(data_dir)
    gateway = settings.gateway_url
    if not gateway:
        raise ConfigError(
            "no gateway known: start the mesh (`vsmesh up`), or set VSMESH_GATEWAY_URL to the gateway's URL"
        )
    # The gateway names its issuer and the resource its tokens must be for (RFC 9728); --issuer and
    # VSMESH_OIDC_ISSUER still choose another issuer, whose tokens the gateway then refuses as such.
    resource = person_token.protected_resource(gateway)
    endpoints = person_token.discover(issuer or settings.oidc_issuer or resource.issuer or gateway, resource.resource)
    use_browser = browser or (not device and not endpoints.device_authorization_endpoint)
    max_age = STEP_UP_MAX_AGE_S if step_up else None
    if use_browser:
        tokens = person_token.browser_sign_in(endpoints, _open, max_age=max_age)
    else:
        started = person_token.start_device(endpoints, max_age=max_age)
        typer.echo(
            f"To sign in, open {started.verification_uri} and enter the code {started.user_code}\n"
            f"  (or open {started.verification_uri_complete or started.verification_uri})\n"
            "waiting for approval …",
            err=True,
        )
        tokens = person_token.poll_device(endpoints, started)
    session = sessions.begin(settings, endpoints, gateway, tokens, step_up=step_up)
    _show(settings, session, as_json, "signed in as")


@guarded
def logout(data_dir: Path | None = DataDir) -> None:
    """Sign the person out: the issuer ends the sign-in and the tokens are deleted here."""
    from vsmesh.cli import session as sessions
    from vsmesh.gateway.identity import person_token

    settings = settings_from(data_dir, discover=False)
    session = sessions.signed_in(settings)
    if session is None:
        typer.echo("nobody is signed in")
        return
    if session.refresh_token:
        try:
            person_token.revoke(session.endpoints, session.refresh_token)
        except VsmeshError as e:  # an unreachable issuer must not keep the tokens on disk
            typer.echo(f"the issuer was not told ({type(e).__name__}); the refresh token expires by itself", err=True)
    sessions.forget(settings)
    typer.echo(f"signed out {session.subject}")


@guarded
def whoami(data_dir: Path | None = DataDir, as_json: bool = Json) -> None:
    """Who the CLI acts as: the signed-in person, as the gateway verifies the token now."""
    from vsmesh.cli import session as sessions

    settings = settings_from(data_dir, discover=False)
    session = sessions.signed_in(settings)
    if session is None:
        raise Unauthorized("nobody is signed in: run `vsmesh login`")
    session = sessions.fresh(settings, session)
    who = sessions.whoami(session.gateway_url, session.access_token)
    if who.get("subject") != session.subject:
        raise Unauthorized(f"the gateway takes this token for {who.get('subject')}, not {session.subject}")
    _show(settings, session, as_json, "signed in as")


def _open(url: str) -> None:
    import webbrowser

    typer.echo(f"Sign in in your browser: {url}", err=True)
    webbrowser.open(url)


def _show(settings: Settings, session, as_json: bool, verb: str) -> None:
    now = time.time()
    fresh_for = max(0, int(session.auth_time + settings.step_up_s - now)) if session.auth_time is not None else 0
    facts = {
        "subject": session.subject,
        "kind": session.kind,
        "issuer": session.endpoints.issuer,
        "gateway": session.gateway_url,
        "signed_in_at": session.auth_time,
        "governance_for_s": fresh_for,
        "token_expires_in_s": max(0, int(session.expires_at - now)),
    }
    if as_json:
        echo_json(facts)
        return
    typer.echo(f"{verb} {session.subject} at {session.gateway_url} (issuer {session.endpoints.issuer})")
    if fresh_for:
        typer.echo(f"governance allowed for {fresh_for} s more; then `vsmesh login --step-up`")
    else:
        typer.echo("governance needs a fresh password: `vsmesh login --step-up`")
