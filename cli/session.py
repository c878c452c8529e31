"""The person signed in to this user's CLI (`vsmesh login`): the issuer's endpoints, the gateway, and the tokens,
kept in `<VSMESH_CONFIG_DIR>/session.json` (the directory 0700, the file 0600: the user's own, never the mesh's
data dir). The access token is refreshed shortly before it expires; the issuer rotates the refresh token on each
use, so the new one is written at once, under a lock that keeps two commands from spending the same one.

    session = signed_in(settings)                   # None: nobody signed in here
    answer = call_gateway(settings, session, "/people/publish", body)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from vsmesh.bus.creds import write_private
from vsmesh.errors import MeshNotRunning, PermissionDenied, Unauthorized, VsmeshError
from vsmesh.gateway.identity import person_token
from vsmesh.gateway.identity.person_token import Endpoints
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.bus.publisher import Published
    from vsmesh.events.envelope import Event

SESSION_FILE = "session.json"
RENEW_BEFORE_S = 30.0


class Session(msgspec.Struct, kw_only=True):
    endpoints: Endpoints
    gateway_url: str
    subject: str
    kind: str
    access_token: str
    expires_at: float  # unix seconds
    refresh_token: str | None = None
    auth_time: int | None = None  # when the password was entered: governance needs it recent


def signed_in(settings: Settings) -> Session | None:
    path = settings.config_dir / SESSION_FILE
    if not path.exists():
        return None
    try:
        return msgspec.json.decode(path.read_bytes(), type=Session)
    except msgspec.DecodeError:
        raise Unauthorized(f"{path} is not a vsmesh session: `vsmesh logout`, then `vsmesh login`") from None


def save(settings: Settings, session: Session) -> None:
    settings.config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.config_dir, 0o700)  # an existing dir too: nobody else lists or reads the user's tokens
    write_private(settings.config_dir / SESSION_FILE, msgspec.json.encode(session))


def forget(settings: Settings) -> None:
    (settings.config_dir / SESSION_FILE).unlink(missing_ok=True)


def begin(
    settings: Settings, endpoints: Endpoints, gateway_url: str, tokens: person_token.Tokens, *, step_up: bool = False
) -> Session:
    """Keep a new sign-in, once the gateway verified its token as a person's; for a step-up, only one whose
    password was entered within the governance window (an issuer that reused its own sign-in session would
    otherwise leave the person signed in and every governance write refused)."""
    who = whoami(gateway_url, tokens.access_token)
    if who.get("kind") != "human":
        raise Unauthorized(f"the issuer signed in {who.get('subject')} as {who.get('kind')}: only a person may log in")
    auth_time = _auth_time(tokens.access_token)
    if step_up:
        _check_step_up(endpoints.issuer, auth_time, settings.step_up_s)
    session = Session(
        endpoints=endpoints,
        gateway_url=gateway_url,
        subject=str(who["subject"]),
        kind="human",
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=time.time() + tokens.expires_in,
        auth_time=auth_time,
    )
    save(settings, session)
    return session


def _check_step_up(issuer: str, auth_time: int | None, step_up_s: float) -> None:
    if auth_time is None:
        raise Unauthorized(
            f"the issuer {issuer} put no auth_time in the access token, and governance needs it: have it add the"
            " claim (Keycloak: the `basic` client scope)"
        )
    age = time.time() - auth_time
    if age > step_up_s:
        raise Unauthorized(
            f"the issuer {issuer} did not ask for the password again (it was entered {age:.0f} s ago; governance"
            f" needs it within {step_up_s:g} s): end your sign-in session there, then `vsmesh login --step-up`"
        )


def whoami(gateway_url: str, token: str) -> dict[str, Any]:
    """Who the gateway takes a token for (its /whoami)."""
    import httpx

    url = f"{gateway_url.rstrip('/')}/whoami"
    try:
        answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    except httpx.HTTPError as e:
        raise MeshNotRunning(
            f"cannot reach the gateway at {url} ({type(e).__name__}): is `vsmesh up` running?"
        ) from None
    if answer.status_code != 200:
        raise Unauthorized(f"the gateway at {gateway_url} does not accept the token: {answer.text.strip()}")
    return answer.json()


def _auth_time(token: str) -> int | None:
    """When the password was entered, as the token says (read for display: the gateway verifies the token)."""
    from joserfc import jws

    claims = msgspec.json.decode(jws.extract_compact(token.encode()).payload)
    value = claims.get("auth_time") if isinstance(claims, dict) else None
    return int(value) if isinstance(value, int | float) else None


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    settings.config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(settings.config_dir / "session.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def fresh(settings: Settings, session: Session, *, force: bool = False) -> Session:
    """The session with an access token valid for a while yet: refreshed (and rotated) when near its end."""
    if not force and session.expires_at - time.time() > RENEW_BEFORE_S:
        return session
    with _locked(settings):
        current = signed_in(settings) or session  # another command may have refreshed it meanwhile
        if not force and current.expires_at - time.time() > RENEW_BEFORE_S:
            return current
        if current.refresh_token is None:
            raise Unauthorized(f"the sign-in of {current.subject} has expired: run `vsmesh login`")
        tokens = person_token.refresh(current.endpoints, current.refresh_token)
        renewed = msgspec.structs.replace(
            current,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or current.refresh_token,
            expires_at=time.time() + tokens.expires_in,
        )
        save(settings, renewed)
        return renewed


def person(settings: Settings, what: str, *, governance: bool = False) -> Session:
    """The signed-in person a write is sent as; nobody signed in, PermissionDenied naming the sign-in (for
    governance, the step-up) before anything is sent."""
    session = signed_in(settings)
    if session is None:
        login = "`vsmesh login --step-up`" if governance else "`vsmesh login`"
        kind = "is governance, which needs" if governance else "needs"
        raise PermissionDenied(f"refused: {what} {kind} a signed-in person: run {login}")
    return session


def as_person(settings: Settings, what: str, path: str, body: dict[str, Any], *, governance: bool = False) -> Any:
    """POST `body` to the gateway's `path` as the signed-in person (refused here when nobody is)."""
    return call_gateway(settings, person(settings, what, governance=governance), path, body)


def publish_events(settings: Settings, what: str, events: list[Event]) -> list[Published]:
    """Events built here (an import's: each its entity and source-derived id) published by the gateway as the
    signed-in person, in order, a request per run of one type on one hub."""
    from itertools import groupby

    from vsmesh.bus.publisher import Published

    session = person(settings, what, governance=False)
    done: list[Published] = []
    for (event_type, hub), run in groupby(events, key=lambda e: (e.type, e.hub)):
        batch = list(run)
        body = {"type": event_type, "hub": hub, "many": True, "data": [msgspec.to_builtins(e.data) for e in batch],
                "subjects": [e.subject for e in batch], "ids": [e.id for e in batch]}  # fmt: skip
        answer = call_gateway(settings, session, "/people/publish", body)
        done += [msgspec.convert(r, Published) for r in answer["results"]]
    return done


def call_gateway(settings: Settings, session: Session, path: str, body: dict[str, Any]) -> Any:
    """POST `body` to the gateway as the signed-in person; its refusal becomes the error it names, one line.

    A token refused as such is renewed once and sent again: after `vsmesh gateway rotate-key --drop-old` the
    access token's key is gone, while the refresh token (the issuer's own record) still holds."""
    from vsmesh.gateway.people import ERRORS

    session = fresh(settings, session)
    url = session.gateway_url.rstrip("/") + path
    answer = _post(url, session.access_token, body)
    if answer.status_code == 401 and session.refresh_token is not None:
        session = fresh(settings, session, force=True)
        answer = _post(url, session.access_token, body)
    try:
        found = msgspec.json.decode(answer.content)
    except msgspec.DecodeError:
        found = {}
    if answer.status_code == 401:
        reason = found.get("error_description", "not accepted") if isinstance(found, dict) else "not accepted"
        raise Unauthorized(f"the gateway refused the sign-in of {session.subject} ({reason}): run `vsmesh login`")
    if answer.status_code != 200 or not isinstance(found, dict):
        error = found.get("error", "") if isinstance(found, dict) else ""
        message = found.get("message") if isinstance(found, dict) else None
        raise ERRORS.get(error, VsmeshError)(message or f"HTTP {answer.status_code} from {url}")
    return found


def _post(url: str, token: str, body: dict[str, Any]) -> Any:
    import httpx

    try:
        return httpx.post(
            url,
            content=msgspec.json.encode(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=120,
        )
    except httpx.HTTPError as e:
        reason = f"cannot reach the gateway at {url} ({type(e).__name__}): is `vsmesh up` running?"
        raise MeshNotRunning(reason) from None
