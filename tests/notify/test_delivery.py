"""The notifier end to end on its own servers: canon's routes pick the receiver, the webhook arrives signed and
once, 4xx parks at once, 5xx retries, a silence suppresses (recorded), a resolved alert sends one "resolved"."""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from standardwebhooks import Webhook

from tests.notify.conftest import SECRET, policy, running_notifier, until
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.notify.ledger import notifications


async def _routes(notifier, url: str, **receiver) -> None:
    receivers = {"hook": {"kind": "webhook", "url": url, "secret": "{env:HOOK_SECRET}", "backoff": "100ms", **receiver}}
    routes = [{"name": "high", "match": {"severity": "high"}, "receivers": ["hook"], "group_interval": "0s"}]
    await notifier.publish("canon-policy-declared", "canon-hub", "policy/notifications", policy(receivers, routes))
    await until(lambda: notifier.state.routing.routes, what="the notifier to read canon's route")


async def _ledger(notifier, **where) -> list[dict]:
    query = sa.select(notifications).order_by(notifications.c.seq)
    for k, v in where.items():
        query = query.where(notifications.c[k] == v)
    async with notifier.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def _events(notifier, event_type: str) -> list[dict]:
    js = notifier.nc.jetstream()
    sub = await js.subscribe(f"operational.canon-hub.{event_type}.>", ordered_consumer=True)
    found = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            found.append(msgspec.json.decode(msg.data))
    except Exception:  # noqa: BLE001 - nats' TimeoutError: everything stored was read
        pass
    await sub.unsubscribe()
    return found


async def test_a_high_alert_reaches_the_webhook_signed_once_and_is_recorded(notifier, inbox) -> None:
    box, url = inbox
    await _routes(notifier, url)
    # A low alert matches no route; a high one reaches the receiver.
    await notifier.publish("alert-raised", "ops-hub", "service/gitea", {"title": "disk 70 %", "severity": "low"})
    alert = await notifier.publish(
        "alert-raised", "ops-hub", "service/gitea", {"title": "disk full", "severity": "high"}
    )
    await until(lambda: box.received, what="the webhook")
    headers, body = box.received[0]
    # The receiver verifies the Standard Webhooks signature with the library any receiver would use.
    events = Webhook(SECRET).verify(body, headers)
    assert [e["id"] for e in events] == [alert] and events[0]["data"]["title"] == "disk full"
    rows = await until(lambda: _delivered(notifier), what="the ledger to say delivered")
    assert headers["webhook-id"] == rows[0]["notification_id"]
    # Who was told what is on the log, as the notifier's service identity.
    delivered = await until(lambda: _events(notifier, "notification-delivered"), what="notification-delivered")
    assert delivered[0]["actor"] == "vsmesh-notify" and delivered[0]["actorkind"] == "service"
    assert delivered[0]["data"]["events"] == [alert]
    assert len(box.received) == 1


async def _delivered(notifier):
    rows = await _ledger(notifier, status="delivered")
    return rows or None


async def test_4xx_parks_at_once_and_5xx_retries_with_backoff(notifier, inbox) -> None:
    box, url = inbox
    await _routes(notifier, url, attempts=4)
    box.answers = [404]
    await notifier.publish("alert-raised", "ops-hub", "service/a", {"title": "a", "severity": "high"})
    parked = await until(lambda: _ledger(notifier, status="parked"), what="the 404 to park")
    assert parked[0]["attempts"] == 1 and "HTTP 404" in parked[0]["last_error"]
    # Two 503s, then the receiver takes it: three attempts, delivered.
    box.answers = [503, 503]
    await notifier.publish("alert-raised", "ops-hub", "service/b", {"title": "b", "severity": "high"})
    done = await until(lambda: _ledger(notifier, status="delivered"), what="the retried one to arrive")
    assert done[0]["attempts"] == 3 and len(box.received) == 1
    failed = await _events(notifier, "notification-failed")
    assert sorted(f["data"].get("attempts", 1) for f in failed) == [1, 1, 2]
    assert [f["data"].get("parked") for f in failed if "HTTP 404" in f["data"]["error"]] == [True]


async def test_a_silence_suppresses_and_records_and_resolved_is_sent_once(notifier, inbox) -> None:
    box, url = inbox
    await _routes(notifier, url)
    alert = await notifier.publish("alert-raised", "ops-hub", "service/gitea", {"title": "down", "severity": "high"})
    await until(lambda: box.received, what="the alert's notification")
    # The alert resolves: one "resolved" to the receiver that was told, even if resolved twice.
    for _ in range(2):
        await notifier.publish("alert-resolved", "ops-hub", "service/gitea", {"alert_id": alert})
    await until(lambda: len(box.received) == 2, what="the resolved notification")
    headers, body = box.received[1]
    assert headers["vsmesh-notification-kind"] == "resolved"
    assert [e["type"] for e in msgspec.json.decode(body)] == ["alert-resolved"]
    # A person silences the service; the next alert is recorded as suppressed, not sent.
    until_at = "2099-01-01T00:00:00Z"
    data = {"matchers": {"entity": "service/gitea"}, "until": until_at, "reason": "maintenance"}
    silence = await notifier.publish("notification-silence-set", "canon-hub", "silence/x", data)
    await until(lambda: silence in notifier.state.silences, what="the notifier to read the silence")
    await notifier.publish("alert-raised", "ops-hub", "service/gitea", {"title": "down again", "severity": "high"})
    suppressed = await until(lambda: _ledger(notifier, status="suppressed"), what="the suppression")
    assert suppressed[0]["silence_id"] == silence
    recorded = await until(lambda: _events(notifier, "notification-suppressed"), what="notification-suppressed")
    assert recorded[0]["data"]["silence_id"] == silence
    assert len(box.received) == 2


async def test_a_silence_set_before_the_notifier_ever_ran_holds_from_its_first_notification(own, inbox) -> None:
    box, url = inbox
    # A person silences gitea while no notifier has run yet on this mesh.
    nc = await connect(own)
    try:
        publisher = Publisher(nc.jetstream(), own)
        data = {"matchers": {"entity": "service/gitea"}, "until": "2099-01-01T00:00:00Z", "reason": "migration"}
        event = publisher.build("notification-silence-set", hub="canon-hub", subject="silence/early", data=data)
        silence = (await publisher.publish(event)).event_id
    finally:
        await nc.close()
    async with running_notifier(own) as notifier:
        await _routes(notifier, url)
        await notifier.publish("alert-raised", "ops-hub", "service/gitea", {"title": "down", "severity": "high"})
        web = await notifier.publish("alert-raised", "ops-hub", "service/web", {"title": "down", "severity": "high"})
        # gitea's alert is held back and recorded so; web's, which no silence matches, is sent.
        [suppressed] = await until(lambda: _ledger(notifier, status="suppressed"), what="gitea's alert held back")
        assert suppressed["silence_id"] == silence and suppressed["entity"] == "service/gitea"
        await until(lambda: _ledger(notifier, status="delivered"), what="web's alert sent")
        assert [[e["id"] for e in msgspec.json.decode(body)] for _, body in box.received] == [[web]]


async def test_a_group_waits_for_its_events_and_goes_as_one_notification(notifier, inbox) -> None:
    box, url = inbox
    receivers = {"hook": {"kind": "webhook", "url": url}}
    routes = [{"name": "grouped", "match": {"severity": "high"}, "receivers": ["hook"], "group_by": ["entity"],
               "group_wait": "2s"}]  # fmt: skip
    await notifier.publish("canon-policy-declared", "canon-hub", "policy/notifications", policy(receivers, routes))
    await until(lambda: notifier.state.routing.routes, what="the notifier to read canon's route")
    # Two alerts on one entity within group_wait, one on another: two notifications, the first telling of both.
    first = await notifier.publish("alert-raised", "ops-hub", "service/db", {"title": "slow", "severity": "high"})
    second = await notifier.publish("alert-raised", "ops-hub", "service/db", {"title": "down", "severity": "high"})
    await notifier.publish("alert-raised", "ops-hub", "service/web", {"title": "down", "severity": "high"})
    await until(lambda: len(box.received) >= 2, what="the grouped notifications")
    told = sorted([e["id"] for e in msgspec.json.decode(body)] for _, body in box.received)
    assert [first, second] in told and len(told) == 2


async def test_an_escalation_past_its_sla_reaches_the_next_receiver_once_per_period(notifier, inbox) -> None:
    box, url = inbox
    receivers = {name: {"kind": "webhook", "url": f"{url}?to={name}"} for name in ("primary", "secondary")}
    routes = [{"name": "on-call", "match": {"type": ["canon-escalation-*"]}, "receivers": ["primary", "secondary"],
               "chain": True}]  # fmt: skip
    await notifier.publish("canon-policy-declared", "canon-hub", "policy/notifications", policy(receivers, routes))
    await until(lambda: notifier.state.routing.routes, what="the notifier to read canon's route")
    raised = await notifier.publish("canon-escalation-raised", "canon-hub", "topic/runway", {"title": "runway"})
    # canon's scheduler re-escalates once per SLA period; the same period judged twice is one event (same id).
    for n in (1, 1, 2):
        data = {"escalation_id": raised, "horizon": "operational", "sla_s": 60.0, "re_escalation": n,
                "raised_at": "2026-12-07T10:00:00Z", "due_at": "2026-12-07T10:01:00Z"}  # fmt: skip
        await notifier.publish("canon-escalation-overdue", "canon-hub", "topic/runway", data,
                               event_id=f"{raised}-overdue-{n}")  # fmt: skip
    await until(lambda: len(box.received) >= 3, what="the escalation and its two periods")
    told = {h["webhook-id"]: msgspec.json.decode(b)[0]["type"] for h, b in box.received}
    assert len(told) == 3 == len(box.received)  # each once, two receivers side by side
    rows = await _ledger(notifier)
    assert [(told[r["notification_id"]], r["receiver"]) for r in rows] == [
        ("canon-escalation-raised", "primary"),
        ("canon-escalation-overdue", "secondary"),
        ("canon-escalation-overdue", "secondary"),
    ]


async def test_a_receiver_back_after_an_outage_gets_everything_in_order_per_entity(notifier, inbox) -> None:
    box, url = inbox
    await _routes(notifier, url, attempts=20)
    box.answers = [503] * 6  # down for the first attempts, then back
    sent = []
    for i in range(4):
        sent.append(await notifier.publish("alert-raised", "ops-hub", "service/db", {"title": f"#{i}",
                                           "severity": "high"}))  # fmt: skip
    await until(lambda: len(box.received) == 4, what="everything once the receiver is back")
    arrived = [msgspec.json.decode(body)[0]["id"] for _, body in box.received]
    assert arrived == sent
