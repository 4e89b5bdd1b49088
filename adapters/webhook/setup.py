"""What ``feedrelay init`` asks and writes for a webhook target: the receiver's URL, and
the signing secret read from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping

from adapters.setup import Credential, Question, credential_lines, toml_string

MAKE_SECRET = (
    "python3 -c \"import base64, os; print('whsec_' + base64.b64encode(os.urandom(24)).decode())\""
)

CREDENTIALS = (
    Credential(
        key="secret",
        env="WEBHOOK_SECRET",
        what="the webhook's signing secret (whsec_ + base64)",
        comment=f"the signing secret the receiver checks; make one: {MAKE_SECRET}",
    ),
)

_URL = re.compile(r"^https?://[^/\s?#]+[^\s]*$")


def webhook_url(text: str) -> str:
    """The receiver's URL: ``http://`` or ``https://``, as written."""
    value = text.strip()
    if not _URL.match(value):
        raise ValueError(
            f"{value!r} is not a webhook URL: give the receiver's full address, https://host/path"
        )
    return value


QUESTIONS = (
    Question(
        key="url",
        option="--webhook-url",
        prompt="Webhook URL (where each new entry is POSTed)",
        help="The receiver's URL (with webhook).",
        parse=webhook_url,
        metavar="URL",
    ),
)


def target_lines(answers: Mapping[str, str]) -> list[str]:
    """The ``[targets.webhook]`` table ``init`` writes for the URL it was given."""
    return [
        f"url = {toml_string(answers.get('url', ''))}",
        *credential_lines(CREDENTIALS),
        '# headers = { Authorization = "Bearer ${HOOK_TOKEN}" }   # sent with every request',
    ]
