"""Currency codes of a test's own: fin-hub sums every balance and cost of a currency, so a test on the shared
mesh isolates itself with a made-up code no other test of the session holds."""

from __future__ import annotations

import itertools
import string
import threading

# Drawn from a counter, not `random`: pytest-randomly reseeds `random` before every test, so two tests drawing
# their first code got the same one; and 676 random codes collide by the birthday bound (~2 % at 5 draws).
_CODES = ("".join(c) for c in itertools.product("QXZ", string.ascii_uppercase, string.ascii_uppercase))
_LOCK = threading.Lock()


def unique_currency() -> str:
    """A three-letter code (ISO 4217's shape) handed out once per test process."""
    with _LOCK:
        return next(_CODES)
