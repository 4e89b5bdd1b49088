"""Crash points for the crash tests: ``FEEDRELAY_FAILPOINT=NAME`` kills the process there.

For testing only. Unless the variable names a point, ``failpoint`` does nothing. The points:

- ``after-claim``: a delivery is committed as ``sending``; its request is not made yet.
- ``after-response``: the platform answered; the outcome is not recorded yet.
- ``mid-fetch``: a feed's body has arrived; nothing of it is recorded yet.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "FEEDRELAY_FAILPOINT"
POINTS = ("after-claim", "after-response", "mid-fetch")


def failpoint(name: str) -> None:
    """Die at once, as ``kill -9`` would, if ``$FEEDRELAY_FAILPOINT`` names this point."""
    if os.environ.get(ENV_VAR) == name:
        os.kill(os.getpid(), signal.SIGKILL)
