"""A daemon whose lanes tick once an hour: ``python -m tests.hourly_lanes CONFIG``.

What ``feedrelay run`` does (the same app, runner and scheduler), with the lane tick set
to an hour: once its lanes have run at start, whatever it posts within a test's minutes it
posts because something woke them (``Store.listen_for_work``), not because of the tick.
It logs as ``feedrelay run`` does (each post at INFO), to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

from bot.app import make_app
from bot.config import load_config
from bot.scheduling import run_daemon

TICK = timedelta(hours=1)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("bot", "adapters"):
        logging.getLogger(name).setLevel(logging.INFO)
    config = load_config(Path(sys.argv[1]), environ=os.environ)
    with make_app(config) as app, app.running("daemon"):
        app.start_polling()
        run_daemon(app, dispatch_tick=TICK)


if __name__ == "__main__":
    main()
