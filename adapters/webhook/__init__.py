"""Webhooks: ``spec`` (what the core needs, no platform library), ``client`` (the signed POST)."""
