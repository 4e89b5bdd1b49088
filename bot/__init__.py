"""FeedRelay: announce every new blog post on X, Reddit and Tumblr, exactly once."""

__version__ = "0.1.0"
