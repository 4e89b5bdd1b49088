"""The echo platform: each post goes to an HTTP endpoint as JSON, and the answer's ``id``
and ``url`` are recorded. A complete FeedRelay platform, small enough to read at once.

FeedRelay calls ``plugin`` with its plugin surface (``api``, FeedRelay's
``adapters.api``) and takes the spec it returns. Nothing here imports FeedRelay by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import SecretStr

API = 1  # the plugin surface this platform is written for


def plugin(api: Any) -> Any:
    """The echo platform's spec, built on FeedRelay's plugin surface ``api``."""

    class EchoTarget(api.TargetSettings):
        platform: Literal["echo"]
        url: str  # where posts go (POST), and are looked up (GET ?link=...)
        token: SecretStr
        template: api.TemplateStr = "{title} {url}"

    @dataclass(frozen=True, kw_only=True)
    class EchoOptions:
        template: str

    limits = api.Limits(max_text=500)

    def options(settings: Any) -> EchoOptions:
        return EchoOptions(template=EchoTarget.of(settings).template)

    def render(entry: Any, options: EchoOptions, limits: Any) -> Any:
        values, _ = api.template_values(entry)
        limit = api.required_limit(limits, "max_text")
        fitted = dict(values, title="")
        fitted["title"] = api.fit(
            values["title"],
            lambda title: len(api.fill(options.template, {**fitted, "title": title})),
            limit,
        )
        text = api.fill(options.template, fitted)
        return api.Rendered(
            post=api.Post(text=text, link=entry.link, title=fitted["title"]),
            length=len(text),
            limit=limit,
            budget=f"text {len(text)}/{limit}",
            skip_reason=None if text.strip() else api.nothing_to_post("text"),
        )

    def connect(name: str, settings: Any, session: Any, memory: Any) -> Any:
        from feedrelay_echo.client import EchoAdapter  # the client only when a target opens

        target = EchoTarget.of(settings)
        return EchoAdapter(
            api,
            target=name,
            url=target.url,
            token=target.token.get_secret_value(),
            limits=limits,
            session=session,
        )

    credentials = (api.Credential(key="token", env="ECHO_TOKEN", what="the endpoint's token"),)

    def target_lines(answers: Mapping[str, str]) -> list[str]:
        return [f"url = {api.toml_string(answers['url'])}", *api.credential_lines(credentials)]

    def check_token(auth: Any) -> Any:
        target = auth.target(needed=True)
        auth.credential(target, "token", option="the variable")  # says what to set if unset
        return api.AuthResult(open=lambda: connect(target.name, target.settings, None, None))

    return api.PlatformSpec(
        name="echo",
        api=API,
        settings_model=EchoTarget,
        limits=limits,
        options=options,
        wording=("template",),  # what a route ([feeds.FEED.to.TARGET]) may say differently
        render=render,
        connect=connect,
        display_name="Echo",
        questions=(
            api.Question(
                key="url",
                option="--echo-url",
                prompt="Endpoint (http://... or https://...)",
                help="Where posts go (with echo).",
                parse=_endpoint,
                metavar="URL",
            ),
        ),
        target_lines=target_lines,
        credentials=credentials,
        auth=api.AuthFlow(
            help="Check the endpoint's token.\n\nLogs in with ECHO_TOKEN and names the account.",
            next_step="checks the token",
            run=check_token,
        ),
    )


def _endpoint(text: str) -> str:
    url = text.strip()
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r} is not an http(s) address")
    return url
