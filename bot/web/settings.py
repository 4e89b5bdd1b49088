"""The ``[web]`` section: where the daemon listens, the token that guards it, and the
public address that WebSub hubs call back.

Imports pydantic and the standard library only: the config is validated without loading
the web stack.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator

from bot.policy import is_loopback
from bot.settings import Section

DEFAULT_PORT = 8470
# A token shorter than this is easy to guess; `openssl rand -hex 32` makes a good one.
SHORTEST_TOKEN = 16
_HOST_PORT = re.compile(r"^(?:\[(?P<ipv6>[^\]]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>\d{1,5}))?$")


def parse_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:8470"``, ``"[::1]:8470"``, ``"0.0.0.0"`` (port 8470): host and port;
    ``ValueError`` in words for anything else."""
    match = _HOST_PORT.match(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not host:port, such as '127.0.0.1:8470' or '[::1]:8470'")
    host = match["ipv6"] or match["host"]
    if host.isdigit():
        raise ValueError(f"{value!r} is not host:port: for that port, write '127.0.0.1:{host}'")
    if match["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in [...] is not an IPv6 address") from None
    port = int(match["port"]) if match["port"] else DEFAULT_PORT
    if not 0 <= port <= 65535:  # 0: the system chooses (tests)
        raise ValueError(f"the port must be a number from 1 to 65535, not {port}")
    return host, port


class WebSettings(Section):
    """``[web]``: absent, the daemon serves nothing."""

    listen: str = f"127.0.0.1:{DEFAULT_PORT}"
    # Needed for every action, and to read anything when ``listen`` is not loopback.
    token: SecretStr | None = None
    # Where hubs reach this server (behind a proxy: the proxy's https address): with it,
    # feeds that advertise a WebSub hub are pushed instead of waiting for the next poll.
    public_url: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value.strip()

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < SHORTEST_TOKEN:
            raise ValueError(
                f"too short: at least {SHORTEST_TOKEN} characters"
                " (`openssl rand -hex 32` makes one)"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http:// or https:// URL, such as 'https://relay.example.org'"
            )
        if parts.query or parts.fragment:
            raise ValueError("must be a plain address, without ?query or #fragment")
        return value.strip().rstrip("/")

    def unguarded(self) -> str | None:
        """Why this section is refused although each key is valid: a server that other
        machines can reach, with no token to guard it (reported as ``web.token``)."""
        if self.token is None and not is_loopback(self.address[0]):
            return (
                f"required when listen ({self.listen}) can be reached from other machines:"
                ' set token = "${FEEDRELAY_WEB_TOKEN}", or listen on 127.0.0.1'
            )
        return None

    @property
    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen)

    @property
    def open_to_read(self) -> bool:
        """Pages and ``GET /api/...`` need no token: only this machine can reach them."""
        return is_loopback(self.address[0])
