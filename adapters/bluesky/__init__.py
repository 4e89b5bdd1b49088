"""Bluesky: ``spec`` (what the core needs, no platform library), ``client`` (the AT Protocol,
over MarshalX's ``atproto`` SDK)."""
