"""FeedRelay: announce every new blog post on every platform it is given, exactly once."""

__version__ = "0.1.0"
