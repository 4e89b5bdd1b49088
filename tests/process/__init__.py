"""FeedRelay as real processes: daemons, crashes, PostgreSQL, journeys in a terminal (slow)."""
