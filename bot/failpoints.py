"""Crash points for the crash tests: ``FEEDRELAY_FAILPOINT=NAME`` kills the process there.

For testing only. Unless the variable names a point, ``failpoint`` does nothing. The points:

- ``after-claim``: a delivery is committed as ``sending``; its request is not made yet.
- ``after-response``: the platform answered; the outcome is not recorded yet.
- ``mid-fetch``: a feed's body has arrived; nothing of it is recorded yet.
- ``in-parse-worker``: a worker process (``bot.feeds.workers``) is about to parse a feed
  (the worker dies, not the daemon);
  ``in-parse-worker:NAME`` kills only the worker parsing feed NAME.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "FEEDRELAY_FAILPOINT"
POINTS = ("after-claim", "after-response", "mid-fetch")  # where the daemon itself dies


def failpoint(name: str, *, subject: str | None = None) -> None:
    """Die at once, as ``kill -9`` would, if ``$FEEDRELAY_FAILPOINT`` names this point
    (``NAME``, or ``NAME:SUBJECT`` for this point reached for one ``subject`` only)."""
    if os.environ.get(ENV_VAR) in (name, f"{name}:{subject}"):
        os.kill(os.getpid(), signal.SIGKILL)
