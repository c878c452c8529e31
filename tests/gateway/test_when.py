"""Times as people read them on the pages (gateway/pages/when.py): pure."""

from __future__ import annotations

import datetime as dt

import pytest

from vsmesh.gateway.pages.when import ago, when

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("before", "said"),
    [
        (dt.timedelta(seconds=20), "just now"),
        (dt.timedelta(minutes=3), "3 min ago"),
        (dt.timedelta(minutes=89), "89 min ago"),
        (dt.timedelta(hours=26), "26 h ago"),
        (dt.timedelta(days=1, hours=12), "2 days ago"),
        (dt.timedelta(days=-3), "in 3 days"),
        (dt.timedelta(hours=-5), "in 5 h"),
        (dt.timedelta(days=400), "on 2 Nov 2025"),
    ],
)
def test_a_time_reads_as_its_distance_from_now(before, said) -> None:
    assert ago(NOW - before, NOW) == said


def test_a_time_is_shown_with_its_exact_iso_time_on_hover_and_anything_else_as_it_is() -> None:
    shown = when("2026-12-07T11:57:00.5Z", NOW)
    exact = "2026-12-07T11:57:00.500000+00:00"
    assert shown == f'<time datetime="{exact}" title="{exact}">3 min ago</time>'
    assert when("2026-12-07 11:00:00+01:00", NOW).endswith(">2 h ago</time>")  # another zone, said in UTC
    for other in ("2026-11", "2026-12-07", "3dc3122c-394b-5148-a4fe-6ac78de800e9", 42, None):
        assert when(other, NOW) == other
