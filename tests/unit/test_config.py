"""Config loading: names, defaults, secrets, every problem at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import adapters
from bot.config import config_path, load_config, parse_duration, template_fields
from bot.errors import ConfigError
from tests.conftest import REPO

# How messages list the installed platforms (FeedRelay's own, then plugins, by name).
INSTALLED = ", ".join(repr(name) for name in adapters.platforms())

X = """
[targets.x]
platform = "twitter"
consumer_key = "${CK}"
consumer_secret = "${CS}"
access_token = "${AT}"
access_token_secret = "${ATS}"
"""
ENV = {"CK": "ck-value", "CS": "cs-value-secret", "AT": "at-value", "ATS": "ats-value-secret"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feedrelay.toml"
    path.write_text(text)
    return path


def test_minimal_config_gets_its_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n' + X)
    config = load_config(path, environ=ENV)
    assert config.bot.poll_interval == timedelta(minutes=10)
    assert config.database_path == tmp_path.resolve() / "feedrelay.sqlite"
    assert config.feeds["blog"].url == (tmp_path / "feed.xml").resolve().as_uri()
    assert config.feeds["blog"].backfill == 0
    target = config.targets["x"]
    assert target.platform == "twitter"
    assert target.credentials()["consumer_secret"] == "cs-value-secret"
    assert "cs-value-secret" not in repr(config)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("0s", 0)],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["soon", "-5m", "m10", True, -1])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("bare", [30, "30", 0, 1.5])
def test_a_duration_without_a_unit_is_refused_with_the_accepted_forms(bare: object) -> None:
    with pytest.raises(ValueError, match=r"has no unit: write '.*s', '.*m', '2h' or '1d'"):
        parse_duration(bare)


def test_a_bare_number_in_the_config_names_the_forms(tmp_path: Path) -> None:
    path = _write(
        tmp_path, '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n' + X + "min_interval = 30\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    assert (
        "targets.x.min_interval: 30 has no unit: write '30s', '30m', '2h' or '1d' (line 11)"
        in raised.value.problems
    )


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{titel}", "unknown field {titel}"),
        ("{title.upper}", "not allowed"),
        ("{url[0]}", "not allowed"),
        ("{0}", "not allowed"),
        ("{}", "not allowed"),
        ("{title!r}", "format spec or conversion"),
        ("{title:>10}", "format spec or conversion"),
        ("{title", "malformed template"),
    ],
)
def test_templates_are_refused_unless_plain_known_fields(template: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("{", r"\{")):
        template_fields(template)


def test_template_with_literal_braces_is_fine() -> None:
    assert template_fields("{{not a field}} {title}") == ["title"]


def test_every_problem_is_reported_with_path_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[bot]\npoll_interval = "10q"\ncolour = "blue"\n\n'
        '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x", "ghost"]\nbackfill = -1\n'
        + X
        + 'template = "{titel}"\n\n[targets.r]\nplatform = "myspace"\n',
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    problems = raised.value.problems
    assert (
        "bot.poll_interval: '10q' is not a duration such as '90s', '10m', '2h' or '1d' (line 2)"
        in problems
    )
    assert "bot.colour: unknown key (line 3)" in problems
    assert any(p.startswith("feeds.blog.backfill:") and "(line 8)" in p for p in problems)
    assert "feeds.blog.targets.1: no target named 'ghost' (line 7)" in problems
    assert any(p.startswith("targets.x.template: unknown field {titel}") for p in problems)
    assert any(p.startswith("targets.r.platform: must be one of") for p in problems)


def test_missing_environment_variable_names_key_and_variable(tmp_path: Path) -> None:
    path = _write(tmp_path, '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n' + X)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={"CK": "1", "AT": "2", "ATS": "3"})
    assert (
        "targets.x.consumer_secret: environment variable CS is not set (line 8)"
        in raised.value.problems
    )


def test_missing_secrets_are_warnings_in_dry_run(tmp_path: Path) -> None:
    path = _write(tmp_path, '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n' + X)
    config = load_config(path, environ={}, allow_missing_secrets=True)
    assert len(config.warnings) == 4


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[bot\n")
    with pytest.raises(ConfigError, match="line 1"):
        load_config(path, environ={})


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    path = _write(
        tmp_path, '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n' + X + "max_hashtags = -3\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    for secret in ENV.values():
        assert secret not in str(raised.value)


def test_reddit_needs_a_way_to_log_in(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[feeds.blog]\nurl = "feed.xml"\ntargets = ["r"]\n\n[targets.r]\nplatform = "reddit"\n'
        'subreddit = "r/python"\nclient_id = "a"\nclient_secret = "b"\n',
    )
    with pytest.raises(ConfigError, match="needs either refresh_token, or username and password"):
        load_config(path, environ={})


def test_config_path_precedence() -> None:
    assert config_path("a.toml", {"FEEDRELAY_CONFIG": "b.toml"}) == Path("a.toml")
    assert config_path(None, {"FEEDRELAY_CONFIG": "b.toml"}) == Path("b.toml")
    assert config_path(None, {}) == Path("feedrelay.toml")


def test_example_config_is_valid_and_every_key_is_documented() -> None:
    import tomllib

    repo = REPO
    example = repo / "config.example.toml"
    config = load_config(example, environ={}, allow_missing_secrets=True)
    assert set(config.targets) == {"x", "reddit", "tumblr"}
    readme = (repo / "README.md").read_text()
    raw = tomllib.loads(example.read_text())
    documented_keys = {
        key
        for section in ("bot", "feeds", "targets", "notify")
        for table in ([raw[section]] if section in ("bot", "notify") else raw[section].values())
        for key in table
    }
    for model in (config.bot, config.notify, *config.feeds.values(), *config.targets.values()):
        documented_keys |= set(type(model).model_fields)
    for key in sorted(documented_keys):
        assert f"`{key}`" in readme, f"README's configuration reference misses `{key}`"


def test_unknown_keys_and_target_names_suggest_the_nearest(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[bots]\n\n[feeds.blog]\nurl = "feed.xml"\ntargets = ["X"]\nbackfil = 1\n'
        + X
        + 'min_intervall = "1m"\n\n[targets.t]\nplatform = "tumbler"\n',
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    problems = raised.value.problems
    assert "bots: unknown section (did you mean bot?) (line 1)" in problems
    assert "feeds.blog.backfil: unknown key (did you mean backfill?) (line 6)" in problems
    assert "feeds.blog.targets.0: no target named 'X' (did you mean 'x'?) (line 5)" in problems
    assert any(
        p.startswith("targets.x.min_intervall: unknown key (did you mean min_interval?)")
        for p in problems
    )
    assert any("not 'tumbler' (did you mean 'tumblr'?)" in p for p in problems)


def test_a_name_far_from_every_choice_gets_no_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path, '[feeds.blog]\nurl = "feed.xml"\ntargets = ["mastodon"]\n' + X)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    assert "feeds.blog.targets.0: no target named 'mastodon' (line 3)" in raised.value.problems


def test_dollar_name_without_braces_is_a_notice(tmp_path: Path) -> None:
    text = X.replace('"${CK}"', '"$X_KEY"')
    path = _write(tmp_path, '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n' + text)
    config = load_config(path, environ=ENV)
    assert config.notices == (
        'targets.x.consumer_key: "$X_KEY" looks like an environment variable: write "${X_KEY}"',
    )
    assert (
        load_config(
            _write(tmp_path, '[feeds.blog]\nurl = "f.xml"\ntargets = ["x"]\n' + X), environ=ENV
        ).notices
        == ()
    )


def test_the_environment_can_put_the_store_elsewhere(tmp_path: Path) -> None:
    path = _write(tmp_path, '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n' + X)
    elsewhere = tmp_path / "state" / "feedrelay.sqlite"
    config = load_config(path, environ={**ENV, "FEEDRELAY_DATABASE": str(elsewhere)})
    assert config.database_path == elsewhere


def test_notify_urls_are_secrets(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n'
        + X
        + '\n[notify]\nurls = ["${NTFY}", "mailto://me:pw-12345@example.org"]\n',
    )
    config = load_config(path, environ={**ENV, "NTFY": "ntfys://tok-abcdef@ntfy.sh/feedrelay"})
    assert config.notify.urls[0].get_secret_value().startswith("ntfys://tok-abcdef")
    assert "tok-abcdef" not in repr(config) and "pw-12345" not in repr(config)
    assert "ntfys://tok-abcdef@ntfy.sh/feedrelay" in [s.get_secret_value() for s in config.secrets]


# -- ranges: every duration and number is checked at load, with the key, line and range ---
FEED = '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n'


@pytest.mark.parametrize(
    ("bot", "target", "problem"),
    [
        ('poll_interval = "999999999d"', "", "bot.poll_interval: must be between 1m and 7d"),
        ('poll_interval = "1000000000.5d"', "", "bot.poll_interval: must be between 1m and 7d"),
        ('poll_interval = "30s"', "", "bot.poll_interval: must be between 1m and 7d, not 30s"),
        ('fetch_deadline = "0s"', "", "bot.fetch_deadline: must be between 1s and 10m, not 0s"),
        ('claim_lease = "2d"', "", "bot.claim_lease: must be between 1s and 1d, not 2d"),
        ("max_attempts = 0", "", "bot.max_attempts: must be between 1 and 100, not 0"),
        ("max_image_bytes = 99999999999", "", "bot.max_image_bytes: must be between 1 and"),
        ("fetch_workers = 100000", "", "bot.fetch_workers: must be between 1 and 256"),
        ("", 'delay = "999999999d"', "targets.x.delay: must be between 0s and 30d"),
        ("", 'min_interval = "31d"', "targets.x.min_interval: must be between 0s and 30d"),
        ("", 'jitter = "999999999d"', "targets.x.jitter: must be between 0s and 1d"),
        ("", "max_per_day = 99999999999999999999", "targets.x.max_per_day: must be between 0"),
        ("", "max_hashtags = -3", "targets.x.max_hashtags: must be between 0 and 100, not -3"),
        ("", "monthly_budget = nan", "targets.x.monthly_budget: must be between 0 and"),
        ("", "price_per_post = inf", "targets.x.price_per_post: must be between 0 and 1,000"),
        ("", "monthly_budget = -1.5", "targets.x.monthly_budget: must be between 0 and"),
    ],
)
def test_a_value_out_of_its_range_names_key_line_and_range(
    tmp_path: Path, bot: str, target: str, problem: str
) -> None:
    path = _write(tmp_path, f"[bot]\n{bot}\n\n{FEED}{X}{target}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    (found,) = [p for p in raised.value.problems if p.startswith(problem)]
    line = 2 if bot else 14
    assert found.endswith(f"(line {line})"), found


@pytest.mark.parametrize(
    ("feed", "problem"),
    [
        ("backfill = 1e300", "feeds.blog.backfill: must be between 0 and 10,000"),
        ("backfill = inf", "feeds.blog.backfill: must be between 0 and 10,000"),
        ("max_new_per_poll = 99999999999999999999", "feeds.blog.max_new_per_poll: must be betw"),
        ('poll_interval = "8d"', "feeds.blog.poll_interval: must be between 1m and 7d, not 8d"),
        ('max_age = "3651d"', "feeds.blog.max_age: must be between 0s and 3650d"),
    ],
)
def test_a_feed_value_out_of_its_range_is_refused(tmp_path: Path, feed: str, problem: str) -> None:
    path = _write(tmp_path, f"{FEED}{feed}\n{X}")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    assert any(p.startswith(problem) and p.endswith("(line 4)") for p in raised.value.problems)


def test_the_ends_of_each_range_are_accepted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[bot]\npoll_interval = "7d"\nfetch_deadline = "10m"\nclaim_lease = "1s"\n'
        "max_attempts = 100\n\n"
        + FEED
        + 'max_age = "3650d"\nbackfill = 10000\n'
        + X
        + 'delay = "30d"\nmin_interval = "30d"\njitter = "1d"\nmax_per_day = 100000\n',
    )
    config = load_config(path, environ=ENV)
    assert config.bot.poll_interval == timedelta(days=7)
    assert config.feeds["blog"].max_age == timedelta(days=3650)
    assert config.targets["x"].delay == timedelta(days=30)


def test_no_duration_is_longer_than_ten_years() -> None:
    assert parse_duration("3650d") == timedelta(days=3650)
    assert parse_duration("3649d23h60m") == timedelta(days=3650)
    for huge in ("3650d1ms", "999999999d", "1000000000.5d", "9" * 400 + "s", "1d" * 3651):
        with pytest.raises(ValueError, match="too long: the longest duration is 3650d"):
            parse_duration(huge)
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(float("nan"))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("3", f"must be one of {INSTALLED} (a string)"),
        ("[1, 2]", f"must be one of {INSTALLED} (a string)"),
        ("{ a = 1 }", f"must be one of {INSTALLED} (a string)"),
        ("true", f"must be one of {INSTALLED} (a string)"),
        ('"twiter"', f"must be one of {INSTALLED}, not 'twiter' (did you"),
    ],
)
def test_a_platform_of_any_type_gets_words(tmp_path: Path, value: str, problem: str) -> None:
    path = _write(tmp_path, f"{FEED}\n[targets.x]\nplatform = {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    assert any(p.startswith(f"targets.x.platform: {problem}") for p in raised.value.problems)


def test_a_target_without_platform_says_it_is_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, f'{FEED}\n[targets.x]\ntemplate = "{{title}}"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    assert (
        f"targets.x.platform: required key is missing (one of {INSTALLED})"
        " (line 5)" in raised.value.problems
    )


def test_a_number_too_long_for_toml_is_a_config_error(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{FEED}backfill = {'9' * 5000}\n{X}")
    with pytest.raises(ConfigError, match="not valid TOML: a number too long to read"):
        load_config(path, environ=ENV)


def test_a_nul_character_in_a_path_is_a_config_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[bot]\ndatabase = "a\\u0000b"\n[feeds.blog]\nurl = "f\\u0000"\ntargets = ["x"]\n' + X,
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    assert "bot.database: may not contain a NUL character (\\u0000) (line 2)" in (
        raised.value.problems
    )
    assert any(p.startswith("feeds.blog.url: may not contain a NUL") for p in raised.value.problems)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u:pw-secret@host:notaport/db", "the port must be a number from 1 to 65535"),
        ("postgresql://u:pw-secret@host:99999/db", "the port must be a number from 1 to 65535"),
        ("postgresql://u:pw-secret@host:0/db", "the port must be a number from 1 to 65535"),
        ("postgres://u@host:5432:1/db", "the port must be a number from 1 to 65535"),
        ("postgresql://u:pw@secret@host/db", "the host is malformed"),
        ("postgresql://u@ho st/db", "the host is malformed"),
        ("postgresql://u:pw-secret@[::1/db", "the host is malformed"),
        ("postgresql://u@[not-v6]:5432/db", "the host in [...] is not an IPv6 address"),
    ],
)
def test_a_malformed_postgresql_url_is_a_config_error(
    tmp_path: Path, url: str, problem: str
) -> None:
    path = _write(tmp_path, f'[bot]\ndatabase = "{url}"\n\n{FEED}{X}')
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    (found,) = raised.value.problems
    assert found.startswith(f"bot.database: {problem}: write postgresql://USER:PASSWORD@HOST")
    assert found.endswith("(line 2)")
    assert "secret" not in found  # never the URL: it may hold the password
    from_env = _write(tmp_path, FEED + X)
    with pytest.raises(ConfigError) as raised:
        load_config(from_env, environ={**ENV, "FEEDRELAY_DATABASE": url})
    assert raised.value.problems[0].startswith(f"$FEEDRELAY_DATABASE: {problem}")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://feedrelay:${PW}@db:5432/feedrelay",
        "postgresql://u@127.0.0.1/db",
        "postgresql://u@[::1]:5432/db",
        "postgresql://postgres:@/postgres?host=/tmp/pg",
        "postgresql+psycopg://u@my_db.example.org:5433/x?sslmode=require",
    ],
)
def test_good_postgresql_urls_are_taken(tmp_path: Path, url: str) -> None:
    path = _write(tmp_path, f'[bot]\ndatabase = "{url}"\n\n{FEED}{X}')
    config = load_config(path, environ={**ENV, "PW": "p@ss/w:rd"})
    assert config.database_url is not None


# -- [web] -----------------------------------------------------------------------------
WEB_BASE = '[feeds.blog]\nurl = "feed.xml"\ntargets = ["x"]\n' + X


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("127.0.0.1:8470", ("127.0.0.1", 8470)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost", ("localhost", 8470)),
    ],
)
def test_web_listens_on_loopback_without_a_token(
    tmp_path: Path, listen: str, address: tuple[str, int]
) -> None:
    config = load_config(_write(tmp_path, WEB_BASE + f'[web]\nlisten = "{listen}"\n'), environ=ENV)
    assert config.web is not None
    assert config.web.address == address
    assert config.web.open_to_read and config.web.token is None


def test_no_web_table_serves_nothing(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, WEB_BASE), environ=ENV).web is None


def test_web_on_every_address_without_a_token_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, WEB_BASE + '[web]\nlisten = "0.0.0.0:8470"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    (problem,) = raised.value.problems
    assert problem.startswith(
        "web.token: required when listen (0.0.0.0:8470) can be reached from other machines"
    )


def test_web_on_every_address_with_a_token_reads_only_with_it(tmp_path: Path) -> None:
    text = WEB_BASE + '[web]\nlisten = "0.0.0.0:8470"\ntoken = "${WEB_TOKEN}"\n'
    token = "a-long-enough-token-42"
    config = load_config(_write(tmp_path, text), environ={**ENV, "WEB_TOKEN": token})
    assert config.web is not None and not config.web.open_to_read
    assert token not in repr(config)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('listen = "8470"', "web.listen: '8470' is not host:port"),
        ('listen = "[nope]:1"', "web.listen: 'nope' in [...] is not an IPv6 address"),
        ('listen = "127.0.0.1:70000"', "web.listen: the port must be a number from 1 to 65535"),
        ('token = "short"', "web.token: too short: at least 16 characters"),
        ('public_url = "relay.example.org"', "web.public_url: must be an http:// or https:// URL"),
        ('public_url = "https://r.example.org/?a=1"', "web.public_url: must be a plain address"),
        ("colour = 1", "web.colour: unknown key"),
    ],
)
def test_a_wrong_web_key_is_named(tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, WEB_BASE + "[web]\n" + lines + "\n"), environ=ENV)
    assert any(problem.startswith(message) for problem in raised.value.problems), raised.value
