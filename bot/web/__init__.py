"""The daemon's web face (``[web]``): health, metrics, the status page with its actions,
the JSON API and WebSub callbacks, served by ``feedrelay run`` beside its scheduler.

Only ``settings`` (the config section, pydantic alone) is imported by the rest of FeedRelay;
Starlette, uvicorn, Jinja2 and prometheus-client load when a daemon with ``[web]`` starts
(``server.serve``), never for another command.
"""
