"""FeedRelay: announce every new blog post on X, Reddit, Tumblr, Bluesky, Mastodon and
webhooks, exactly once."""

__version__ = "0.1.0"
