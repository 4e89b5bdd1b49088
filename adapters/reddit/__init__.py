"""Reddit: ``spec`` (what the core needs, no platform library) and ``client`` (praw)."""
