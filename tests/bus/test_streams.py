"""Streams: created idempotently, reconciled when their config drifts, locked where DESIGN says."""

from vsmesh.bus.connection import connect
from vsmesh.bus.streams import STREAMS, ensure_streams


async def test_streams_exist_with_their_retention_and_reconcile(settings):
    nc = await connect(settings)
    js = nc.jetstream()
    try:
        await ensure_streams(js)
        before = {name: (await js.stream_info(name)).created for name in STREAMS}
        await ensure_streams(js)  # a second run changes nothing and does not fail
        assert {name: (await js.stream_info(name)).created for name in STREAMS} == before
        for name, spec in STREAMS.items():
            info = await js.stream_info(name)
            assert info.config.subjects == list(spec.subjects)
        constitutional = await js.stream_info("CONSTITUTIONAL")
        assert constitutional.config.deny_delete and constitutional.config.deny_purge
        assert constitutional.config.max_age in (0, None)

        # Someone shortens TACTICAL's retention by hand; ensure_streams puts it back.
        drifted = (await js.stream_info("TACTICAL")).config
        drifted.max_age = 3600.0
        await js.update_stream(drifted)
        await ensure_streams(js)
        assert (await js.stream_info("TACTICAL")).config.max_age == STREAMS["TACTICAL"].max_age_s
    finally:
        await nc.close()
