"""Mastodon: ``spec`` (what the core needs, no platform library), ``client`` (Mastodon.py)."""
