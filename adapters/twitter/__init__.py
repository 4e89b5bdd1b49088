"""X (Twitter): ``spec`` (what the core needs, no platform library) and ``client`` (tweepy)."""
